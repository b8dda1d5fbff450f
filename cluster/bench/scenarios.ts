// The scenarios of `raftq bench`, each driving the cluster through the public SDK (Client,
// Worker) exactly as an application would. Every figure is measured in this process with
// performance.now(); node RSS comes from /proc (spawned nodes) or /metrics.

import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Progress } from '../../src/cli/progress.js';
import { Client } from '../../src/client/client.js';
import { Worker } from '../../src/client/worker.js';
import { Histogram, round3, type Percentiles } from './histogram.js';
import { closedLoop, median, openLoop, payloadMaker, timeCap, withStallWatchdog, type ClosedLoopResult } from './load.js';
import type { LocalCluster, ProcCounters } from './spawn.js';

export const SCENARIOS = ['enqueue', 'enqueue-batch', 'process', 'latency', 'backlog', 'failover', 'memory', 'snapshot', 'catchup'] as const;
export type Scenario = (typeof SCENARIOS)[number];

/** A drain or load that makes no progress for this long fails the run instead of hanging. */
export const STALL_MS_MAX = 60_000;
/** Prefill: jobs per submitMany request and requests in flight. */
export const PREFILL_BATCH = 1000;
export const PREFILL_INFLIGHT = 4;
/** backlog: the longest wait for the nodes to go quiet after the prefill before measuring anyway. */
export const SETTLE_MS_MAX = 60_000;

/** The cluster a scenario runs against: client addresses, and the processes when we spawned them. */
export interface Target {
  nodes: string[];
  cluster: LocalCluster | null;
}

/** Hands out a cluster for one run (a fresh one per run when spawning) and takes it back. */
export interface TargetSource {
  acquire(label: string): Promise<Target>;
  release(target: Target): Promise<void>;
  readonly spawned: boolean;
}

export interface ScenarioOptions {
  jobs: number;
  concurrency: number;
  batch: number;
  rate: number;
  durationS: number;
  backlogs: number[];
  kills: number;
  payloadBytes: number;
  memoryLevels: number[];
  /** Caps each measured phase of enqueue, enqueue-batch and process (0: run all the jobs). */
  maxSeconds: number;
  /** Jobs through each client path before the measured phase (see warmUpPaths); 0: measure cold. */
  warmupJobs: number;
  /** snapshot: jobs queued before the leader is asked for a snapshot; catchup: jobs submitted while a follower is down. */
  snapshotJobs: number;
}

export interface BenchResult {
  scenario: Scenario;
  nodes: number;
  jobs: number;
  concurrency: number;
  seconds: number;
  jobsPerSec: number;
  latencyMs: Percentiles;
  rssMb: Record<string, number | null>;
  /** What latencyMs measures in this scenario. */
  latencyOf: string;
  payloadBytes: number;
  [extra: string]: unknown;
}

type Runner = (source: TargetSource, opts: ScenarioOptions) => Promise<BenchResult>;

export const RUNNERS: Record<Scenario, Runner> = {
  enqueue: runEnqueue,
  'enqueue-batch': runEnqueueBatch,
  process: runProcess,
  latency: runLatency,
  backlog: runBacklog,
  failover: runFailover,
  memory: runMemory,
  snapshot: runSnapshot,
  catchup: runCatchup,
};

/** snapshot: one probe submit every this many ms, before, through and after the snapshot. */
const SNAPSHOT_PROBE_INTERVAL_MS = 5;
/** snapshot: probing before the snapshot is asked for, and after it is taken. */
const SNAPSHOT_PROBE_MARGIN_MS = 1_500;

function queueName(scenario: string): string {
  return `bench-${scenario}-${randomUUID().slice(0, 8)}`;
}

function base(scenario: Scenario, target: Target, opts: ScenarioOptions, fields: { jobs: number; concurrency: number; seconds: number; latency: Percentiles; latencyOf: string }): BenchResult {
  return {
    scenario,
    nodes: target.nodes.length,
    jobs: fields.jobs,
    concurrency: fields.concurrency,
    seconds: round3(fields.seconds),
    jobsPerSec: Math.round(fields.jobs / fields.seconds),
    latencyMs: fields.latency,
    rssMb: {},
    latencyOf: fields.latencyOf,
    payloadBytes: opts.payloadBytes,
  };
}

/**
 * Runs `body` on an acquired target, fills in RSS at the end, and always releases the target.
 * With `warmUpWith`, the cluster is warmed up first (warmUpPaths) and the result says so.
 */
async function onTarget(source: TargetSource, label: string, body: (target: Target) => Promise<BenchResult>, warmUpWith?: ScenarioOptions): Promise<BenchResult> {
  const target = await source.acquire(label);
  try {
    const warmup = warmUpWith === undefined ? undefined : await warmUpPaths(target, warmUpWith);
    const result = await body(target);
    if (warmup !== undefined) result['warmup'] = warmup;
    result.rssMb = await readRssMb(target);
    if (target.cluster) result['leader'] = await target.cluster.leader();
    return result;
  } finally {
    await source.release(target);
  }
}

