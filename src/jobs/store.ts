// The replicated state of the broker and the only code that changes a job's state. The command
// handlers (enqueue.ts, lease.ts, tick.ts, admin.ts) decide; the transitions here keep every
// index consistent with the job: per-queue counts, lanes, the due heap, the lease heap and the
// retention logs.
//
// Time indexes, with lazy deletion (heap.ts):
//   due     delayed + failed jobs by (runAtMs, id); live iff the job is still delayed/failed.
//           A job is in it at most once live: it enters only from new or active, and leaves by
//           promotion (popped) or by cancel (final; the stale entry keeps its runAtMs unchanged).
//   leases  active leases by (expiresAtMs, job id); live iff `lease.job.lease === lease`.
//   ageChecks one entry per (queue, retention log) whose oldest job will age out.

import { RETAIN_COMPLETED_MAX, RETAIN_COMPLETED_MS, RETAIN_DEAD_MAX, RETAIN_DEAD_MS, STATE_BYTES_MAX, STATE_BYTES_PER_JOB } from '../limits.js';
import { MinHeap } from './heap.js';
import { IdempotencyIndex } from './idempotency.js';
import { JobIndex } from './job-index.js';
import { compareLeaseExpiry, compareRunAt, compareStrings, EntryStamp, JobRecord, LeaseRecord } from './job-record.js';
import { QueueState, type RetentionKind } from './queue-state.js';
import { ScheduleTable } from './schedules.js';
import { SessionTable } from './sessions.js';
import type { JobState } from './types.js';

/** The transitions a job may make; anything else is a bug in a handler. */
const TRANSITIONS: Record<JobState, readonly JobState[]> = {
  waiting: ['active', 'cancelled'],
  delayed: ['waiting', 'cancelled'],
  failed: ['waiting', 'cancelled'],
  active: ['completed', 'failed', 'dead', 'waiting', 'cancelled'],
  dead: ['waiting'],
  completed: [],
  cancelled: [],
};

const RETENTION = {
  done: { countMax: RETAIN_COMPLETED_MAX, ageMs: RETAIN_COMPLETED_MS },
  dead: { countMax: RETAIN_DEAD_MAX, ageMs: RETAIN_DEAD_MS },
} as const;

interface AgeCheck {
  readonly dueAtMs: number;
  readonly queue: QueueState;
  readonly kind: RetentionKind;
}

function compareAgeChecks(a: AgeCheck, b: AgeCheck): number {
  if (a.dueAtMs !== b.dueAtMs) return a.dueAtMs - b.dueAtMs;
  const byQueue = compareStrings(a.queue.name, b.queue.name);
  return byQueue !== 0 ? byQueue : compareStrings(a.kind, b.kind);
}

export function isDueLive(rec: JobRecord): boolean {
  return rec.state === 'delayed' || rec.state === 'failed';
}

export function isLeaseLive(lease: LeaseRecord): boolean {
  return lease.job.lease === lease;
}

export class JobStore {
  readonly jobs = new JobIndex();
  readonly queues = new Map<string, QueueState>();
  readonly idempotency = new IdempotencyIndex();
  readonly sessions = new SessionTable();
  readonly schedules = new ScheduleTable();
  readonly due = new MinHeap<JobRecord>(compareRunAt);
  readonly leases = new MinHeap<LeaseRecord>(compareLeaseExpiry);
  private readonly ageChecks = new MinHeap<AgeCheck>(compareAgeChecks);
  /** Live entries of `due` and `leases`, to bound their garbage. */
  dueCount = 0;
  activeCount = 0;
  /** Numbers finished jobs (see JobRecord.finishSeq); replicated. */
  finishSeq = 0;
  /** Where the next multi-queue lease starts its round-robin; replicated. */
  leaseRotation = 0;
  /** Payload bytes of the jobs held (sizes the snapshot buffer up front). */
  payloadBytesTotal = 0;
  /** Ack results (bytes) and error messages (characters) of the jobs held: set through setResult and setLastError. */
  detailBytesTotal = 0;
  /**
   * STATE_BYTES_MAX, which enqueues may not pass; a test may set a smaller one. Not part of the
   * image: every node of a cluster must run with the same value, as with every other limit.
   */
  stateBytesMax = STATE_BYTES_MAX;
  /** The stamp the last restored job got: the next one from the same entry shares it. */
  private lastStamp: EntryStamp | null = null;

  /**
   * A stamp for a job restored from a snapshot: its entry's (`index` > 0, for an assigned id) or
   * any with its creation time (`index` 0, a client-given id). Memory only, not replicated state.
   */
  restoredStamp(index: number, nowMs: number): EntryStamp {
    const last = this.lastStamp;
    if (last !== null && last.nowMs === nowMs && (index === 0 || last.index === index)) return last;
    this.lastStamp = new EntryStamp(index, nowMs);
    return this.lastStamp;
  }

  queue(name: string): QueueState | undefined {
    return this.queues.get(name);
  }

  queueOrCreate(name: string): QueueState {
    let q = this.queues.get(name);
    if (q === undefined) {
      q = new QueueState(name);
      this.queues.set(name, q);
    }
    return q;
  }

