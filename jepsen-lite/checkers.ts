// Checkers over a jepsen-lite history. Each is a pure function of the ops and says `valid` plus
// the counts a person needs; test/jepsen/checkers.test.ts shows each one catching the bug it
// exists for on a hand-made history.

import type { Op } from './history.js';

export interface CheckResult {
  name: string;
  valid: boolean;
  counts: Record<string, number>;
  /** A few concrete examples of what went wrong (ids, keys), for the report. */
  examples: string[];
}

const EXAMPLES_MAX = 10;

function take<T>(items: Iterable<T>, n = EXAMPLES_MAX): T[] {
  const out: T[] = [];
  for (const item of items) {
    if (out.length >= n) break;
    out.push(item);
  }
  return out;
}

/**
 * Jepsen's total-queue: the multiset of jobs enqueued (ok) against the multiset delivered.
 * lost: acknowledged enqueues never delivered nor finished; unexpected: deliveries of jobs nobody
 * tried to enqueue; duplicated: jobs delivered more than once (allowed — delivery is
 * at-least-once — but counted); recovered: enqueues of unknown outcome (info) that were delivered.
 * Valid when nothing is lost or unexpected. Needs a final drain, and the final-state op so that a
 * job completed before a crash (its lease record lost with the client) still counts as delivered.
 */
export function checkTotalQueue(ops: Op[]): CheckResult {
  const attempted = new Set<string>();
  const acknowledged = new Set<string>();
  const indeterminate = new Set<string>();
  const deliveries = new Map<string, number>();
  const finished = new Set<string>();
  for (const op of ops) {
    if (op.f === 'enqueue') {
      if (op.type === 'invoke') attempted.add(op.value.key);
      else if (op.type === 'ok') acknowledged.add(op.value.key);
      else if (op.type === 'info') indeterminate.add(op.value.key);
    } else if (op.f === 'lease' && op.type === 'ok') {
      for (const j of op.value.jobs) deliveries.set(j.key, (deliveries.get(j.key) ?? 0) + 1);
    } else if (op.f === 'final-state') {
      for (const j of op.value.jobs) if (j.state === 'completed') finished.add(j.key);
    }
  }
  const lost = [...acknowledged].filter((k) => !deliveries.has(k) && !finished.has(k));
  const unexpected = [...deliveries.keys()].filter((k) => !attempted.has(k));
  const duplicated = [...deliveries.entries()].filter(([, n]) => n > 1).map(([k]) => k);
  const recovered = [...indeterminate].filter((k) => !acknowledged.has(k) && (deliveries.has(k) || finished.has(k)));
  let redeliveries = 0;
  for (const n of deliveries.values()) redeliveries += n - 1;
  return {
    name: 'total-queue',
    valid: lost.length === 0 && unexpected.length === 0,
    counts: {
      attempted: attempted.size,
      acknowledged: acknowledged.size,
      delivered: deliveries.size,
      lost: lost.length,
      unexpected: unexpected.length,
      duplicated: duplicated.length,
      redeliveries,
      recovered: recovered.length,
    },
    examples: [...take(lost).map((k) => `lost ${k}`), ...take(unexpected).map((k) => `unexpected ${k}`)],
  };
}

/** Exactly-once completion: no job is acked successfully twice (by any workers, tokens or nodes). */
export function checkExactlyOnceCompletion(ops: Op[]): CheckResult {
  const acks = new Map<string, number>();
  for (const op of ops) {
    if (op.f === 'ack' && op.type === 'ok') acks.set(op.value.id, (acks.get(op.value.id) ?? 0) + 1);
  }
  const twice = [...acks.entries()].filter(([, n]) => n > 1);
  return {
    name: 'exactly-once-completion',
    valid: twice.length === 0,
    counts: { ackedJobs: acks.size, completedTwice: twice.length },
    examples: take(twice).map(([id, n]) => `${id} acked ${n} times`),
  };
}

