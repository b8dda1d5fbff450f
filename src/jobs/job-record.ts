// The state machine's own representation of a job: one object of fixed shape per job (no
// closures, no per-job maps), the lease in a separate small object that exists only while the
// job is active, and the default backoff shared by every job that did not ask for its own.

import { BACKOFF_DEFAULT } from '../limits.js';
import { loadBytesOrNull } from './stored-bytes.js';
import type { Backoff, JobState, WireJob } from './types.js';

/** Shared by all jobs with the default backoff, so they do not each carry three numbers. */
export const BACKOFF_SHARED_DEFAULT: Readonly<Backoff> = Object.freeze({ ...BACKOFF_DEFAULT });

/**
 * One lease of one job. Immutable: a heartbeat replaces the object, so the lease heap (which
 * holds these objects) can tell a live entry from a stale one by identity (`job.lease === this`).
 */
export class LeaseRecord {
  constructor(
    readonly job: JobRecord,
    readonly token: string,
    readonly workerId: string,
    readonly expiresAtMs: number,
    /** The lease length granted; a heartbeat without its own leaseMs extends by this much. */
    readonly grantMs: number,
  ) {}
}

export class JobRecord {
  state: JobState;
  attempts = 0;
  redeliveries = 0;
  lastError: string | null = null;
  /** The ack's result bytes as a one-byte string (stored-bytes.ts); null until completed. */
  result: string | null = null;
  runAtMs: number;
  startedAtMs: number | null = null;
  finishedAtMs: number | null = null;
  lease: LeaseRecord | null = null;
  /**
   * Nonzero while the job sits in a retention log (completed, cancelled, dead): the value of the
   * store's finish counter when it got there. A retention-log entry is live only while its
   * recorded number still equals this one.
   */
  finishSeq = 0;

  constructor(
    readonly id: string,
    /** Interned: the queue's own name string, shared by all its jobs. */
    readonly queue: string,
    readonly name: string,
    /** The payload bytes as a one-byte string (stored-bytes.ts); null when enqueued without one. */
    readonly payload: string | null,
    readonly priority: number,
    readonly maxAttempts: number,
    readonly backoff: Readonly<Backoff>,
    readonly leaseMs: number,
    readonly idempotencyKey: string | null,
    readonly createdAtMs: number,
    state: JobState,
    runAtMs: number,
  ) {
    this.state = state;
    this.runAtMs = runAtMs;
  }
}

/** The wire view of a job: a fresh object, payload and result in buffers of their own. */
export function toJob(rec: JobRecord): WireJob {
  const lease = rec.lease;
  return {
    id: rec.id,
    queue: rec.queue,
    name: rec.name,
    payload: loadBytesOrNull(rec.payload),
    priority: rec.priority,
    maxAttempts: rec.maxAttempts,
    backoff: { baseMs: rec.backoff.baseMs, capMs: rec.backoff.capMs, jitter: rec.backoff.jitter },
    leaseMs: rec.leaseMs,
    idempotencyKey: rec.idempotencyKey,
    state: rec.state,
    attempts: rec.attempts,
    redeliveries: rec.redeliveries,
    lastError: rec.lastError,
    result: loadBytesOrNull(rec.result),
    createdAtMs: rec.createdAtMs,
    runAtMs: rec.runAtMs,
    startedAtMs: rec.startedAtMs,
    finishedAtMs: rec.finishedAtMs,
    lease: lease === null ? null : { token: lease.token, workerId: lease.workerId, expiresAtMs: lease.expiresAtMs },
  };
}

/** Orders jobs by when they are due, then by id: a total order, so heap pops are deterministic. */
export function compareRunAt(a: JobRecord, b: JobRecord): number {
  if (a.runAtMs !== b.runAtMs) return a.runAtMs - b.runAtMs;
  return compareStrings(a.id, b.id);
}

export function compareLeaseExpiry(a: LeaseRecord, b: LeaseRecord): number {
  if (a.expiresAtMs !== b.expiresAtMs) return a.expiresAtMs - b.expiresAtMs;
  return compareStrings(a.job.id, b.job.id);
}

/** Code-unit order, never locale order: every replica must sort the same way. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