// ------------------------------------------------------------------ building blocks

export interface JobCost {
  /** CPU time (user + system) per job, microseconds. */
  cpuUs: number;
  /** read/write-family syscalls per job (sockets and files); null for the bench process. */
  readCalls: number | null;
  writeCalls: number | null;
}

/**
 * Per-job cost of a measured phase: each spawned node's CPU time and syscalls (from /proc) and
 * this process's CPU (the SDK side: client and worker). Independent of how busy the machine is,
 * unlike jobs/s, so it shows where a figure comes from even on a shared machine.
 */
export function costMeter(target: Target): { finish(jobs: number): Record<string, JobCost> } {
  const before = target.cluster?.counters() ?? {};
  const clientBefore = process.cpuUsage();
  return {
    finish(jobs: number): Record<string, JobCost> {
      const after = target.cluster?.counters() ?? {};
      const client = process.cpuUsage(clientBefore);
      const out: Record<string, JobCost> = {};
      const per = (x: number): number => Math.round((x / Math.max(1, jobs)) * 100) / 100;
      for (const [id, a] of Object.entries(after)) {
        const b: ProcCounters | null | undefined = before[id];
        if (!a || !b) continue;
        out[id] = { cpuUs: per((a.cpuMs - b.cpuMs) * 1000), readCalls: per(a.readCalls - b.readCalls), writeCalls: per(a.writeCalls - b.writeCalls) };
      }
      out['client'] = { cpuUs: per(client.user + client.system), readCalls: null, writeCalls: null };
      return out;
    },
  };
}

type Payload = ReturnType<typeof payloadMaker>;

/** `jobs` single submits, `concurrency` in flight; job i carries payload(firstIndex + i). */
function submitSingly(client: Client, queue: string, payload: Payload, loop: { jobs: number; concurrency: number; progress: Progress; maxSeconds?: number; firstIndex?: number }): Promise<ClosedLoopResult> {
  const first = loop.firstIndex ?? 0;
  return closedLoop({
    total: loop.jobs,
    concurrency: loop.concurrency,
    maxSeconds: loop.maxSeconds,
    progress: loop.progress,
    op: async (i) => {
      await client.submit(queue, payload(first + i));
      return 1;
    },
  });
}

/** `jobs` submits in submitMany batches of `batch`, `concurrency` batches in flight; payloads as submitSingly. */
function submitInBatches(client: Client, queue: string, payload: Payload, loop: { jobs: number; batch: number; concurrency: number; progress: Progress; maxSeconds?: number; firstIndex?: number }): Promise<ClosedLoopResult> {
  const first = loop.firstIndex ?? 0;
  return closedLoop({
    total: Math.ceil(loop.jobs / loop.batch),
    concurrency: loop.concurrency,
    maxSeconds: loop.maxSeconds,
    progress: loop.progress,
    op: async (b) => {
      const n = Math.min(loop.batch, loop.jobs - b * loop.batch);
      await client.submitMany(queue, Array.from({ length: n }, (_, k) => ({ payload: payload(first + b * loop.batch + k) })));
      return n;
    },
  });
}

/** Warm-up batches: the request shape of the default enqueue-batch run. */
const WARMUP_BATCH = 500;
const WARMUP_BATCHES_IN_FLIGHT = 4;
const WARMUP_SUBMITS_IN_FLIGHT = 64;
const WARMUP_WORKER_CONCURRENCY = 50;

/**
 * Sends `opts.warmupJobs` jobs through the cluster before a measurement, half as single submits
 * and half in batches, and drains them all with a Worker, on a queue of its own that it leaves
 * empty. Then every node and this process run JIT-compiled code: a fresh Node process is up to
 * twice as slow for its first ~100,000 jobs (measured: with 64 single submits in flight, CPU per
 * job on the leader fell from 43 to 19 µs over the first 100,000, and throughput rose from 13k to
 * 23k jobs/s), and a long-running broker is measured warm. `--warmup-jobs 0` measures cold.
 * Then it waits for every spawned node to be idle (`waitQuiet`), as a running broker is between
 * bursts.
 */