/**
 * Stale-lease acks accepted: an ack with token T that succeeded although, before the ack was
 * invoked, a later lease of the same job (another token) had already been handed out and
 * acknowledged to a worker. Real-time order makes the later lease precede the ack in the log,
 * so the state machine must have answered STALE_LEASE.
 */
export function checkStaleAcks(ops: Op[]): CheckResult {
  /** Per job: the tokens handed out, each with the time its lease completed. */
  const leases = new Map<string, { token: string; attempt: number; okMs: number }[]>();
  const ackInvokes = new Map<string, number>();
  let accepted = 0;
  let rejected = 0;
  const examples: string[] = [];
  for (const op of ops) {
    if (op.f === 'lease' && op.type === 'ok') {
      for (const j of op.value.jobs) {
        const list = leases.get(j.id) ?? [];
        list.push({ token: j.token, attempt: j.attempt, okMs: op.timeMs });
        leases.set(j.id, list);
      }
    } else if (op.f === 'ack') {
      const key = `${op.process}|${op.value.id}|${op.value.token}`;
      if (op.type === 'invoke') {
        ackInvokes.set(key, op.timeMs);
        continue;
      }
      const invokedMs = ackInvokes.get(key);
      if (invokedMs === undefined) continue;
      const handedOut = leases.get(op.value.id) ?? [];
      const own = handedOut.find((l) => l.token === op.value.token);
      const superseded = handedOut.some((l) => l.token !== op.value.token && l.okMs < invokedMs && isLaterLease(l, own ?? { token: op.value.token, attempt: null }));
      if (!superseded) continue;
      if (op.type === 'ok') {
        accepted++;
        if (examples.length < EXAMPLES_MAX) examples.push(`${op.value.id}: ack with stale token ${op.value.token} accepted`);
      } else if (op.type === 'fail') {
        rejected++;
      }
    }
  }
  return { name: 'stale-lease-acks', valid: accepted === 0, counts: { staleAcksAccepted: accepted, staleAcksRejected: rejected }, examples };
}

/**
 * Whether lease `candidate` was handed out after lease `than` of the same job. Attempts count the
 * leases of a job, so they order them (dlqRetry resets them, which our workload never does); with
 * equal or unknown attempts the token decides: `<jobId>.<attempt>.<raft index>.<position>` in
 * base 36 (older nodes: `<jobId>.<attempt>.<leaseIndex>` in decimal). Unparseable: assume later.
 */
function isLaterLease(candidate: { token: string; attempt: number | null }, than: { token: string; attempt: number | null }): boolean {
  if (candidate.attempt !== null && than.attempt !== null && candidate.attempt !== than.attempt) return candidate.attempt > than.attempt;
  const a = tokenOrder(candidate.token);
  const b = tokenOrder(than.token);
  if (a === null || b === null) return true;
  return a[0] !== b[0] ? a[0] > b[0] : a[1] > b[1];
}

/** (raft index, position) of a lease token, or null. */
export function tokenOrder(token: string): [number, number] | null {
  const parts = token.split('.');
  if (parts.length >= 4) {
    const index = parseInt(parts[parts.length - 2]!, 36);
    const position = parseInt(parts[parts.length - 1]!, 36);
    return Number.isFinite(index) && Number.isFinite(position) ? [index, position] : null;
  }
  const index = Number(parts[parts.length - 1]);
  return parts.length === 3 && Number.isFinite(index) ? [index, 0] : null;
}

/** Idempotency: every acknowledged enqueue with the same idempotency key got the same job id. */
export function checkIdempotency(ops: Op[]): CheckResult {
  const idsByKey = new Map<string, Set<string>>();
  for (const op of ops) {
    if (op.f !== 'enqueue' || op.type !== 'ok' || !op.value.idempotencyKey || !op.value.id) continue;
    const set = idsByKey.get(op.value.idempotencyKey) ?? new Set<string>();
    set.add(op.value.id);
    idsByKey.set(op.value.idempotencyKey, set);
  }
  const split = [...idsByKey.entries()].filter(([, ids]) => ids.size > 1);
  return {
    name: 'idempotency',
    valid: split.length === 0,
    counts: { keys: idsByKey.size, keysWithSeveralJobs: split.length },
    examples: take(split).map(([k, ids]) => `key ${k} -> ${[...ids].join(', ')}`),
  };
}

