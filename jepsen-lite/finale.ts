// The end of a run, after every fault is healed: drain the queues, then observe. `final-state`
// records every known job's state as the cluster reports it (linearizable reads); `converge`
// records each node's applied index and state hash, retried until they agree or the bound passes.

import { setTimeout as sleep } from 'node:timers/promises';
import { RaftqError } from '../src/errors.js';
import { Transport } from '../src/client/transport.js';
import type { ClusterUnderTest } from './cluster-under-test.js';
import type { HistoryWriter, NodeObservation } from './history.js';
import type { JobBook } from './workload.js';

/** Reads in flight during the final-state sweep. */
const FINAL_READS_IN_FLIGHT_MAX = 64;
const FINAL_READ_TIMEOUT_MS = 5_000;
/** The whole final read: a cluster that cannot serve reads must not hold the run for hours; jobs not read by then are 'unknown'. */
export const FINAL_READS_MS_MAX = 90_000;
const DRAIN_POLL_MS = 500;
const CONVERGE_POLL_MS = 250;

export interface DrainResult {
  drained: boolean;
  elapsedMs: number;
  /** Jobs not finished when the drain stopped (waiting + delayed + active + failed), per queue. */
  left: Record<string, number>;
}

function statsTransport(cluster: ClusterUnderTest): Transport {
  return new Transport({ nodes: cluster.clientAddresses(), requestTimeoutMs: FINAL_READ_TIMEOUT_MS, retry: { attempts: 10, baseMs: 50, capMs: 1_000 } });
}

/** Polls queue stats until no job is left to do, or the bound passes. Workers must be draining. */
export async function waitDrained(cluster: ClusterUnderTest, queues: string[], boundMs: number): Promise<DrainResult> {
  const t = statsTransport(cluster);
  const startMs = Date.now();
  let left: Record<string, number> = {};
  try {
    for (;;) {
      left = {};
      let total = 0;
      let known = true;
      for (const queue of queues) {
        try {
          const s = await t.call('stats', { queue });
          const n = s.counts.waiting + s.counts.delayed + s.counts.active + s.counts.failed;
          left[queue] = n;
          total += n;
        } catch (error) {
          if (error instanceof RaftqError && error.code === 'NOT_FOUND') left[queue] = 0;
          else known = false;
        }
      }
      if (known && total === 0) return { drained: true, elapsedMs: Date.now() - startMs, left };
      if (Date.now() - startMs > boundMs) return { drained: false, elapsedMs: Date.now() - startMs, left };
      await sleep(DRAIN_POLL_MS);
    }
  } finally {
    await t.close();
  }
}

/** Reads every known job (linearizably) and records one `final-state` op. */
export async function recordFinalState(cluster: ClusterUnderTest, book: JobBook, history: HistoryWriter): Promise<{ jobs: number; unreadable: number }> {
  const t = statsTransport(cluster);
  const entries = [...book.keyById.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const jobs: { id: string; key: string; state: string }[] = new Array(entries.length);
  let next = 0;
  let unreadable = 0;
  const deadlineMs = Date.now() + FINAL_READS_MS_MAX;
  const reader = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      const [id, key] = entries[i]!;
      if (Date.now() > deadlineMs) {
        unreadable++;
        jobs[i] = { id, key, state: 'unknown' };
        continue;
      }
      try {
        const { job } = await t.call('get', { jobId: id });
        jobs[i] = { id, key, state: job === null ? 'missing' : job.state };
      } catch {
        unreadable++;
        jobs[i] = { id, key, state: 'unknown' };
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: FINAL_READS_IN_FLIGHT_MAX }, reader));
  } finally {
    await t.close();
  }
  history.record({ type: 'ok', f: 'final-state', process: -1, timeMs: history.now(), value: { jobs } });
  return { jobs: jobs.length, unreadable };
}

/** Polls every member's applied index and state hash until all agree, or the bound passes; records one `converge` op. */
export async function recordConvergence(cluster: ClusterUnderTest, history: HistoryWriter, boundMs: number): Promise<{ converged: boolean; nodes: NodeObservation[] }> {
  const startMs = Date.now();
  let nodes: NodeObservation[] = [];
  let converged = false;
  for (;;) {
    nodes = await Promise.all(cluster.members().map(async (node): Promise<NodeObservation> => {
      try {
        const [h, s] = await Promise.all([cluster.processes.call(node, 'stateHash', {}), cluster.processes.status(node)]);
        const self = s.nodes.find((n) => n.id === node);
        return { node, appliedIndex: h.appliedIndex, commitIndex: self?.commitIndex ?? -1, hash: h.hash };
      } catch (error) {
        return { node, appliedIndex: -1, commitIndex: -1, hash: `unreachable: ${(error as Error).message.split('\n')[0]}` };
      }
    }));
    converged = nodes.length > 0 && new Set(nodes.map((n) => `${n.appliedIndex}:${n.hash}`)).size === 1 && nodes[0]!.appliedIndex >= 0;
    if (converged || Date.now() - startMs > boundMs) break;
    await sleep(CONVERGE_POLL_MS);
  }
  history.record({ type: 'ok', f: 'converge', process: -1, timeMs: history.now(), value: { nodes, boundMs, converged } });
  return { converged, nodes };
}
