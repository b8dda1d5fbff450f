// One handler per command. Each runs after validateCommand accepted the command, decides what
// happens, and makes it happen through the store's transitions. A client mistake is an error
// outcome; only a broken invariant throws.

import { ERROR_MESSAGE_LENGTH_MAX, LEASE_MS_DEFAULT, MAX_ATTEMPTS_DEFAULT, QUEUES_MAX } from '../limits.js';
import { backoffDelayMs } from './backoff.js';
import { JOB_NAME_DEFAULT, LEASE_EXPIRED_ERROR, PRIORITY_DEFAULT } from './defaults.js';
import { ASSIGNED_IDS_PER_ENTRY_MAX, assignedJobId, leaseToken } from './ids.js';
import { BACKOFF_SHARED_DEFAULT, JobRecord, LeaseRecord } from './job-record.js';
import { badRequestOutcome, failure, ok } from './outcome.js';
import type { QueueState } from './queue-state.js';
import { isLeaseLive, type JobStore } from './store.js';
import type { Backoff, Command, EnqueueSpec, LeasedJob, Outcome } from './types.js';

type Cmd<K extends Command['op']> = Extract<Command, { op: K }>;

/** Where in the log a command is applied: all it may know about time and position. */
export class EntryContext {
  /** Position of the current envelope within the entry (part of lease tokens). */
  envelopePosition = 0;
  /** Ids assigned so far in this entry (the position part of assigned ids). */
  assignedIds = 0;

  constructor(
    readonly index: number,
    readonly nowMs: number,
  ) {}
}

function resolveBackoff(given: Partial<Backoff> | undefined | null): Readonly<Backoff> {
  if (given === undefined || given === null) return BACKOFF_SHARED_DEFAULT;
  const backoff = {
    baseMs: given.baseMs ?? BACKOFF_SHARED_DEFAULT.baseMs,
    capMs: given.capMs ?? BACKOFF_SHARED_DEFAULT.capMs,
    jitter: given.jitter ?? BACKOFF_SHARED_DEFAULT.jitter,
  };
  const isDefault = backoff.baseMs === BACKOFF_SHARED_DEFAULT.baseMs && backoff.capMs === BACKOFF_SHARED_DEFAULT.capMs && backoff.jitter === BACKOFF_SHARED_DEFAULT.jitter;
  return isDefault ? BACKOFF_SHARED_DEFAULT : backoff;
}

/** A job runs at runAtMs, else after delayMs, else now; a time already past means now. */
function resolveRunAtMs(spec: EnqueueSpec, nowMs: number): number {
  const runAtMs = spec.runAtMs ?? nowMs + (spec.delayMs ?? 0);
  return Math.max(runAtMs, nowMs);
}

function enqueueOne(store: JobStore, spec: EnqueueSpec, ctx: EntryContext): { id: string; duplicate: boolean } {
  if (spec.id != null && store.jobs.has(spec.id)) return { id: spec.id, duplicate: true };
  const q = store.queueOrCreate(spec.queue);
  const key = spec.idempotencyKey ?? null;
  if (key !== null) {
    const firstId = store.idempotency.lookup(q.name, key, ctx.nowMs);
    if (firstId !== null) return { id: firstId, duplicate: true };
  }
  const id = spec.id ?? assignedJobId(ctx.index, ctx.assignedIds++);
  const runAtMs = resolveRunAtMs(spec, ctx.nowMs);
  const rec = new JobRecord(
    id,
    q.name,
    spec.name ?? JOB_NAME_DEFAULT,
    spec.payload ?? null,
    spec.priority ?? PRIORITY_DEFAULT,
    spec.maxAttempts ?? MAX_ATTEMPTS_DEFAULT,
    resolveBackoff(spec.backoff),
    spec.leaseMs ?? LEASE_MS_DEFAULT,
    key,
    ctx.nowMs,
    runAtMs > ctx.nowMs ? 'delayed' : 'waiting',
    runAtMs,
  );
  store.admit(rec, q);
  if (key !== null) store.idempotency.record(q.name, key, id, ctx.nowMs);
  return { id, duplicate: false };
}

export function applyEnqueue(store: JobStore, cmd: Cmd<'enqueue'>, ctx: EntryContext): Outcome {
  // Capacity checks first, so that a command either applies whole or not at all.
  const newQueues = new Set<string>();
  for (const spec of cmd.jobs) if (!store.queues.has(spec.queue)) newQueues.add(spec.queue);
  if (store.queues.size + newQueues.size > QUEUES_MAX) return badRequestOutcome('jobs', `the cluster holds at most ${QUEUES_MAX} queues`);
  if (ctx.assignedIds + cmd.jobs.length > ASSIGNED_IDS_PER_ENTRY_MAX) return failure('OVERLOADED', 'too many jobs in one log entry; retry');
  const ids: string[] = [];
  const duplicate: boolean[] = [];
  for (const spec of cmd.jobs) {
    const result = enqueueOne(store, spec, ctx);
    ids.push(result.id);
    duplicate.push(result.duplicate);
  }
  return ok({ ids, duplicate });
}

