// How a raftq node process is started: the V8 flags `raftq dev`, `raftq bench --spawn`,
// jepsen-lite, the multi-process tests and the Docker image give `node` before the raftq bin.
//
// --single-threaded-gc: V8's parallel scavenges and concurrent marking wake helper threads on the
// other CPUs. Where several nodes share a few CPUs (a dev box, a compose host, these benchmarks),
// those helpers compete with the other nodes' event loops, and every hop of a request waits for a
// CPU. At 1,000 jobs/s on 2 vCPUs, six A/B pairs of `raftq bench --scenario latency`: submit →
// handler start p99 9.0-12.2 against 12.6-17.5 ms, max 19-29 against 25-43 ms; `process` and
// `enqueue-batch` unchanged (docs/perf/README.md, "Session 8"). On a machine of many cores that
// runs one node, leave it out: there the helpers shorten pauses at no one's expense. Only the
// command line sets it: NODE_OPTIONS refuses it, and v8.setFlagsFromString at run time crashes V8.

export const NODE_V8_FLAGS: readonly string[] = ['--single-threaded-gc'];