/** Convergence after heal: every node reached the same applied index and state hash within the bound. */
export function checkConvergence(ops: Op[]): CheckResult {
  const obs = ops.filter((o): o is Extract<Op, { f: 'converge' }> => o.f === 'converge');
  if (obs.length === 0) return { name: 'convergence', valid: false, counts: { observations: 0 }, examples: ['no convergence observation recorded'] };
  const last = obs[obs.length - 1]!;
  const hashes = new Set(last.value.nodes.map((n) => `${n.appliedIndex}:${n.hash}`));
  const valid = last.value.converged && hashes.size === 1 && last.value.nodes.length > 0;
  return {
    name: 'convergence',
    valid,
    counts: { nodes: last.value.nodes.length, distinctStates: hashes.size, boundMs: last.value.boundMs },
    examples: valid ? [] : last.value.nodes.map((n) => `${n.node}: applied ${n.appliedIndex} hash ${n.hash.slice(0, 12)}`),
  };
}

export interface Window {
  fault: string;
  startMs: number;
  stopMs: number;
}

/** Fault windows from nemesis start/stop events (an unstopped fault lasts to the end). */
export function faultWindows(ops: Op[]): Window[] {
  const open = new Map<string, number>();
  const windows: Window[] = [];
  let endMs = 0;
  for (const op of ops) {
    endMs = Math.max(endMs, op.timeMs);
    if (op.f !== 'nemesis') continue;
    const id = `${op.value.fault}|${op.value.detail ?? ''}`;
    if (op.value.phase === 'start') open.set(id, op.timeMs);
    else if (op.value.phase === 'stop' && open.has(id)) {
      windows.push({ fault: op.value.fault, startMs: open.get(id)!, stopMs: op.timeMs });
      open.delete(id);
    }
  }
  for (const [id, startMs] of open) windows.push({ fault: id.split('|')[0]!, startMs, stopMs: endMs });
  return windows.sort((a, b) => a.startMs - b.startMs);
}

/**
 * Availability: the longest stretch with no successful enqueue while producers were running,
 * overall and per fault kind (the gap that overlaps each fault window). Informational: it is
 * valid unless no enqueue succeeded at all.
 */
export function checkAvailability(ops: Op[]): CheckResult {
  const okTimes = ops.filter((o) => o.f === 'enqueue' && o.type === 'ok').map((o) => o.timeMs).sort((a, b) => a - b);
  const invokes = ops.filter((o) => o.f === 'enqueue' && o.type === 'invoke').map((o) => o.timeMs);
  if (invokes.length === 0) return { name: 'availability', valid: true, counts: { okEnqueues: 0, longestGapMs: 0 }, examples: [] };
  // Loops, not Math.min(...invokes): spreading a long run's invokes overflows the stack (~150k arguments).
  const firstMs = invokes.reduce((a, b) => Math.min(a, b), Infinity);
  const lastMs = invokes.reduce((a, b) => Math.max(a, b), -Infinity);
  const points = [firstMs, ...okTimes.filter((t) => t >= firstMs && t <= lastMs), lastMs];
  const counts: Record<string, number> = { okEnqueues: okTimes.length, longestGapMs: 0 };
  const windows = faultWindows(ops);
  for (let i = 1; i < points.length; i++) {
    const gapStart = points[i - 1]!;
    const gap = points[i]! - gapStart;
    if (gap > counts.longestGapMs!) counts.longestGapMs = gap;
    for (const w of windows) {
      if (gapStart <= w.stopMs && points[i]! >= w.startMs) {
        const key = `longestGapMs.${w.fault}`;
        counts[key] = Math.max(counts[key] ?? 0, gap);
      }
    }
  }
  return { name: 'availability', valid: okTimes.length > 0, counts, examples: [] };
}

