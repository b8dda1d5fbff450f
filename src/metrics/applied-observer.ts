// Turns applied log entries into observations: jobs enqueued per priority, wait and run times,
// lease expiries and dead letters with their job ids. It runs on every node for every applied
// entry, and reads only the entry, its outcomes and the state machine right after the entry, so
// every node observes the same things (the figures agree across nodes; see README "Metrics").

import { PRIORITY_DEFAULT } from '../jobs/defaults.js';
import type { Command, EntryBatch, Job, Outcome, CommandResults } from '../jobs/types.js';
import type { JobTimes } from '../jobs/state-machine.js';
import { LeaseTracker, LEASES_TRACKED_MAX } from './lease-tracker.js';
import { WorkerActivity } from './worker-activity.js';

/** What the observer needs of the state machine: the job after the entry, and the entry's time. */
export interface AppliedJobReader {
  /** The whole job, copied: only for the rare events (dead letters, expiries). */
  getJob(id: string): Job | null;
  /** A job's times, not copied: for what happens to every job (lease, ack). */
  jobTimes(id: string): JobTimes | null;
  /** The (clamped) leader stamp of the entry just applied. */
  readonly lastAppliedNowMs: number;
}

export interface LeaseExpiry {
  jobId: string;
  queue: string;
  workerId: string;
  attempt: number;
  /** What became of the job: handed out again later, or out of attempts. */
  next: 'redelivered' | 'dead';
}

export interface DeadLetter {
  jobId: string;
  queue: string;
  attempts: number;
  cause: 'failed' | 'lease-expired';
  error: string | null;
}

export interface AppliedSink {
  /** `count` jobs of one queue and priority (a run of them in one command: one label lookup, not one per job). */
  enqueued(queue: string, priority: number, count: number): void;
  /** Enqueue (or the time it became eligible again) → lease, in seconds. */
  waited(queue: string, seconds: number): void;
  /** Lease → ack, in seconds. */
  ran(queue: string, seconds: number): void;
  leaseExpired(expiry: LeaseExpiry): void;
  /** Expiries of leases the tracker did not hold (from before a snapshot, or beyond its bound). */
  leasesExpiredUntracked(count: number): void;
  deadLettered(dead: DeadLetter): void;
}

type Cmd<K extends Command['op']> = Extract<Command, { op: K }>;

export class AppliedObserver {
  readonly leases: LeaseTracker;
  readonly workers = new WorkerActivity();
  /** Jobs handed back by a lease expiry: when they became eligible again (their runAtMs is older). */
  private readonly requeuedAtMs = new Map<string, number>();

  constructor(
    private readonly sink: AppliedSink,
    leasesTrackedMax: number = LEASES_TRACKED_MAX,
  ) {
    this.leases = new LeaseTracker(leasesTrackedMax);
  }

  applied(batch: EntryBatch, outcomes: readonly Outcome[], jobs: AppliedJobReader): void {
    const nowMs = jobs.lastAppliedNowMs;
    for (let i = 0; i < batch.envelopes.length; i++) {
      const outcome = outcomes[i];
      const cmd = batch.envelopes[i]?.cmd;
      if (outcome === undefined || !outcome.ok || cmd === undefined) continue;
      this.command(cmd, outcome.value, nowMs, jobs);
    }
  }

  /** The state machine was replaced wholesale: nothing tracked still describes it. */
  reset(): void {
    this.leases.clear();
    this.requeuedAtMs.clear();
  }

  private command(cmd: Command, value: unknown, nowMs: number, jobs: AppliedJobReader): void {
    switch (cmd.op) {
      case 'enqueue':
        return this.enqueue(cmd, value as CommandResults['enqueue']);
      case 'lease':
        return this.lease(cmd, value as CommandResults['lease'], nowMs, jobs);
      case 'heartbeat': {
        const lease = this.leases.renewed(cmd.jobId, cmd.token, (value as CommandResults['heartbeat']).leaseExpiresAtMs);
        if (lease) this.workers.seen(lease.workerId, nowMs);
        return;
      }
      case 'ack':
        return this.ack(cmd.jobId, nowMs, jobs);
      case 'ackMany': {
        const { results } = value as CommandResults['ackMany'];
        for (let i = 0; i < cmd.acks.length; i++) if (results[i] !== undefined && 'state' in results[i]!) this.ack(cmd.acks[i]!.jobId, nowMs, jobs);
        return;
      }
      case 'fail':
        return this.fail(cmd, value as CommandResults['fail'], nowMs, jobs);
      case 'release':
        this.leases.ended(cmd.jobId);
        if (this.requeuedAtMs.size < this.leases.trackedMax) this.requeuedAtMs.set(cmd.jobId, nowMs);
        return;
      case 'cancel':
        if ((value as CommandResults['cancel']).cancelled) {
          this.leases.ended(cmd.jobId);
          this.requeuedAtMs.delete(cmd.jobId);
        }
        return;
      case 'tick':
        return this.tick(value as CommandResults['tick'], nowMs, jobs);
      default:
        return; // pause, resume and DLQ commands move no lease and time nothing.
    }
  }

