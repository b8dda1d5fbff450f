// The lease lifecycle: lease (hand jobs out), heartbeat (extend), ack (complete), fail (retry or
// dead-letter). Fencing: ack, fail and heartbeat must present the job's current token; any other
// token is STALE_LEASE and changes nothing, so a worker whose lease expired (or whose job was
// cancelled) can never complete an attempt that is no longer its own. A lease stays current
// until a tick expires it, even past its expiry time: until then no one else can hold the job.

import { ERROR_MESSAGE_LENGTH_MAX, LEASE_RESPONSE_BYTES_MAX } from '../limits.js';
import { backoffDelayMs } from './backoff.js';
import type { Cmd, EntryContext } from './entry-context.js';
import { leaseToken } from './ids.js';
import { JobRecord, LeaseRecord } from './job-record.js';
import { failure, ok } from './outcome.js';
import type { QueueState } from './queue-state.js';
import type { JobStore } from './store.js';
import { loadBytes, storeBytes } from './stored-bytes.js';
import type { AckItem, AckItemResult, Outcome, WireLeasedJob } from './types.js';

function leaseOne(store: JobStore, q: QueueState, rec: JobRecord, cmd: Cmd<'lease'>, ctx: EntryContext): WireLeasedJob {
  const attempt = rec.attempts + 1;
  const leaseMs = cmd.leaseMs ?? rec.leaseMs;
  const id = rec.id; // built from the entry's index and position: once
  const token = leaseToken(id, attempt, ctx.index, ctx.envelopePosition);
  const lease = new LeaseRecord(rec, token, cmd.workerId, ctx.nowMs + leaseMs, leaseMs);
  store.activate(rec, q, lease, ctx.nowMs);
  return {
    id,
    queue: rec.queue,
    name: rec.name,
    payload: rec.payload === null ? null : loadBytes(rec.payload),
    priority: rec.priority,
    attempt,
    maxAttempts: rec.maxAttempts,
    token,
    leaseExpiresAtMs: lease.expiresAtMs,
  };
}

/** Bytes a job's payload adds to a lease answer: its stored length (one character per byte). */
function payloadBytes(rec: JobRecord): number {
  return rec.payload === null ? 0 : rec.payload.length;
}

/**
 * Hands out up to `max` jobs (and at most LEASE_RESPONSE_BYTES_MAX of payload, so the answer fits
 * in a frame; at least one job), one per queue per round, round-robin over the named queues from an
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
  const jobs: WireLeasedJob[] = [];
  let bytes = 0;
  while (round.length > 0 && jobs.length < cmd.max && bytes < LEASE_RESPONSE_BYTES_MAX) {
    const next: QueueState[] = [];
    for (const q of round) {
      if (jobs.length === cmd.max || bytes >= LEASE_RESPONSE_BYTES_MAX) break;
      const rec = q.lanes.pop();
      if (rec === null) throw new Error(`invariant: queue ${q.name} had waiting jobs but its lanes gave none`);
      jobs.push(leaseOne(store, q, rec, cmd, ctx));
      bytes += payloadBytes(rec);
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
  if (lease.job !== rec || !lease.token.startsWith(`${rec.id}.`)) throw new Error(`invariant: lease token ${lease.token} does not match job ${rec.id}`);
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

export function applyAck(store: JobStore, cmd: Cmd<'ack'> | AckItem, ctx: EntryContext): Outcome {
  const held = holder(store, cmd.jobId, cmd.token);
  if ('ok' in held) return held;
  const q = store.queueOf(held.rec);
  store.dropLease(held.rec);
  store.setResult(held.rec, cmd.result === undefined || cmd.result === null ? null : storeBytes(cmd.result));
  store.finish(held.rec, q, 'completed', ctx.nowMs);
  q.totals.completed += 1;
  return ok({ state: 'completed' });
}

/** Each ack applies on its own, in order: one stale token does not stop the others. */
export function applyAckMany(store: JobStore, cmd: Cmd<'ackMany'>, ctx: EntryContext): Outcome {
  const results: AckItemResult[] = [];
  for (const item of cmd.acks) {
    const outcome = applyAck(store, item, ctx);
    results.push(outcome.ok ? { state: 'completed' } : { error: outcome.error });
  }
  return ok({ results });
}

/**
 * Hands a leased job back untouched (a worker leased it ahead and is shutting down before it
 * started): it waits again at the tail of its lane, and the attempt the lease counted is undone,
 * since no handler ran. A job whose handler ran goes back with fail instead, using its attempt.
 */
export function applyRelease(store: JobStore, cmd: Cmd<'release'>): Outcome {
  const held = holder(store, cmd.jobId, cmd.token);
  if ('ok' in held) return held;
  const { rec } = held;
  store.dropLease(rec);
  rec.attempts -= 1;
  store.makeWaiting(rec, store.queueOf(rec));
  return ok({ state: 'waiting' });
}

export function applyFail(store: JobStore, cmd: Cmd<'fail'>, ctx: EntryContext): Outcome {
  const held = holder(store, cmd.jobId, cmd.token);
  if ('ok' in held) return held;
  const { rec } = held;
  const q = store.queueOf(rec);
  store.dropLease(rec);
  // Truncated rather than refused: refusing would leave the job active until its lease expired.
  store.setLastError(rec, cmd.error.slice(0, ERROR_MESSAGE_LENGTH_MAX));
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