function leaseOne(store: JobStore, q: QueueState, rec: JobRecord, cmd: Cmd<'lease'>, ctx: EntryContext): LeasedJob {
  const attempt = rec.attempts + 1;
  const leaseMs = cmd.leaseMs ?? rec.leaseMs;
  const token = leaseToken(rec.id, attempt, ctx.index, ctx.envelopePosition);
  const lease = new LeaseRecord(rec, token, cmd.workerId, ctx.nowMs + leaseMs, leaseMs);
  store.activate(rec, q, lease, ctx.nowMs);
  return {
    id: rec.id,
    queue: rec.queue,
    name: rec.name,
    payload: rec.payload,
    priority: rec.priority,
    attempt,
    maxAttempts: rec.maxAttempts,
    token,
    leaseExpiresAtMs: lease.expiresAtMs,
  };
}

/**
 * Hands out up to `max` jobs, one per queue per round, round-robin over the named queues from an
 * offset that advances with every lease command, so no queue is always served first.
 */
export function applyLease(store: JobStore, cmd: Cmd<'lease'>, ctx: EntryContext): Outcome {
  const names = [...new Set(cmd.queues)];
  const start = store.leaseRotation % names.length;
  store.leaseRotation += 1;
  let round: QueueState[] = [];
  for (let i = 0; i < names.length; i++) {
    const q = store.queue(names[(start + i) % names.length] as string);
    if (q !== undefined && !q.paused && q.lanes.waitingTotal > 0) round.push(q);
  }
  const jobs: LeasedJob[] = [];
  while (round.length > 0 && jobs.length < cmd.max) {
    const next: QueueState[] = [];
    for (const q of round) {
      if (jobs.length === cmd.max) break;
      const rec = q.lanes.pop();
      if (rec === null) throw new Error(`invariant: queue ${q.name} had waiting jobs but its lanes gave none`);
      jobs.push(leaseOne(store, q, rec, cmd, ctx));
      if (q.lanes.waitingTotal > 0) next.push(q);
    }
    round = next;
  }
  return ok({ jobs });
}

/** The job and its lease when `token` is its current lease; else the error to answer. */
function holder(store: JobStore, jobId: string, token: string): { rec: JobRecord; lease: LeaseRecord } | Outcome {
  const rec = store.jobs.get(jobId);
  if (rec === undefined) return failure('NOT_FOUND', `job ${jobId} not found`);
  const lease = rec.lease;
  if (rec.state !== 'active' || lease === null || lease.token !== token) {
    return failure('STALE_LEASE', `job ${jobId}: the token is not its current lease (job is ${rec.state})`);
  }
  if (!isLeaseLive(lease) || !lease.token.startsWith(`${rec.id}.`)) throw new Error(`invariant: lease token ${lease.token} does not match job ${rec.id}`);
  return { rec, lease };
}

export function applyHeartbeat(store: JobStore, cmd: Cmd<'heartbeat'>, ctx: EntryContext): Outcome {
  const held = holder(store, cmd.jobId, cmd.token);
  if ('ok' in held) return held;
  const leaseMs = cmd.leaseMs ?? held.lease.grantMs;
  const renewed = new LeaseRecord(held.rec, held.lease.token, held.lease.workerId, ctx.nowMs + leaseMs, leaseMs);
  store.renewLease(held.rec, renewed);
  return ok({ leaseExpiresAtMs: renewed.expiresAtMs });
}

export function applyAck(store: JobStore, cmd: Cmd<'ack'>, ctx: EntryContext): Outcome {
  const held = holder(store, cmd.jobId, cmd.token);
  if ('ok' in held) return held;
  const q = store.queueOf(held.rec);
  store.dropLease(held.rec);
  held.rec.result = cmd.result ?? null;
  store.finish(held.rec, q, 'completed', ctx.nowMs);
  q.totals.completed += 1;
  return ok({ state: 'completed' });
}

export function applyFail(store: JobStore, cmd: Cmd<'fail'>, ctx: EntryContext): Outcome {
  const held = holder(store, cmd.jobId, cmd.token);
  if ('ok' in held) return held;
  const { rec } = held;
  const q = store.queueOf(rec);
  store.dropLease(rec);
  // Truncated rather than refused: refusing would leave the job active until its lease expired.
  rec.lastError = cmd.error.slice(0, ERROR_MESSAGE_LENGTH_MAX);
  q.totals.failed += 1;
  if (cmd.retryable && rec.attempts < rec.maxAttempts) {
    const retryAtMs = ctx.nowMs + backoffDelayMs(rec.backoff, rec.id, rec.attempts);
    store.scheduleRetry(rec, q, retryAtMs);
    q.totals.retried += 1;
    return ok({ state: 'failed', retryAtMs });
  }
  store.finish(rec, q, 'dead', ctx.nowMs);
  q.totals.dead += 1;
  return ok({ state: 'dead', retryAtMs: null });
}

