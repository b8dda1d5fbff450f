// The state machine's own representation of a job. A queued job is what there are millions of,
// so its object holds only what a queued job needs, in 6 fields (72 bytes with V8's 8-byte
// fields; the record used to be 22 fields, 184 bytes, plus a 16-byte heap number per timestamp):
//   - settings most jobs share (queue, name, priority, attempts allowed, backoff, lease length):
//     one JobSettings per distinct combination, cached per queue (QueueState.settingsFor);
//   - the creation time as a shared EntryStamp: every job admitted by one entry points to one
//     stamp, so no job carries a boxed double of its own (ms timestamps are beyond small-integer
//     range); runAtMs is stored only when it differs from the creation time (delayed, retried),
//     in the field that otherwise points to the details;
//   - everything that is zero or null until a job is leased, finished or given an idempotency
//     key (attempts, lease, result, error, start and finish times, finish number) in one
//     JobDetails, created on first use.
// Accessors keep the old field names, so the command handlers read like before.

import { BACKOFF_DEFAULT } from '../limits.js';
import { assignedJobId } from './ids.js';
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

/**
 * One entry's Raft index and leader time, shared by the jobs it created, and those of its jobs
 * whose ids it assigned, by position (job-index.ts): a lone job is held as is, more in an array.
 */
export class EntryStamp {
  private jobs: JobRecord | (JobRecord | undefined)[] | null = null;
  private live = 0;

  constructor(
    /** 0 for a stamp that assigns no ids (a restored job with a client-given id). */
    readonly index: number,
    readonly nowMs: number,
  ) {}

  jobAt(position: number): JobRecord | undefined {
    const jobs = this.jobs;
    if (jobs === null) return undefined;
    if (Array.isArray(jobs)) return jobs[position];
    return jobs.assignedPosition === position ? jobs : undefined;
  }

  putJob(position: number, rec: JobRecord): void {
    const jobs = this.jobs;
    if (this.jobAt(position) !== undefined) throw new Error(`invariant: entry ${this.index} position ${position} assigned twice`);
    if (jobs === null) this.jobs = rec;
    else if (Array.isArray(jobs)) jobs[position] = rec;
    else {
      const held: (JobRecord | undefined)[] = [];
      held[jobs.assignedPosition] = jobs;
      held[position] = rec;
      this.jobs = held;
    }
    this.live += 1;
  }

  /** Forgets the job at `position`; true when the stamp holds no job any more. */
  dropJob(position: number): boolean {
    const jobs = this.jobs;
    if (Array.isArray(jobs)) jobs[position] = undefined;
    this.live -= 1;
    if (this.live === 0) this.jobs = null;
    return this.live === 0;
  }

  /** The jobs held, by position. */
  *heldJobs(): IterableIterator<JobRecord> {
    const jobs = this.jobs;
    if (jobs === null) return;
    if (!Array.isArray(jobs)) {
      yield jobs;
      return;
    }
    for (const rec of jobs) if (rec !== undefined) yield rec;
  }
}

/** What a job was enqueued with, apart from its id and payload; shared by the jobs that agree. */
export class JobSettings {
  constructor(
    /** Interned: the queue's own name string. */
    readonly queue: string,
    readonly name: string,
    readonly priority: number,
    readonly maxAttempts: number,
    readonly backoff: Readonly<Backoff>,
    readonly leaseMs: number,
  ) {}

  matches(name: string, maxAttempts: number, backoff: Readonly<Backoff>, leaseMs: number): boolean {
    const b = this.backoff;
    const sameBackoff = b === backoff || (b.baseMs === backoff.baseMs && b.capMs === backoff.capMs && b.jitter === backoff.jitter);
    return this.name === name && this.maxAttempts === maxAttempts && this.leaseMs === leaseMs && sameBackoff;
  }
}

/** The fields of a job that stay at their initial value until it is leased, finished, or keyed. */
export class JobDetails {
  attempts = 0;
  redeliveries = 0;
  lease: LeaseRecord | null = null;
  lastError: string | null = null;
  /** The ack's result bytes as a one-byte string (stored-bytes.ts); null until completed. */
  result: string | null = null;
  startedAtMs: number | null = null;
  finishedAtMs: number | null = null;
  /**
   * Nonzero while the job sits in a retention log (completed, cancelled, dead): the value of the
   * store's finish counter when it got there. A retention-log entry is live only while its
   * recorded number still equals this one.
   */
  finishSeq = 0;
  /** runAtMs when it differs from the creation time (see JobRecord.extra). */
  runAtOverrideMs: number | null = null;

  constructor(readonly idempotencyKey: string | null) {}
}

export class JobRecord {
  state: JobState;
  /**
   * Null for most queued jobs; the runAtMs of a job that runs later than it was created and has
   * no details yet (a delayed job); or its JobDetails, which then hold that runAtMs. One field for
   * both, because a queued job needs neither.
   */
  private extra: JobDetails | number | null;