  private enqueue(cmd: Cmd<'enqueue'>, value: CommandResults['enqueue']): void {
    let runQueue = '';
    let runPriority = -1;
    let runCount = 0;
    for (let j = 0; j < cmd.jobs.length; j++) {
      const spec = cmd.jobs[j]!;
      if (value.duplicate[j] === true) continue;
      const priority = spec.priority ?? PRIORITY_DEFAULT;
      if (spec.queue === runQueue && priority === runPriority) {
        runCount += 1;
        continue;
      }
      if (runCount > 0) this.sink.enqueued(runQueue, runPriority, runCount);
      runQueue = spec.queue;
      runPriority = priority;
      runCount = 1;
    }
    if (runCount > 0) this.sink.enqueued(runQueue, runPriority, runCount);
  }

  private lease(cmd: Cmd<'lease'>, value: CommandResults['lease'], nowMs: number, jobs: AppliedJobReader): void {
    this.workers.seen(cmd.workerId, nowMs);
    for (const leased of value.jobs) {
      const job = jobs.jobTimes(leased.id);
      const eligibleMs = this.requeuedAtMs.get(leased.id) ?? job?.runAtMs ?? job?.createdAtMs;
      this.requeuedAtMs.delete(leased.id);
      if (eligibleMs !== undefined) this.sink.waited(leased.queue, Math.max(0, nowMs - eligibleMs) / 1000);
      this.leases.leased({ jobId: leased.id, queue: leased.queue, workerId: cmd.workerId, token: leased.token, attempt: leased.attempt, expiresAtMs: leased.leaseExpiresAtMs });
    }
  }

  private ack(jobId: string, nowMs: number, jobs: AppliedJobReader): void {
    const lease = this.leases.ended(jobId);
    if (lease) this.workers.seen(lease.workerId, nowMs);
    const job = jobs.jobTimes(jobId);
    // Retention may already have removed a completed job in this entry; then there is nothing to time.
    if (job !== null && job.startedAtMs !== null) this.sink.ran(job.queue, Math.max(0, nowMs - job.startedAtMs) / 1000);
  }

  private fail(cmd: Cmd<'fail'>, value: CommandResults['fail'], nowMs: number, jobs: AppliedJobReader): void {
    const lease = this.leases.ended(cmd.jobId);
    if (lease) this.workers.seen(lease.workerId, nowMs);
    if (value.state !== 'dead') return;
    const job = jobs.getJob(cmd.jobId);
    const queue = job?.queue ?? lease?.queue;
    if (queue === undefined) return;
    this.sink.deadLettered({ jobId: cmd.jobId, queue, attempts: job?.attempts ?? lease?.attempt ?? 0, cause: 'failed', error: job?.lastError ?? cmd.error });
  }

  private tick(value: CommandResults['tick'], nowMs: number, jobs: AppliedJobReader): void {
    // Jobs schedules enqueued: few (a firing is one job), so each is read back for its queue and priority.
    for (const id of value.fired) {
      const job = jobs.getJob(id);
      if (job !== null) this.sink.enqueued(job.queue, job.priority, 1);
    }
    if (value.expired === 0) return;
    let identified = 0;
    for (const lease of this.leases.due(nowMs)) {
      const job = jobs.getJob(lease.jobId);
      if (job !== null && job.lease?.token === lease.token) {
        // Still held: the tracker lost a heartbeat somewhere. Keep following the real lease.
        this.leases.leased({ ...lease, expiresAtMs: job.lease.expiresAtMs });
        continue;
      }
      identified += 1;
      const dead = job?.state === 'dead';
      this.sink.leaseExpired({ jobId: lease.jobId, queue: lease.queue, workerId: lease.workerId, attempt: lease.attempt, next: dead ? 'dead' : 'redelivered' });
      if (dead) {
        this.sink.deadLettered({ jobId: lease.jobId, queue: lease.queue, attempts: job.attempts, cause: 'lease-expired', error: job.lastError });
      } else if (this.requeuedAtMs.size < this.leases.trackedMax) {
        this.requeuedAtMs.set(lease.jobId, nowMs);
      }
    }
    const untracked = value.expired - identified;
    if (untracked > 0) this.sink.leasesExpiredUntracked(untracked);
  }
}