export function applyCancel(store: JobStore, cmd: Cmd<'cancel'>, ctx: EntryContext): Outcome {
  const rec = store.jobs.get(cmd.jobId);
  if (rec === undefined) return failure('NOT_FOUND', `job ${cmd.jobId} not found`);
  const q = store.queueOf(rec);
  switch (rec.state) {
    case 'waiting':
      store.leaveLane(rec, q);
      break;
    case 'active':
      // The lease's token goes stale with it: a later ack or fail of this attempt gets STALE_LEASE.
      store.dropLease(rec);
      break;
    case 'delayed':
    case 'failed':
      break; // Its due-heap entry turns stale by the state change.
    default:
      return ok({ state: rec.state, cancelled: false });
  }
  store.finish(rec, q, 'cancelled', ctx.nowMs);
  return ok({ state: 'cancelled', cancelled: true });
}

/** Leases whose expiry has come: the job is handed out again, or is dead when out of attempts. */
function expireLeases(store: JobStore, nowMs: number): number {
  let expired = 0;
  for (;;) {
    const lease = store.leases.peek();
    if (lease === undefined || lease.expiresAtMs > nowMs) return expired;
    store.leases.pop();
    if (!isLeaseLive(lease)) continue;
    const rec = lease.job;
    const q = store.queueOf(rec);
    store.dropLease(rec);
    q.totals.expired += 1;
    expired += 1;
    if (rec.attempts >= rec.maxAttempts) {
      rec.lastError = LEASE_EXPIRED_ERROR;
      store.finish(rec, q, 'dead', nowMs);
      q.totals.dead += 1;
    } else {
      rec.redeliveries += 1;
      store.makeWaiting(rec, q);
    }
  }
}

/** Delayed and failed jobs whose time has come join the tail of their lane, by (runAtMs, id). */
function promoteDue(store: JobStore, nowMs: number): number {
  let promoted = 0;
  for (;;) {
    const rec = store.due.peek();
    if (rec === undefined || rec.runAtMs > nowMs) return promoted;
    store.due.pop();
    if (rec.state !== 'delayed' && rec.state !== 'failed') continue;
    store.makeWaiting(rec, store.queueOf(rec));
    promoted += 1;
  }
}

/** Time passes: everything here costs O(log n) per item due and O(1) when nothing is. */
export function applyTick(store: JobStore, ctx: EntryContext): Outcome {
  const expired = expireLeases(store, ctx.nowMs);
  const promoted = promoteDue(store, ctx.nowMs);
  const removed = store.applyAgeRetention(ctx.nowMs);
  store.sessions.expireIdle(ctx.nowMs);
  store.idempotency.expire(ctx.nowMs);
  return ok({ expired, promoted, removed });
}

export function applyPause(store: JobStore, cmd: Cmd<'pause'> | Cmd<'resume'>): Outcome {
  if (!store.queues.has(cmd.queue) && store.queues.size >= QUEUES_MAX) return badRequestOutcome('queue', `the cluster holds at most ${QUEUES_MAX} queues`);
  const q = store.queueOrCreate(cmd.queue);
  q.paused = cmd.op === 'pause';
  return ok(q.paused ? { paused: true } : { paused: false });
}

/** The dead jobs a DLQ command selects: the listed ones, or the oldest first; at most `max`. */
function selectDead(store: JobStore, q: QueueState, jobIds: string[] | undefined | null, max: number | undefined | null): JobRecord[] {
  const limit = max ?? Number.POSITIVE_INFINITY;
  const selected: JobRecord[] = [];
  if (jobIds !== undefined && jobIds !== null) {
    for (const id of new Set(jobIds)) {
      const rec = store.jobs.get(id);
      if (selected.length >= limit) break;
      if (rec !== undefined && rec.queue === q.name && rec.state === 'dead') selected.push(rec);
    }
    return selected;
  }
  for (const rec of q.dead.live()) {
    if (selected.length >= limit) break;
    selected.push(rec);
  }
  return selected;
}

export function applyDlqRetry(store: JobStore, cmd: Cmd<'dlqRetry'>, ctx: EntryContext): Outcome {
  const q = store.queue(cmd.queue);
  if (q === undefined) return ok({ retried: 0 });
  const selected = selectDead(store, q, cmd.jobIds, cmd.max);
  for (const rec of selected) {
    store.reviveDead(rec, q, ctx.nowMs);
    q.totals.retried += 1;
  }
  return ok({ retried: selected.length });
}

export function applyDlqPurge(store: JobStore, cmd: Cmd<'dlqPurge'>): Outcome {
  const q = store.queue(cmd.queue);
  if (q === undefined) return ok({ purged: 0 });
  const selected = selectDead(store, q, cmd.jobIds, cmd.max);
  for (const rec of selected) store.remove(rec, q);
  q.dead.compactIfBloated(q.counts.dead);
  return ok({ purged: selected.length });
}