async function warmUpPaths(target: Target, opts: ScenarioOptions): Promise<{ jobs: number; seconds: number; settleSeconds: number | null } | null> {
  const jobs = opts.warmupJobs;
  if (jobs <= 0) return null;
  const single = Math.ceil(jobs / 2);
  const batched = jobs - single;
  const queue = queueName('warmup');
  const client = new Client({ nodes: target.nodes });
  const payload = payloadMaker(opts.payloadBytes);
  const startedMs = performance.now();
  const progress = new Progress({ label: 'warm-up: submits', total: jobs, unit: 'jobs' });
  try {
    await submitSingly(client, queue, payload, { jobs: single, concurrency: WARMUP_SUBMITS_IN_FLIGHT, progress });
    await submitInBatches(client, queue, payload, { jobs: batched, batch: WARMUP_BATCH, concurrency: WARMUP_BATCHES_IN_FLIGHT, progress, firstIndex: single });
  } finally {
    progress.finish();
    await client.close();
  }
  await drain(target, queue, jobs, WARMUP_WORKER_CONCURRENCY, 'warm-up: worker');
  const seconds = round3((performance.now() - startedMs) / 1000);
  // The warm-up's aftermath (a snapshot of what it built) is not
  // part of the measured load. Usually the nodes are idle within one window (0.5 s).
  const settleSeconds = target.cluster ? round3(await target.cluster.waitQuiet(SETTLE_MS_MAX)) : null;
  return { jobs, seconds, settleSeconds };
}

/** One warm-up submit (connection, hello, leader discovery) that no figure includes. */
async function warmUp(client: Client, queue: string): Promise<void> {
  await client.submit(queue, { warmup: true });
}

/** Enqueues `count` jobs with submitMany in batches of PREFILL_BATCH, PREFILL_INFLIGHT in flight. */
export async function prefill(target: Target, queue: string, count: number, payloadBytes: number, label = 'prefill', firstIndex = 0): Promise<number> {
  const client = new Client({ nodes: target.nodes });
  const payload = payloadMaker(payloadBytes);
  const progress = new Progress({ label, total: count, unit: 'jobs' });
  try {
    const { seconds } = await submitInBatches(client, queue, payload, { jobs: count, batch: PREFILL_BATCH, concurrency: PREFILL_INFLIGHT, progress, firstIndex });
    return seconds;
  } finally {
    progress.finish();
    await client.close();
  }
}

/**
 * One Worker with `concurrency` slots takes `jobs` jobs from `queue` and acks them; resolves with
 * the drain time (worker start → the last ack committed, or maxSeconds), how many were acked, and
 * the handler start → ack latency.
 */
export async function drain(target: Target, queue: string, jobs: number, concurrency: number, label: string, maxSeconds = 0): Promise<{ seconds: number; completed: number; latency: Histogram; costPerJob: Record<string, JobCost> }> {
  const startedAt = new Map<string, number>();
  const latency = new Histogram();
  let completed = 0;
  let firstError = null as Error | null;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const progress = new Progress({ label, total: jobs, unit: 'jobs' });
  const worker = new Worker({
    nodes: target.nodes,
    queues: queue,
    concurrency,
    handleSignals: false,
    pollWaitMs: 1_000,
    handler: async (job) => {
      startedAt.set(job.id, performance.now());
      return null;
    },
  });
  worker.on('completed', (job) => {
    const t = startedAt.get(job.id);
    startedAt.delete(job.id);
    if (t !== undefined) latency.recordMs(performance.now() - t);
    completed += 1;
    progress.add(1);
    if (completed === jobs) finish();
  });
  worker.on('error', (error) => (firstError ??= error));
  const cap = timeCap(maxSeconds);
  const meter = costMeter(target);
  const startedMs = performance.now();
  worker.start();
  try {
    await withStallWatchdog(Promise.race([finished, cap.expired]), () => completed, STALL_MS_MAX, `${label} (first worker error: ${firstError?.message ?? 'none'})`);
    return { seconds: (performance.now() - startedMs) / 1000, completed, latency, costPerJob: meter.finish(completed) };
  } finally {
    cap.cancel();
    progress.finish();
    await worker.close({ graceMs: 5_000 });
  }
}

// ------------------------------------------------------------------ scenarios

async function runEnqueue(source: TargetSource, opts: ScenarioOptions): Promise<BenchResult> {
  return onTarget(source, 'enqueue', async (target) => {
    const client = new Client({ nodes: target.nodes });
    const queue = queueName('enqueue');
    const payload = payloadMaker(opts.payloadBytes);
    const progress = new Progress({ label: 'enqueue', total: opts.jobs, unit: 'jobs' });
    try {
      await warmUp(client, queue);
      const meter = costMeter(target);
      const run = await submitSingly(client, queue, payload, { jobs: opts.jobs, concurrency: opts.concurrency, progress, maxSeconds: opts.maxSeconds });
      const result = base('enqueue', target, opts, { jobs: run.units, concurrency: opts.concurrency, seconds: run.seconds, latency: run.latency.percentiles(), latencyOf: 'submit call → enqueue committed (one job)' });
      result['costPerJob'] = meter.finish(run.units);
      return result;
    } finally {
      progress.finish();
      await client.close();
    }
  }, opts);
}