/** States in which a job still has work to do; after the final drain none may be left in them. */
const UNFINISHED_STATES: ReadonlySet<string> = new Set(['waiting', 'delayed', 'active', 'failed']);

/**
 * The final state against what clients were told. lostEnqueues: a job whose enqueue was
 * acknowledged does not exist at the end (and never completed); lostCompletions: an ack that
 * succeeded, but the job is not completed at the end (a committed ack rolled back);
 * inventedCompletions: a job completed that no worker ever tried to ack; unfinished: work left
 * after the drain (a lease that never expires, a job nobody can lease). Reads that failed
 * ('unknown') are counted, not judged.
 */
export function checkFinalState(ops: Op[]): CheckResult {
  const final = ops.filter((o): o is Extract<Op, { f: 'final-state' }> => o.f === 'final-state').at(-1);
  if (final === undefined) return { name: 'final-state', valid: false, counts: { jobs: 0 }, examples: ['no final-state observation recorded'] };
  const stateById = new Map(final.value.jobs.map((j) => [j.id, j.state]));
  const statesByKey = new Map<string, string[]>();
  for (const j of final.value.jobs) statesByKey.set(j.key, [...(statesByKey.get(j.key) ?? []), j.state]);
  const acknowledgedKeys = new Set<string>();
  const ackedIds = new Set<string>();
  const ackTried = new Set<string>();
  for (const op of ops) {
    if (op.f === 'enqueue' && op.type === 'ok') acknowledgedKeys.add(op.value.key);
    else if (op.f === 'ack' && op.type === 'invoke') ackTried.add(op.value.id);
    else if (op.f === 'ack' && op.type === 'ok') ackedIds.add(op.value.id);
  }
  const lostEnqueues = [...acknowledgedKeys].filter((k) => {
    const states = statesByKey.get(k);
    return states !== undefined && states.length > 0 && states.every((st) => st === 'missing');
  });
  const lostCompletions = [...ackedIds].filter((id) => {
    const st = stateById.get(id);
    return st !== undefined && st !== 'unknown' && st !== 'completed';
  });
  const invented = final.value.jobs.filter((j) => j.state === 'completed' && !ackTried.has(j.id));
  const unfinished = final.value.jobs.filter((j) => UNFINISHED_STATES.has(j.state));
  const unknown = final.value.jobs.filter((j) => j.state === 'unknown').length;
  return {
    name: 'final-state',
    valid: lostEnqueues.length === 0 && lostCompletions.length === 0 && invented.length === 0 && unfinished.length === 0,
    counts: {
      jobs: final.value.jobs.length,
      completed: final.value.jobs.filter((j) => j.state === 'completed').length,
      lostEnqueues: lostEnqueues.length,
      lostCompletions: lostCompletions.length,
      inventedCompletions: invented.length,
      unfinished: unfinished.length,
      unknown,
    },
    examples: [
      ...take(lostEnqueues).map((k) => `acknowledged enqueue ${k} missing at the end`),
      ...take(lostCompletions).map((id) => `acked ${id} is ${stateById.get(id)} at the end`),
      ...take(invented).map((j) => `${j.id} completed without any ack`),
      ...take(unfinished).map((j) => `${j.id} still ${j.state} after the drain`),
    ].slice(0, EXAMPLES_MAX),
  };
}

type NemesisOp = Extract<Op, { f: 'nemesis' }>;

function nemesisEvents(ops: Op[], fault: string): NemesisOp[] {
  return ops.filter((o): o is NemesisOp => o.f === 'nemesis' && o.value.phase === 'event' && o.value.fault === fault);
}

