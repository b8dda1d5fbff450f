// Load shapes shared by `raftq bench` and the side-by-side comparison in bench/, so every system
// is driven by the same loops: a closed loop (C operations in flight, the next starts when one
// ends) and an open loop (operations issued at a fixed rate, whether or not earlier ones ended).

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Progress } from '../../src/cli/progress.js';
import { Histogram } from './histogram.js';

export interface ClosedLoopResult {
  seconds: number;
  /** Jobs the finished operations carried (less than asked when maxSeconds cut the run short). */
  units: number;
  /** Latency of each operation (one submit, or one batch). */
  latency: Histogram;
}

/**
 * Runs `total` operations with `concurrency` in flight. `op(i)` performs operation i and returns
 * how many jobs it carried (1 for a submit, B for a batch), which feeds the progress line. With
 * `maxSeconds`, no operation starts after that time (the run then carries fewer jobs).
 */
export async function closedLoop(opts: { total: number; concurrency: number; maxSeconds?: number; progress?: Progress; op: (i: number) => Promise<number> }): Promise<ClosedLoopResult> {
  const latency = new Histogram();
  let next = 0;
  let units = 0;
  const startedMs = performance.now();
  const deadlineMs = opts.maxSeconds ? startedMs + opts.maxSeconds * 1000 : Infinity;
  const lane = async (): Promise<void> => {
    while (next < opts.total && performance.now() < deadlineMs) {
      const i = next++;
      const opStartedMs = performance.now();
      const n = await opts.op(i);
      latency.recordMs(performance.now() - opStartedMs);
      units += n;
      opts.progress?.add(n);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(opts.concurrency, opts.total)) }, lane));
  return { seconds: (performance.now() - startedMs) / 1000, units, latency };
}

/** A promise that resolves after `seconds` (never, for 0), and a way to cancel its timer. */
export function timeCap(seconds: number): { expired: Promise<void>; cancel(): void } {
  let timer: NodeJS.Timeout | null = null;
  const expired = new Promise<void>((resolve) => {
    if (seconds > 0) timer = setTimeout(resolve, seconds * 1000);
  });
  return { expired, cancel: () => (timer ? clearTimeout(timer) : undefined) };
}

export interface OpenLoopResult {
  issued: number;
  failed: number;
  /** From the first issue to the end of the last issue (not to the end of the last operation). */
  seconds: number;
  firstError: unknown;
}

/**
 * Issues operations at `rate` per second for `durationS` seconds, on the schedule, never waiting
 * for earlier ones (so a slow system cannot slow the load down: no coordinated omission). Resolves
 * when every issued operation has settled.
 */
export async function openLoop(opts: { rate: number; durationS: number; progress?: Progress; op: (i: number) => Promise<void> }): Promise<OpenLoopResult> {
  const total = Math.round(opts.rate * opts.durationS);
  const settling: Promise<void>[] = [];
  let failed = 0;
  let firstError: unknown = null;
  const startedMs = performance.now();
  let issued = 0;
  while (issued < total) {
    const dueNow = Math.min(total, Math.floor(((performance.now() - startedMs) / 1000) * opts.rate) + 1);
    while (issued < dueNow) {
      const i = issued++;
      settling.push(
        opts.op(i).then(
          () => opts.progress?.add(1),
          (error: unknown) => {
            failed += 1;
            firstError ??= error;
          },
        ),
      );
    }
    const nextDueMs = startedMs + (issued / opts.rate) * 1000;
    await sleep(Math.max(0, nextDueMs - performance.now()));
  }
  const seconds = (performance.now() - startedMs) / 1000;
  await Promise.all(settling);
  return { issued, failed, seconds, firstError };
}

/** A job payload of about `bytes` bytes of JSON: {i, t, pad}. `t` carries a submit timestamp when needed. */
export function payloadMaker(bytes: number): (i: number, t?: number) => { i: number; t: number; pad: string } {
  const overhead = JSON.stringify({ i: 1_000_000, t: 12345.678901, pad: '' }).length;
  const pad = 'x'.repeat(Math.max(0, bytes - overhead));
  return (i, t = 0) => ({ i, t, pad });
}

/**
 * Races `done` against a watchdog that rejects when `progressed()` has not changed for `stallMs`:
 * a benchmark that stops making progress fails with a reason instead of hanging.
 */
export async function withStallWatchdog<T>(done: Promise<T>, progressed: () => number, stallMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | null = null;
  const watchdog = new Promise<never>((_, reject) => {
    let last = progressed();
    let lastChangeMs = Date.now();
    timer = setInterval(() => {
      const now = progressed();
      if (now !== last) {
        last = now;
        lastChangeMs = Date.now();
      } else if (Date.now() - lastChangeMs > stallMs) {
        reject(new Error(`${what}: no progress for ${stallMs} ms (at ${now})`));
      }
    }, 250);
  });
  try {
    return await Promise.race([done, watchdog]);
  } finally {
    if (timer) clearInterval(timer);
  }
}

export function median(values: number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