async function runEnqueueBatch(source: TargetSource, opts: ScenarioOptions): Promise<BenchResult> {
  return onTarget(source, 'enqueue-batch', async (target) => {
    const client = new Client({ nodes: target.nodes });
    const queue = queueName('batch');
    const payload = payloadMaker(opts.payloadBytes);
    const progress = new Progress({ label: `enqueue-batch ${opts.batch}`, total: opts.jobs, unit: 'jobs' });
    try {
      await warmUp(client, queue);
      const meter = costMeter(target);
      const run = await submitInBatches(client, queue, payload, { jobs: opts.jobs, batch: opts.batch, concurrency: opts.concurrency, progress, maxSeconds: opts.maxSeconds });
      const result = base('enqueue-batch', target, opts, { jobs: run.units, concurrency: opts.concurrency, seconds: run.seconds, latency: run.latency.percentiles(), latencyOf: `submitMany call → committed (one batch of ${opts.batch})` });
      result['batch'] = opts.batch;
      result['costPerJob'] = meter.finish(run.units);
      return result;
    } finally {
      progress.finish();
      await client.close();
    }
  }, opts);
}

async function runProcess(source: TargetSource, opts: ScenarioOptions): Promise<BenchResult> {
  return onTarget(source, 'process', async (target) => {
    const queue = queueName('process');
    const prefillSeconds = await prefill(target, queue, opts.jobs, opts.payloadBytes);
    const run = await drain(target, queue, opts.jobs, opts.concurrency, `process c=${opts.concurrency}`, opts.maxSeconds);
    const result = base('process', target, opts, { jobs: run.completed, concurrency: opts.concurrency, seconds: run.seconds, latency: run.latency.percentiles(), latencyOf: 'handler start → ack committed' });
    result['prefillJobsPerSec'] = Math.round(opts.jobs / prefillSeconds);
    result['costPerJob'] = run.costPerJob;
    return result;
  }, opts);
}

async function runLatency(source: TargetSource, opts: ScenarioOptions): Promise<BenchResult> {
  return onTarget(source, 'latency', async (target) => {
    const queue = queueName('latency');
    const client = new Client({ nodes: target.nodes });
    const payload = payloadMaker(opts.payloadBytes);
    const toStart = new Histogram();
    const toAck = new Histogram();
    const toCommit = new Histogram();
    let acked = 0;
    let firstError = null as Error | null;
    const worker = new Worker({
      nodes: target.nodes,
      queues: queue,
      concurrency: opts.concurrency,
      handleSignals: false,
      handler: async (job) => {
        const t = (job.payload as { t?: number }).t;
        if (typeof t === 'number' && t > 0) toStart.recordMs(performance.now() - t);
        return null;
      },
    });
    worker.on('completed', (job) => {
      const t = (job.payload as { t?: number }).t;
      if (typeof t === 'number' && t > 0) {
        toAck.recordMs(performance.now() - t);
        acked += 1;
      }
    });
    worker.on('error', (error) => (firstError ??= error));
    worker.start();
    const progress = new Progress({ label: `latency ${opts.rate}/s`, total: Math.round(opts.rate * opts.durationS), unit: 'jobs' });
    try {
      // Warm-up: one job through the whole path (t = 0 keeps it out of the figures).
      const warmId = await client.submit(queue, payload(0, 0));
      await client.waitForResult(warmId, { timeoutMs: 10_000 });
      const meter = costMeter(target);
      const load = await openLoop({
        rate: opts.rate,
        durationS: opts.durationS,
        progress,
        op: async (i) => {
          const t = performance.now();
          await client.submit(queue, payload(i + 1, t));
          toCommit.recordMs(performance.now() - t);
        },
      });
      if (load.failed > 0) throw new Error(`latency: ${load.failed} submits failed: ${(load.firstError as Error)?.message}`);
      await withStallWatchdog(waitFor(() => acked >= load.issued), () => acked, STALL_MS_MAX, `latency drain (first worker error: ${firstError?.message ?? 'none'})`);
      const result = base('latency', target, opts, { jobs: load.issued, concurrency: opts.concurrency, seconds: load.seconds, latency: toStart.percentiles(), latencyOf: 'submit call → handler start' });
      result['rate'] = opts.rate;
      result['ackLatencyMs'] = toAck.percentiles();
      result['submitLatencyMs'] = toCommit.percentiles();
      result['costPerJob'] = meter.finish(load.issued);
      return result;
    } finally {
      progress.finish();
      await worker.close({ graceMs: 5_000 });
      await client.close();
    }
  }, opts);
}

/** Polls a condition every millisecond or so; for waits whose end has no event of its own. */
async function waitFor(condition: () => boolean): Promise<void> {
  while (!condition()) await sleep(1);
}