  queueOf(rec: JobRecord): QueueState {
    const q = this.queues.get(rec.queue);
    if (q === undefined) throw new Error(`invariant: job ${rec.id} belongs to unknown queue ${rec.queue}`);
    return q;
  }

  /** The job state held, as STATE_BYTES_MAX counts it. */
  get stateBytes(): number {
    return this.jobs.size * STATE_BYTES_PER_JOB + this.payloadBytesTotal + this.detailBytesTotal;
  }

  /** Sets a held job's ack result (stored bytes, or null), keeping detailBytesTotal. */
  setResult(rec: JobRecord, result: string | null): void {
    this.detailBytesTotal += (result?.length ?? 0) - (rec.result?.length ?? 0);
    rec.result = result;
  }

  /** Sets a held job's last error message, keeping detailBytesTotal. */
  setLastError(rec: JobRecord, error: string | null): void {
    this.detailBytesTotal += (error?.length ?? 0) - (rec.lastError?.length ?? 0);
    rec.lastError = error;
  }

  /** A new job (state waiting or delayed) enters the store. */
  admit(rec: JobRecord, q: QueueState): void {
    if (rec.queue !== q.name) throw new Error(`invariant: job ${rec.id} admitted to the wrong queue`);
    this.jobs.add(rec);
    this.payloadBytesTotal += rec.payload?.length ?? 0;
    q.counts[rec.state] += 1;
    q.totals.enqueued += 1;
    if (rec.state === 'waiting') q.lanes.push(rec);
    else if (rec.state === 'delayed') {
      this.dueCount += 1;
      this.pushDue(rec);
    } else throw new Error(`invariant: job ${rec.id} admitted in state ${rec.state}`);
  }

  /**
   * A job from a snapshot enters the store in any state. Its lane and retention-log positions
   * are restored separately, in the snapshot's order; the heaps are rebuilt here.
   */
  adopt(rec: JobRecord, q: QueueState): void {
    if ((rec.state === 'active') !== (rec.lease !== null)) throw new Error(`invariant: job ${rec.id} is ${rec.state} with lease ${rec.lease?.token}`);
    this.jobs.add(rec);
    this.payloadBytesTotal += rec.payload?.length ?? 0;
    this.detailBytesTotal += detailBytes(rec);
    q.counts[rec.state] += 1;
    if (isDueLive(rec)) {
      this.dueCount += 1;
      this.due.push(rec);
    } else if (rec.lease !== null) {
      this.activeCount += 1;
      this.leases.push(rec.lease);
    }
  }

  /** The one place a job's state changes. */
  private setState(rec: JobRecord, q: QueueState, to: JobState): void {
    const from = rec.state;
    if (!TRANSITIONS[from].includes(to)) throw new Error(`invariant: job ${rec.id} cannot go ${from} -> ${to}`);
    q.counts[from] -= 1;
    q.counts[to] += 1;
    if (q.counts[from] < 0) throw new Error(`invariant: queue ${q.name} counts ${from} below zero`);
    if (isDueLive(rec)) this.dueCount -= 1;
    if (from === 'active') this.activeCount -= 1;
    rec.state = to;
    if (isDueLive(rec)) this.dueCount += 1;
    if (to === 'active') this.activeCount += 1;
  }

  /** waiting -> active under `lease`. */
  activate(rec: JobRecord, q: QueueState, lease: LeaseRecord, nowMs: number): void {
    if (lease.job !== rec || rec.lease !== null) throw new Error(`invariant: job ${rec.id} leased twice`);
    rec.attempts += 1;
    rec.startedAtMs = nowMs;
    rec.lease = lease;
    this.setState(rec, q, 'active');
    this.pushLease(lease);
  }

  /** A heartbeat: the same token, a later expiry. The old lease object turns stale in the heap. */
  renewLease(rec: JobRecord, lease: LeaseRecord): void {
    const current = rec.lease;
    if (current === null || current.token !== lease.token || lease.job !== rec) throw new Error(`invariant: renewing a lease job ${rec.id} does not hold`);
    rec.lease = lease;
    this.pushLease(lease);
  }

  /** Ends the current lease (ack, fail, expiry, cancel): its token is stale from now on. */
  dropLease(rec: JobRecord): void {
    if (rec.state !== 'active' || rec.lease === null) throw new Error(`invariant: job ${rec.id} has no lease to drop`);
    rec.lease = null;
  }

  /** -> waiting, at the tail of its lane. */
  makeWaiting(rec: JobRecord, q: QueueState): void {
    if (rec.lease !== null) throw new Error(`invariant: job ${rec.id} waits while holding a lease`);
    this.setState(rec, q, 'waiting');
    q.lanes.push(rec);
  }

  /** active -> failed, due again at `runAtMs`. */
  scheduleRetry(rec: JobRecord, q: QueueState, runAtMs: number): void {
    if (rec.lease !== null) throw new Error(`invariant: job ${rec.id} retries while holding a lease`);
    rec.runAtMs = runAtMs;
    this.setState(rec, q, 'failed');
    this.pushDue(rec);
  }

