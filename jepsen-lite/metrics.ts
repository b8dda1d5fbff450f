// Figures of a run computed from its history alone (so a replay computes the same): operation
// counts, throughput per second, and latency (invoke → completion) of enqueues and acks.

import type { Op, OpType } from './history.js';

export type ClientF = 'enqueue' | 'lease' | 'ack';
const CLIENT_FS: readonly ClientF[] = ['enqueue', 'lease', 'ack'];

export interface Completed {
  f: ClientF;
  type: Exclude<OpType, 'invoke'>;
  invokeMs: number;
  doneMs: number;
}

export interface LatencySummary {
  count: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
  maxMs: number;
}

export interface SecondBucket {
  /** Start of the second, since the run started (s). */
  t: number;
  enqueueOk: number;
  ackOk: number;
  /** Completions that failed or are unknown, any op. */
  notOk: number;
  enqueueP50Ms: number | null;
  enqueueP99Ms: number | null;
}

export interface RunFigures {
  durationMs: number;
  ops: Record<ClientF, Record<OpType, number>>;
  /** Client operations completed (ok + fail + info). */
  completedOps: number;
  enqueueLatency: LatencySummary;
  ackLatency: LatencySummary;
  leaseLatency: LatencySummary;
  /** Successful enqueues per second while producers ran (mean) and in the best second. */
  enqueueOkPerSecMean: number;
  enqueueOkPerSecPeak: number;
  seconds: SecondBucket[];
}

/**
 * Pairs each completion with its invoke. Producers and lease loops do one call at a time per
 * process; acks may overlap within a worker, so they pair by (process, job, token).
 */
export function completions(ops: readonly Op[]): Completed[] {
  const open = new Map<string, number[]>();
  const out: Completed[] = [];
  for (const op of ops) {
    if (!(CLIENT_FS as readonly string[]).includes(op.f)) continue;
    const f = op.f as ClientF;
    const key = f === 'ack' ? `${op.process}|ack|${(op.value as { id: string }).id}|${(op.value as { token: string }).token}` : `${op.process}|${f}`;
    if (op.type === 'invoke') {
      const list = open.get(key) ?? [];
      list.push(op.timeMs);
      open.set(key, list);
      continue;
    }
    const invokeMs = open.get(key)?.shift();
    if (invokeMs === undefined) continue;
    out.push({ f, type: op.type, invokeMs, doneMs: op.timeMs });
  }
  return out;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return 0;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

function summary(latencies: number[]): LatencySummary {
  const sorted = [...latencies].sort((a, b) => a - b);
  return { count: sorted.length, p50Ms: percentile(sorted, 50), p95Ms: percentile(sorted, 95), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? 0 };
}

export function runFigures(ops: readonly Op[]): RunFigures {
  const counts = Object.fromEntries(CLIENT_FS.map((f) => [f, { invoke: 0, ok: 0, fail: 0, info: 0 }])) as Record<ClientF, Record<OpType, number>>;
  let durationMs = 0;
  for (const op of ops) {
    durationMs = Math.max(durationMs, op.timeMs);
    if ((CLIENT_FS as readonly string[]).includes(op.f)) counts[op.f as ClientF][op.type]++;
  }
  const done = completions(ops);
  const latencyOf = (f: ClientF, okOnly = true): number[] => done.filter((c) => c.f === f && (!okOnly || c.type === 'ok')).map((c) => c.doneMs - c.invokeMs);
  const secondsCount = Math.ceil(durationMs / 1000) + 1;
  const buckets: { enqueueOk: number; ackOk: number; notOk: number; enqueueLatencies: number[] }[] = Array.from({ length: secondsCount }, () => ({ enqueueOk: 0, ackOk: 0, notOk: 0, enqueueLatencies: [] }));
  for (const c of done) {
    const b = buckets[Math.floor(c.doneMs / 1000)]!;
    if (c.type !== 'ok') b.notOk++;
    else if (c.f === 'enqueue') {
      b.enqueueOk++;
      b.enqueueLatencies.push(c.doneMs - c.invokeMs);
    } else if (c.f === 'ack') b.ackOk++;
  }
  const seconds: SecondBucket[] = buckets.map((b, t) => {
    const sorted = b.enqueueLatencies.sort((x, y) => x - y);
    return { t, enqueueOk: b.enqueueOk, ackOk: b.ackOk, notOk: b.notOk, enqueueP50Ms: sorted.length ? percentile(sorted, 50) : null, enqueueP99Ms: sorted.length ? percentile(sorted, 99) : null };
  });
  const enqueueOk = counts.enqueue.ok;
  // Over the time producers ran (first to last enqueue invoke), not the drain after it.
  const invokes = ops.filter((o) => o.f === 'enqueue' && o.type === 'invoke').map((o) => o.timeMs);
  const producingMs = invokes.length > 1 ? invokes.reduce((a, b) => Math.max(a, b), 0) - invokes.reduce((a, b) => Math.min(a, b), Infinity) : 0;
  return {
    durationMs,
    ops: counts,
    completedOps: done.length,
    enqueueLatency: summary(latencyOf('enqueue')),
    ackLatency: summary(latencyOf('ack')),
    leaseLatency: summary(latencyOf('lease')),
    enqueueOkPerSecMean: producingMs > 0 ? enqueueOk / (producingMs / 1000) : 0,
    enqueueOkPerSecPeak: seconds.reduce((a, s) => Math.max(a, s.enqueueOk), 0),
    seconds,
  };
}