async function runBacklog(source: TargetSource, opts: ScenarioOptions): Promise<BenchResult> {
  const levels: { queued: number; jobsPerSec: number; seconds: number; latencyMs: Percentiles; rssMb: Record<string, number | null>; costPerJob: Record<string, JobCost>; settleSeconds: number | null }[] = [];
  let last: BenchResult | null = null;
  for (const queued of opts.backlogs) {
    // A fresh cluster per level when we spawn: one level's leftovers must not weigh on the next.
    last = await onTarget(source, `backlog-${queued}`, async (target) => {
      const queue = queueName('backlog');
      // The measured jobs go first; `queued` more wait behind them for the whole measurement.
      await prefill(target, queue, opts.jobs + queued, opts.payloadBytes, `prefill ${opts.jobs} + ${queued.toLocaleString('en-US')} backlog`);
      // The prefill's aftermath (followers applying its tail, snapshots of what it built) is not
      // the cost of processing with a backlog; a running cluster's is its own to judge.
      const settleSeconds = target.cluster ? await target.cluster.waitQuiet(SETTLE_MS_MAX) : null;
      const run = await drain(target, queue, opts.jobs, opts.concurrency, `process with ${queued.toLocaleString('en-US')} queued`);
      const result = base('backlog', target, opts, { jobs: run.completed, concurrency: opts.concurrency, seconds: run.seconds, latency: run.latency.percentiles(), latencyOf: 'handler start → ack committed' });
      result['costPerJob'] = run.costPerJob;
      result['settleSeconds'] = settleSeconds;
      return result;
    }, opts);
    levels.push({ queued, jobsPerSec: last.jobsPerSec, seconds: last.seconds, latencyMs: last.latencyMs, rssMb: last.rssMb, costPerJob: last['costPerJob'] as Record<string, JobCost>, settleSeconds: last['settleSeconds'] as number | null });
  }
  const result = last!;
  const smallest = levels[0]!;
  const largest = levels[levels.length - 1]!;
  result['backlog'] = levels;
  result['largestVsSmallest'] = round3(largest.jobsPerSec / smallest.jobsPerSec);
  return result;
}

async function runFailover(source: TargetSource, opts: ScenarioOptions): Promise<BenchResult> {
  if (!source.spawned) throw new Error('failover kills and restarts node processes: use --spawn N (N >= 3)');
  return onTarget(source, 'failover', async (target) => {
    const cluster = target.cluster!;
    if (cluster.nodes.length < 3) throw new Error('failover needs at least 3 nodes (--spawn 3)');
    const client = new Client({ nodes: target.nodes });
    const queue = queueName('failover');
    const payload = payloadMaker(opts.payloadBytes);
    const latency = new Histogram();
    const progress = new Progress({ label: `failover (${opts.kills} leader kills)`, total: null, unit: 'jobs' });
    let running = true;
    let ok = 0;
    let errors = 0;
    let lastCompletionMs = 0;
    let longestGapMs = 0;
    let killAtMs = -1;
    let recoveredAtMs = -1;
    const lane = async (): Promise<void> => {
      let i = 0;
      while (running) {
        const startedMs = performance.now();
        try {
          await client.submit(queue, payload(i++));
        } catch {
          errors += 1;
          continue;
        }
        const endMs = performance.now();
        latency.recordMs(endMs - startedMs);
        if (lastCompletionMs > 0) longestGapMs = Math.max(longestGapMs, endMs - lastCompletionMs);
        lastCompletionMs = endMs;
        // Recovery = the first submit issued after the kill that succeeds: answers the dead leader
        // had already sent (buffered in our socket) cannot count as the cluster being back.
        if (killAtMs >= 0 && recoveredAtMs < 0 && startedMs >= killAtMs) recoveredAtMs = endMs;
        ok += 1;
        progress.add(1);
      }
    };
    await warmUp(client, queue);
    const startedMs = performance.now();
    const lanes = Array.from({ length: opts.concurrency }, lane);
    const recoveriesMs: number[] = [];
    const electionsMs: number[] = [];
    const killed: string[] = [];
    try {
      for (let k = 0; k < opts.kills; k++) {
        await sleep(2_000); // steady load before each kill
        const leader = await cluster.leader();
        if (leader === null) throw new Error('failover: no leader before the kill');
        recoveredAtMs = -1;
        killAtMs = performance.now();
        cluster.kill(leader);
        killed.push(leader);
        // Server side and client side apart: when a surviving node first names a new leader.
        const elected = (async () => {
          while ((await cluster.leader(leader)) === null) await sleep(5);
          return performance.now() - killAtMs;
        })();
        await withStallWatchdog(waitFor(() => recoveredAtMs >= 0), () => 0, 30_000, `failover: no submit succeeded after killing ${leader}`);
        recoveriesMs.push(recoveredAtMs - killAtMs);
        electionsMs.push(await withStallWatchdog(elected, () => 0, 30_000, 'failover: no new leader'));
        killAtMs = -1;
        await cluster.waitExited(leader);
        cluster.restart(leader);
        await cluster.waitReady(30_000);
      }
      await sleep(2_000);
    } finally {
      running = false;
      await Promise.all(lanes);
      progress.finish();
      await client.close();
    }
    const seconds = (performance.now() - startedMs) / 1000;
    const result = base('failover', target, opts, { jobs: ok, concurrency: opts.concurrency, seconds, latency: latency.percentiles(), latencyOf: 'submit call → enqueue committed (through the failovers)' });
    result['failover'] = {
      kills: opts.kills,
      killed,
      recoveryMs: { p50: round3(median(recoveriesMs)), max: round3(Math.max(...recoveriesMs)), each: recoveriesMs.map(round3) },
      newLeaderKnownMs: { p50: round3(median(electionsMs)), max: round3(Math.max(...electionsMs)), each: electionsMs.map(round3) },
      longestStallMs: round3(longestGapMs),
      submitLatencyMaxMs: round3(latency.maxMs()),
      failedSubmits: errors,
    };
    return result;
  });
}