  constructor(
    /** A client-given id, or the position of an id the entry of `created` assigned (ids.ts). */
    private readonly ident: string | number,
    readonly settings: JobSettings,
    /** The payload bytes as a one-byte string (stored-bytes.ts); null when enqueued without one. */
    readonly payload: string | null,
    readonly created: EntryStamp,
    state: JobState,
    runAtMs: number,
    idempotencyKey: string | null,
  ) {
    this.state = state;
    this.extra = idempotencyKey === null ? null : new JobDetails(idempotencyKey);
    this.runAtMs = runAtMs;
  }

  /** The id: the client's, or built from the entry's index and the position (a fresh string). */
  get id(): string {
    const ident = this.ident;
    return typeof ident === 'string' ? ident : assignedJobId(this.created.index, ident);
  }

  /** The position within its entry of an assigned id; -1 for a client-given id. */
  get assignedPosition(): number {
    const ident = this.ident;
    return typeof ident === 'number' ? ident : -1;
  }

  private get details(): JobDetails | null {
    const extra = this.extra;
    return typeof extra === 'object' ? extra : null;
  }

  /** The details, created on first write (taking over a pending runAtMs). */
  private more(): JobDetails {
    const extra = this.extra;
    if (typeof extra === 'object' && extra !== null) return extra;
    const details = new JobDetails(null);
    details.runAtOverrideMs = extra;
    this.extra = details;
    return details;
  }

  get queue(): string {
    return this.settings.queue;
  }
  get name(): string {
    return this.settings.name;
  }
  get priority(): number {
    return this.settings.priority;
  }
  get maxAttempts(): number {
    return this.settings.maxAttempts;
  }
  get backoff(): Readonly<Backoff> {
    return this.settings.backoff;
  }
  get leaseMs(): number {
    return this.settings.leaseMs;
  }
  get createdAtMs(): number {
    return this.created.nowMs;
  }

  get runAtMs(): number {
    const extra = this.extra;
    const overrideMs = typeof extra === 'number' ? extra : extra === null ? null : extra.runAtOverrideMs;
    return overrideMs ?? this.created.nowMs;
  }
  set runAtMs(ms: number) {
    const overrideMs = ms === this.created.nowMs ? null : ms;
    const extra = this.extra;
    if (typeof extra === 'object' && extra !== null) extra.runAtOverrideMs = overrideMs;
    else this.extra = overrideMs;
  }

  get idempotencyKey(): string | null {
    return this.details?.idempotencyKey ?? null;
  }

  get attempts(): number {
    return this.details?.attempts ?? 0;
  }
  set attempts(n: number) {
    if (n !== 0 || this.details !== null) this.more().attempts = n;
  }

  get redeliveries(): number {
    return this.details?.redeliveries ?? 0;
  }
  set redeliveries(n: number) {
    if (n !== 0 || this.details !== null) this.more().redeliveries = n;
  }

  get lease(): LeaseRecord | null {
    return this.details?.lease ?? null;
  }
  set lease(lease: LeaseRecord | null) {
    if (lease !== null || this.details !== null) this.more().lease = lease;
  }

  get lastError(): string | null {
    return this.details?.lastError ?? null;
  }
  set lastError(error: string | null) {
    if (error !== null || this.details !== null) this.more().lastError = error;
  }

  get result(): string | null {
    return this.details?.result ?? null;
  }
  set result(result: string | null) {
    if (result !== null || this.details !== null) this.more().result = result;
  }

  get startedAtMs(): number | null {
    return this.details?.startedAtMs ?? null;
  }
  set startedAtMs(ms: number | null) {
    if (ms !== null || this.details !== null) this.more().startedAtMs = ms;
  }

  get finishedAtMs(): number | null {
    return this.details?.finishedAtMs ?? null;
  }
  set finishedAtMs(ms: number | null) {
    if (ms !== null || this.details !== null) this.more().finishedAtMs = ms;
  }

  get finishSeq(): number {
    return this.details?.finishSeq ?? 0;
  }
  set finishSeq(seq: number) {
    if (seq !== 0 || this.details !== null) this.more().finishSeq = seq;
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
  return compareJobIds(a, b);
}

export function compareLeaseExpiry(a: LeaseRecord, b: LeaseRecord): number {
  if (a.expiresAtMs !== b.expiresAtMs) return a.expiresAtMs - b.expiresAtMs;
  return compareJobIds(a.job, b.job);
}

/** Orders jobs by id as the id strings compare (code units), without building assigned ids. */
export function compareJobIds(a: JobRecord, b: JobRecord): number {
  const pa = a.assignedPosition;
  const pb = b.assignedPosition;
  if (pa >= 0 && pb >= 0) {
    // Zero-padded, equal-length base-36 digits after the same prefix: numeric order is string order.
    const byIndex = a.created.index - b.created.index;
    return byIndex !== 0 ? byIndex : pa - pb;
  }
  return compareStrings(a.id, b.id);
}

/** Code-unit order, never locale order: every replica must sort the same way. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