/** Node processes that exited on their own (an assertion, an unhandled error) or could not restart after a plain crash. */
export function checkNodeCrashes(ops: Op[]): CheckResult {
  const crashes = nemesisEvents(ops, 'crash');
  return {
    name: 'node-crashes',
    valid: crashes.length === 0,
    counts: { crashes: crashes.length },
    examples: take(crashes).map((o) => `${(o.timeMs / 1000).toFixed(1)} s: ${o.value.detail ?? ''}`),
  };
}

/**
 * Disk damage on a stopped node: it must either refuse to start with a clear error
 * (STORAGE_CORRUPT and a non-zero exit: event "refused: …") or start ("started: …"; whether it
 * then served lost data is for the other checkers). A refusal without a clear error, or one the
 * harness could not classify, is invalid.
 */
export function checkDiskFaults(ops: Op[]): CheckResult {
  const events = nemesisEvents(ops, 'disk');
  const refused = events.filter((o) => o.value.detail?.startsWith('refused:'));
  const started = events.filter((o) => o.value.detail?.startsWith('started:'));
  const unclear = events.filter((o) => o.value.detail?.startsWith('refused-unclear:'));
  return {
    name: 'disk-faults',
    valid: unclear.length === 0,
    // notDamaged: skipped (a member was down) or the fault itself failed; nothing to judge.
    counts: { damaged: refused.length + started.length + unclear.length, refusedClearly: refused.length, started: started.length, unclear: unclear.length, notDamaged: events.length - refused.length - started.length - unclear.length },
    examples: take(unclear).map((o) => o.value.detail ?? ''),
  };
}

/**
 * A schedule under faults (schedule-probe.ts): every firing enqueued exactly one job, and there were
 * no more firings than whole intervals between setting it and reading it back, plus one (a firing
 * is in the log, so a failover must neither repeat one nor fire early); at least one happened. A
 * run without the probe (an older history) has nothing to judge.
 */
export function checkScheduleFirings(ops: Op[]): CheckResult {
  const set = ops.find((o): o is Extract<Op, { f: 'schedule-set' }> => o.f === 'schedule-set');
  if (set === undefined) return { name: 'schedule-firings', valid: true, counts: { schedules: 0 }, examples: [] };
  if (set.type !== 'ok') return { name: 'schedule-firings', valid: false, counts: { schedules: 1 }, examples: [`the schedule could not be set: ${set.error ?? ''}`] };
  const finals = ops.filter((o): o is Extract<Op, { f: 'schedule-final' }> => o.f === 'schedule-final');
  const last = finals[finals.length - 1];
  if (last === undefined || last.type !== 'ok') {
    return { name: 'schedule-firings', valid: false, counts: { schedules: 1 }, examples: [`no reading of the schedule at the end${last?.error ? `: ${last.error}` : ''}`] };
  }
  const { runs, refused, enqueued, everyMs } = last.value;
  const runsMax = Math.floor((last.timeMs - set.timeMs) / everyMs) + 1;
  const examples: string[] = [];
  if (enqueued !== runs - refused) examples.push(`${runs} firings (${refused} refused) but ${enqueued} jobs enqueued`);
  if (runs > runsMax) examples.push(`${runs} firings in ${last.timeMs - set.timeMs} ms of ${everyMs} ms intervals: at most ${runsMax}`);
  if (runs === 0) examples.push('the schedule never fired');
  return { name: 'schedule-firings', valid: examples.length === 0, counts: { runs, refused, enqueued, runsMax }, examples };
}

export function checkAll(ops: Op[]): CheckResult[] {
  return [
    checkTotalQueue(ops),
    checkExactlyOnceCompletion(ops),
    checkStaleAcks(ops),
    checkIdempotency(ops),
    checkFinalState(ops),
    checkConvergence(ops),
    checkNodeCrashes(ops),
    checkDiskFaults(ops),
    checkScheduleFirings(ops),
    checkAvailability(ops),
  ];
}