async function runMemory(source: TargetSource, opts: ScenarioOptions): Promise<BenchResult> {
  return onTarget(source, 'memory', async (target) => {
    const queue = queueName('memory');
    // Warm-up through the whole path so code, JIT and buffers are in the baseline, not in the jobs.
    await prefill(target, queueName('memory-warmup'), 2_000, opts.payloadBytes, 'warm-up');
    await sleep(2_000);
    const baseline = await readRssMb(target);
    const levels: { jobs: number; rssMb: Record<string, number | null>; bytesPerJob: Record<string, number | null>; bytesPerJobBeyondPayload: Record<string, number | null> }[] = [];
    let queued = 0;
    let prefillSeconds = 0;
    for (const level of [...opts.memoryLevels].sort((a, b) => a - b)) {
      prefillSeconds += await prefill(target, queue, level - queued, opts.payloadBytes, `prefill to ${level.toLocaleString('en-US')}`, queued);
      queued = level;
      await sleep(3_000); // let the followers finish applying and the allocator settle
      const rss = await readRssMb(target);
      const perJob: Record<string, number | null> = {};
      const beyond: Record<string, number | null> = {};
      for (const [id, mb] of Object.entries(rss)) {
        const before = baseline[id];
        perJob[id] = mb !== null && before !== null && before !== undefined ? Math.round(((mb - before) * 1024 * 1024) / level) : null;
        beyond[id] = perJob[id] !== null ? perJob[id]! - opts.payloadBytes : null;
      }
      levels.push({ jobs: level, rssMb: rss, bytesPerJob: perJob, bytesPerJobBeyondPayload: beyond });
    }
    const result = base('memory', target, opts, { jobs: queued, concurrency: PREFILL_INFLIGHT, seconds: prefillSeconds, latency: new Histogram().percentiles(), latencyOf: 'not measured (memory scenario)' });
    result['baselineRssMb'] = baseline;
    result['memory'] = levels;
    const worst = levels[levels.length - 1]!;
    const values = Object.values(worst.bytesPerJobBeyondPayload).filter((v): v is number => v !== null);
    result['bytesPerJobBeyondPayloadMax'] = values.length > 0 ? Math.max(...values) : null;
    return result;
  });
}

/**
 * A large state snapshotted on the leader, the way `raftq cluster snapshot` or the thresholds
 * (README, Limits) cause it: `snapshotJobs` queued, then a probe submits one job every 5 ms while
 * the leader is asked for a snapshot. Reports what became of leadership (held; handed over to a
 * follower before the snapshot, see --leader-snapshot-pause-max-ms; or lost to an election) and
 * what the probe saw: a leader answers nothing while its applies pause for the image.
 */