  /** A waiting job leaves its lane other than by lease (cancel). */
  leaveLane(rec: JobRecord, q: QueueState): void {
    if (rec.state !== 'waiting') throw new Error(`invariant: job ${rec.id} leaves a lane while ${rec.state}`);
    q.lanes.forget(rec);
  }

  /** -> completed, cancelled or dead; enters its retention log, which is trimmed by count at once. */
  finish(rec: JobRecord, q: QueueState, to: 'completed' | 'cancelled' | 'dead', nowMs: number): void {
    if (rec.lease !== null) throw new Error(`invariant: job ${rec.id} finishes while holding a lease`);
    this.setState(rec, q, to);
    rec.finishedAtMs = nowMs;
    this.finishSeq += 1;
    rec.finishSeq = this.finishSeq;
    const kind: RetentionKind = to === 'dead' ? 'dead' : 'done';
    q.log(kind).push(rec);
    this.trimByCount(q, kind);
    this.scheduleAgeCheck(q, kind);
  }

  /** dead -> waiting with attempts reset (dlqRetry). */
  reviveDead(rec: JobRecord, q: QueueState, nowMs: number): void {
    rec.finishSeq = 0;
    rec.finishedAtMs = null;
    rec.attempts = 0;
    rec.runAtMs = nowMs;
    this.makeWaiting(rec, q);
    q.dead.compactIfBloated(q.counts.dead);
  }

  /** Removes a finished job for good (retention, dlqPurge). */
  remove(rec: JobRecord, q: QueueState): void {
    if (rec.state !== 'completed' && rec.state !== 'cancelled' && rec.state !== 'dead') {
      throw new Error(`invariant: removing job ${rec.id} while ${rec.state}`);
    }
    this.jobs.remove(rec);
    this.payloadBytesTotal -= rec.payload?.length ?? 0;
    this.detailBytesTotal -= detailBytes(rec);
    q.counts[rec.state] -= 1;
    rec.finishSeq = 0;
  }

  /** Removes up to `limit` finished jobs older than their retention age; returns how many. */
  applyAgeRetention(nowMs: number, limit: number): number {
    let removed = 0;
    while (removed < limit) {
      const check = this.ageChecks.peek();
      if (check === undefined || check.dueAtMs > nowMs) break;
      this.ageChecks.pop();
      const { queue: q, kind } = check;
      this.setAgeCheckScheduled(q, kind, false);
      const log = q.log(kind);
      const cutoffMs = nowMs - RETENTION[kind].ageMs;
      for (let rec = log.liveHead(); rec !== undefined && removed < limit && (rec.finishedAtMs as number) <= cutoffMs; rec = log.liveHead()) {
        log.shift();
        this.remove(rec, q);
        removed += 1;
      }
      // Due again at the new oldest job's age (at once, if the limit cut this round short).
      this.scheduleAgeCheck(q, kind);
    }
    return removed;
  }

  /** When the next age check is due; null when no finished job is held. */
  nextAgeCheckMs(): number | null {
    return this.ageChecks.peek()?.dueAtMs ?? null;
  }

  /** After a restore: one age check per non-empty retention log. */
  rescheduleAgeChecks(): void {
    for (const q of this.queues.values()) {
      this.scheduleAgeCheck(q, 'done');
      this.scheduleAgeCheck(q, 'dead');
    }
  }

  private trimByCount(q: QueueState, kind: RetentionKind): void {
    const log = q.log(kind);
    while (q.retainedCount(kind) > RETENTION[kind].countMax) {
      const oldest = log.liveHead();
      if (oldest === undefined) throw new Error(`invariant: queue ${q.name} retains ${kind} jobs its log does not hold`);
      log.shift();
      this.remove(oldest, q);
    }
  }

  private scheduleAgeCheck(q: QueueState, kind: RetentionKind): void {
    if (kind === 'done' ? q.doneAgeCheckScheduled : q.deadAgeCheckScheduled) return;
    const oldest = q.log(kind).liveHead();
    if (oldest === undefined) return;
    if (oldest.finishedAtMs === null) throw new Error(`invariant: retained job ${oldest.id} has no finish time`);
    this.ageChecks.push({ dueAtMs: oldest.finishedAtMs + RETENTION[kind].ageMs, queue: q, kind });
    this.setAgeCheckScheduled(q, kind, true);
  }

  private setAgeCheckScheduled(q: QueueState, kind: RetentionKind, scheduled: boolean): void {
    if (kind === 'done') q.doneAgeCheckScheduled = scheduled;
    else q.deadAgeCheckScheduled = scheduled;
  }

  private pushDue(rec: JobRecord): void {
    this.due.push(rec);
    this.due.compactIfBloated(this.dueCount, isDueLive);
  }

  private pushLease(lease: LeaseRecord): void {
    this.leases.push(lease);
    this.leases.compactIfBloated(this.activeCount, isLeaseLive);
  }
}

function detailBytes(rec: JobRecord): number {
  return (rec.result?.length ?? 0) + (rec.lastError?.length ?? 0);
}