async function runSnapshot(source: TargetSource, opts: ScenarioOptions): Promise<BenchResult> {
  if (!source.spawned) throw new Error('snapshot asks the leader for a snapshot and watches the term: use --spawn N');
  return onTarget(source, 'snapshot', async (target) => {
    const cluster = target.cluster!;
    await prefill(target, queueName('snapshot-backlog'), opts.snapshotJobs, opts.payloadBytes, `prefill ${opts.snapshotJobs.toLocaleString('en-US')}`);
    const settleSeconds = await cluster.waitQuiet(SETTLE_MS_MAX);
    const client = new Client({ nodes: target.nodes });
    const queue = queueName('snapshot-probe');
    const latency = new Histogram();
    let running = true;
    let failed = 0;
    try {
      const before = await client.clusterStatus();
      const leaderBefore = before.leader;
      if (leaderBefore === null) throw new Error('snapshot: no leader before the snapshot');
      const termBefore = before.nodes.find((n) => n.id === leaderBefore)?.term ?? null;
      const handoffsBefore = await handoffsTotal(cluster);
      const startedMs = performance.now();
      const probe = (async () => {
        while (running) {
          const t = performance.now();
          try {
            await client.submit(queue, { probe: true });
            latency.recordMs(performance.now() - t);
          } catch {
            failed += 1;
          }
          await sleep(SNAPSHOT_PROBE_INTERVAL_MS);
        }
      })();
      await sleep(SNAPSHOT_PROBE_MARGIN_MS);
      const leaderOnly = new Client({ nodes: [cluster.node(leaderBefore).client] });
      const askedMs = performance.now();
      let snapshotIndex: number;
      try {
        process.stderr.write(`snapshot of ${leaderBefore} (${opts.snapshotJobs.toLocaleString('en-US')} jobs queued)...\n`);
        snapshotIndex = (await leaderOnly.admin.snapshot()).index;
      } finally {
        await leaderOnly.close();
      }
      const snapshotMs = performance.now() - askedMs;
      await sleep(SNAPSHOT_PROBE_MARGIN_MS);
      running = false;
      await probe;
      const seconds = (performance.now() - startedMs) / 1000;
      const after = await client.clusterStatus();
      const termAfter = Math.max(...after.nodes.map((n) => n.term ?? 0));
      const handoffs = (await handoffsTotal(cluster)) - handoffsBefore;
      // A handoff moves leadership by one term per transfer; anything else is an election.
      const leadership =
        after.leader === leaderBefore && termAfter === termBefore ? 'held' : handoffs > 0 && termBefore !== null && termAfter - termBefore === handoffs ? 'handed over' : 'lost';
      const result = base('snapshot', target, opts, { jobs: latency.count, concurrency: 1, seconds, latency: latency.percentiles(), latencyOf: `probe submit, one every ${SNAPSHOT_PROBE_INTERVAL_MS} ms, through a snapshot on the leader` });
      result['snapshot'] = { queuedJobs: opts.snapshotJobs, settleSeconds: round3(settleSeconds), index: snapshotIndex, askedToTakenMs: round3(snapshotMs), leaderBefore, leaderAfter: after.leader, termBefore, termAfter, leadership, handoffs, probeFailed: failed };
      return result;
    } finally {
      running = false;
      await client.close();
    }
  });
}

/** catchup: how often the follower's progress and every node's RSS are read. */
const CATCHUP_POLL_MS = 100;
/** catchup: the longest a follower may take to catch up before the run fails. */
const CATCHUP_MS_MAX = 180_000;

/**
 * A follower down while `snapshotJobs` jobs are submitted, and the log it missed compacted away
 * (every other node asked for a snapshot): once started again it can only catch up by
 * InstallSnapshot of the whole state. Reports the time from its start to applying the commit index
 * the leader had then, the image's size, and each node's peak RSS meanwhile.
 */
async function runCatchup(source: TargetSource, opts: ScenarioOptions): Promise<BenchResult> {
  if (!source.spawned) throw new Error('catchup stops and restarts a node process: use --spawn N (N >= 3)');
  return onTarget(source, 'catchup', async (target) => {
    const cluster = target.cluster!;
    if (cluster.nodes.length < 3) throw new Error('catchup needs at least 3 nodes (--spawn 3)');
    const leader = await cluster.leader();
    if (leader === null) throw new Error('catchup: no leader');
    const follower = cluster.nodes.find((n) => n.id !== leader)!;
    const others = cluster.nodes.filter((n) => n.id !== follower.id);
    cluster.kill(follower.id);
    await cluster.waitExited(follower.id);
    const live: Target = { ...target, nodes: others.map((n) => n.client) };
    const prefillSeconds = await prefill(live, queueName('catchup'), opts.snapshotJobs, opts.payloadBytes, `prefill ${opts.snapshotJobs.toLocaleString('en-US')} with ${follower.id} down`);
    let snapshotIndex = 0;
    for (const node of others) {
      const one = new Client({ nodes: [node.client] });
      try {
        process.stderr.write(`snapshot of ${node.id}...\n`);
        snapshotIndex = Math.max(snapshotIndex, (await one.admin.snapshot()).index);
      } finally {
        await one.close();
      }
    }
    const snapshotBytes = await scrapeMetric(cluster.node(leader).http, 'raftq_snapshot_bytes');
    const leaderClient = new Client({ nodes: [cluster.node(leader).client] });
    const followerClient = new Client({ nodes: [follower.client], requestTimeoutMs: 1_000 });
    try {
      const leaderStatus = await leaderClient.clusterStatus();
      const commit = leaderStatus.nodes.find((n) => n.id === leaderStatus.nodeId)?.commitIndex ?? snapshotIndex;
      const rssBefore = cluster.rssMb();
      const peak: Record<string, number | null> = { ...rssBefore };
      const progress = new Progress({ label: `${follower.id} catching up to index ${commit}`, total: null, unit: 'polls' });
      const startedMs = performance.now();
      cluster.restart(follower.id);
      const samplePeak = (): void => {
        for (const [id, mb] of Object.entries(cluster.rssMb())) if (mb !== null) peak[id] = Math.max(peak[id] ?? 0, mb);
      };
      const caughtUp = async (): Promise<void> => {
        for (;;) {
          samplePeak();
          progress.add(1);
          try {
            const status = await followerClient.clusterStatus();
            const own = status.nodes.find((n) => n.id === status.nodeId);
            if (status.nodeId === follower.id && own !== undefined && own.appliedIndex >= commit) return;
          } catch {
            // Not listening yet, or busy installing: ask again.
          }
          await sleep(CATCHUP_POLL_MS);
        }
      };
      await withStallWatchdog(caughtUp(), () => 0, CATCHUP_MS_MAX, `catchup: ${follower.id} did not apply index ${commit}`);
      const seconds = (performance.now() - startedMs) / 1000;
      // Once more: a follower that caught up within the first poll was sampled only as it started.
      samplePeak();
      progress.finish();
      // How it caught up: by the leader's snapshot (the point of the scenario), or from the log.
      const installed = await snapshotsInstalled(follower.http);
      const result = base('catchup', target, opts, { jobs: opts.snapshotJobs, concurrency: 1, seconds, latency: new Histogram().percentiles(), latencyOf: 'not measured (catchup scenario)' });
      result['catchup'] = {
        follower: follower.id,
        leader,
        commitIndex: commit,
        snapshotIndex,
        snapshotBytes,
        snapshotsInstalled: installed,
        prefillSeconds: round3(prefillSeconds),
        catchUpSeconds: round3(seconds),
        rssBeforeMb: rssBefore,
        peakRssMb: peak,
      };
      return result;
    } finally {
      await leaderClient.close();
      await followerClient.close();
    }
  });
}

/**
 * raftq_snapshots_total{kind="installed"} of a node: 0 when its /metrics has no such sample (none
 * installed since it started); asked again for a few seconds while /metrics does not answer (a
 * node that just installed a large snapshot may be busy decoding it). Null if it never answers.
 */
async function snapshotsInstalled(http: string): Promise<number | null> {
  for (let attempt = 0; attempt < 20; attempt++) {
    const text = await metricsText(http);
    if (text !== null) return sampleOf(text, 'raftq_snapshots_total', 'kind="installed"') ?? 0;
    await sleep(250);
  }
  return null;
}

async function metricsText(http: string): Promise<string | null> {
  try {
    const res = await fetch(`http://${http}/metrics`, { signal: AbortSignal.timeout(2_000) });
    return res.status === 200 ? await res.text() : null;
  } catch {
    return null;
  }
}

/** The first sample of `name` in a metrics text whose labels include `labelled`, or null. */
function sampleOf(text: string, name: string, labelled = ''): number | null {
  for (const match of text.matchAll(new RegExp(`^${name}(?:\\{([^}]*)\\})?\\s+([0-9.e+]+)`, 'gm'))) {
    if ((match[1] ?? '').includes(labelled)) return Number(match[2]);
  }
  return null;
}

/** Handoffs before a snapshot (raftq_snapshot_handoffs_total) summed over the nodes. */
async function handoffsTotal(cluster: LocalCluster): Promise<number> {
  const counts = await Promise.all(cluster.nodes.map((node) => scrapeMetric(node.http, 'raftq_snapshot_handoffs_total')));
  return counts.reduce<number>((sum, n) => sum + (n ?? 0), 0);
}

// ------------------------------------------------------------------ RSS

/** Per node RSS: /proc for spawned nodes, else the process_resident_memory_bytes metric, else null. */
export async function readRssMb(target: Target): Promise<Record<string, number | null>> {
  if (target.cluster) return target.cluster.rssMb();
  const client = new Client({ nodes: target.nodes, requestTimeoutMs: 2_000 });
  try {
    const status = await client.clusterStatus();
    const out: Record<string, number | null> = {};
    await Promise.all(status.nodes.map(async (node) => (out[node.id] = node.httpAddr ? await metricRssMb(node.httpAddr) : null)));
    return out;
  } catch {
    return {};
  } finally {
    await client.close();
  }
}

async function metricRssMb(http: string): Promise<number | null> {
  const bytes = await scrapeMetric(http, 'process_resident_memory_bytes');
  return bytes === null ? null : Math.round((bytes / 1024 / 1024) * 10) / 10;
}

/** The first sample of a metric on a node's /metrics, or null when it cannot be read. */
async function scrapeMetric(http: string, name: string): Promise<number | null> {
  const text = await metricsText(http);
  return text === null ? null : sampleOf(text, name);
}
