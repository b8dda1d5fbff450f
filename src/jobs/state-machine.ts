// The deterministic job state machine: a pure function of the log it is given. The runtime
// applies each committed Raft entry with applyBatch and answers reads after a ReadIndex.
//
// It never reads a clock (time is the leader's stamp in each entry), never draws a random number
// (jitter is a hash, ids and tokens derive from the Raft index), and never lets iteration order
// depend on anything but the log. Two replicas that apply the same entries hold byte-identical
// snapshots (see snapshot.ts); test/jobs/determinism.test.ts checks it.

import { createHash } from 'node:crypto';
import { applyCancel, applyDlqPurge, applyDlqRetry, applyPause } from './admin.js';
import { applyEnqueue } from './enqueue.js';
import { EntryContext } from './entry-context.js';
import { compareStrings, toJob } from './job-record.js';
import { badRequestOutcome } from './outcome.js';
import { applyAck, applyAckMany, applyFail, applyHeartbeat, applyLease, applyRelease } from './lease.js';
import type { MsgpackWriter } from './msgpack-writer.js';
import { decodeSnapshot, encodeSnapshot, snapshotBytesEstimate, writeSnapshot, writeSnapshotSteps, type DecodedSnapshot } from './snapshot.js';
import { isDueLive, isLeaseLive, JobStore } from './store.js';
import { applyScheduleRemove, applyScheduleSet } from './schedules.js';
import { applyTick } from './tick.js';
import type { Command, EntryBatch, Envelope, JobState, Outcome, QueueStats, WireJob, WireSchedule, WireScheduleSummary } from './types.js';
import { validateCommand } from './validate.js';

function isEnvelope(value: unknown): value is Envelope {
  if (typeof value !== 'object' || value === null) return false;
  const env = value as Record<string, unknown>;
  return typeof env.clientId === 'string' && typeof env.seq === 'number' && Number.isSafeInteger(env.seq) && env.seq >= 0;
}

function minOf(a: number | null, b: number | null): number | null {
  if (a === null) return b;
  if (b === null) return a;
  return Math.min(a, b);
}

/** When a job was created, became eligible to run, and last started; read-only. */
export interface JobTimes {
  readonly queue: string;
  readonly createdAtMs: number;
  readonly runAtMs: number;
  readonly startedAtMs: number | null;
}

export interface StateMachineOptions {
  /** Tests only: a smaller STATE_BYTES_MAX. Every node of a cluster must apply with the same limits. */
  stateBytesMax?: number;
  /** Tests only: smaller SESSION_RESULT_BYTES_MAX (per client) and SESSIONS_RESULT_BYTES_MAX (in all). */
  sessionResultBytesMax?: number;
  sessionsResultBytesMax?: number;
}

function applyOptions(store: JobStore, options: StateMachineOptions): void {
  if (options.stateBytesMax !== undefined) store.stateBytesMax = options.stateBytesMax;
  if (options.sessionResultBytesMax !== undefined) store.sessions.resultBytesPerClientMax = options.sessionResultBytesMax;
  if (options.sessionsResultBytesMax !== undefined) store.sessions.resultBytesMax = options.sessionsResultBytesMax;
}

export class JobStateMachine {
  private store: JobStore;
  private appliedIndex = 0;
  /** The time of the last applied entry; stamps never go below it. */
  private lastNowMs = 0;

  constructor(options: StateMachineOptions = {}) {
    this.store = new JobStore();
    applyOptions(this.store, options);
  }

  /**
   * Applies one Raft entry: each envelope in order, one outcome each. Call it for every entry in
   * log order; an entry without commands (a no-op) may be applied as an empty batch so that
   * lastAppliedIndex follows the log. Outcomes are shared with the session table: treat them
   * as immutable.
   */
  applyBatch(index: number, batch: EntryBatch): Outcome[] {
    if (!Number.isSafeInteger(index) || index <= this.appliedIndex) {
      throw new Error(`invariant: entry ${index} applied after entry ${this.appliedIndex}`);
    }
    if (typeof batch.nowMs !== 'number' || !Number.isFinite(batch.nowMs) || !Array.isArray(batch.envelopes)) {
      throw new Error(`invariant: entry ${index} is not an EntryBatch`);
    }
    // The leader clamps its stamps; clamping again here keeps time monotonic even if it did not,
    // identically on every replica.
    const nowMs = Math.max(Math.floor(batch.nowMs), this.lastNowMs);
    const ctx = new EntryContext(index, nowMs);
    const outcomes: Outcome[] = [];
    for (let i = 0; i < batch.envelopes.length; i++) {
      ctx.envelopePosition = i;
      outcomes.push(this.applyEnvelope(batch.envelopes[i], ctx));
    }
    this.appliedIndex = index;
    this.lastNowMs = nowMs;
    return outcomes;
  }

  /** A request from a client session applies once per (clientId, seq) (dissertation §6.3). */
  private applyEnvelope(envelope: unknown, ctx: EntryContext): Outcome {
    if (!isEnvelope(envelope)) return badRequestOutcome('envelope', 'must carry a string clientId and a non-negative integer seq');
    if (envelope.clientId === '') return this.dispatch(envelope.cmd, ctx);
    const session = this.store.sessions.open(envelope.clientId, ctx.nowMs);
    const earlier = session.results.get(envelope.seq);
    if (earlier !== undefined) return earlier;
    if (envelope.seq <= session.evictedSeqMax) {
      return badRequestOutcome('seq', `client ${envelope.clientId}: the result of seq ${envelope.seq} is no longer kept, and it may have been applied`);
    }
    const outcome = this.dispatch(envelope.cmd, ctx);
    // A capacity refusal applied nothing, and the client retries it with the same seq: remembered,
    // every retry would get the refusal back even once there is room.
    // The answers the client holds go first: they need not push anyone's results past a bound.
    const floor = envelope.seqFloor;
    if (typeof floor === 'number' && Number.isSafeInteger(floor) && floor <= envelope.seq) this.store.sessions.forgetBelow(session, floor);
    if (outcome.ok || outcome.error.code !== 'OVERLOADED') this.store.sessions.remember(session, envelope.seq, outcome);
    return outcome;
  }

  private dispatch(cmd: unknown, ctx: EntryContext): Outcome {
    const invalid = validateCommand(cmd, ctx.nowMs);
    if (invalid !== null) return { ok: false, error: invalid };
    const command = cmd as Command;
    const store = this.store;
    switch (command.op) {
      case 'enqueue':
        return applyEnqueue(store, command, ctx);
      case 'lease':
        return applyLease(store, command, ctx);
      case 'heartbeat':
        return applyHeartbeat(store, command, ctx);
      case 'ack':
        return applyAck(store, command, ctx);
      case 'ackMany':
        return applyAckMany(store, command, ctx);
      case 'release':
        return applyRelease(store, command);
      case 'fail':
        return applyFail(store, command, ctx);
      case 'cancel':
        return applyCancel(store, command, ctx);
      case 'tick':
        return applyTick(store, ctx);
      case 'scheduleSet':
        return applyScheduleSet(store, command, ctx);
      case 'scheduleRemove':
        return applyScheduleRemove(store, command);
      case 'pause':
      case 'resume':
        return applyPause(store, command);
      case 'dlqRetry':
        return applyDlqRetry(store, command, ctx);
      case 'dlqPurge':
        return applyDlqPurge(store, command);
      default: {
        const unhandled: never = command;
        throw new Error(`invariant: validated command ${JSON.stringify(unhandled)} has no handler`);
      }
    }
  }

  // ---- Reads (after a ReadIndex; they change nothing replicated) ----

  get lastAppliedIndex(): number {
    return this.appliedIndex;
  }

  /** The leader's time as of the last applied entry. */
  get lastAppliedNowMs(): number {
    return this.lastNowMs;
  }

  get jobCount(): number {
    return this.store.jobs.size;
  }

  getJob(id: string): WireJob | null {
    const rec = this.store.jobs.get(id);
    return rec === undefined ? null : toJob(rec);
  }

  /** The times of a job, without copying it (metrics read these for every job they time). */
  jobTimes(id: string): JobTimes | null {
    return this.store.jobs.get(id) ?? null;
  }

  /** A job's state without copying the job (for waiters checked after every applied entry). */
  jobState(id: string): JobState | null {
    return this.store.jobs.get(id)?.state ?? null;
  }

  queueStats(queue: string): QueueStats | null {
    return this.store.queue(queue)?.stats() ?? null;
  }

  /** Every queue, sorted by name (code-unit order). */
  listQueues(): QueueStats[] {
    const queues = [...this.store.queues.values()].sort((a, b) => compareStrings(a.name, b.name));
    return queues.map((q) => q.stats());
  }

  /** Dead jobs of a queue, oldest death first. O(offset + limit). */
  listDead(queue: string, offset: number, limit: number): WireJob[] {
    const q = this.store.queue(queue);
    const jobs: WireJob[] = [];
    if (q === undefined || limit <= 0) return jobs;
    let skipped = 0;
    for (const rec of q.dead.live()) {
      if (skipped < offset) {
        skipped += 1;
        continue;
      }
      jobs.push(toJob(rec));
      if (jobs.length >= limit) break;
    }
    return jobs;
  }

  /** Repeatable-job schedules (of one queue, if given), by (queue, scheduleId), without their payloads. */
  listSchedules(queue?: string): WireScheduleSummary[] {
    return this.store.schedules.list(queue).map((s) => s.toSummary());
  }

  /** One schedule with its job's payload, or null. */
  getSchedule(queue: string, scheduleId: string): WireSchedule | null {
    return this.store.schedules.get(queue, scheduleId)?.toWire() ?? null;
  }

  /**
   * The earliest lease expiry, delayed/failed runAt or schedule firing: when the leader should
   * propose a tick. Null when nothing is scheduled. Pops stale heap entries off the top first
   * (amortized O(log n)); that changes no replicated state, only the heap's garbage.
   */
  nextDueMs(): number | null {
    const lease = this.store.leases.pruneTop(isLeaseLive);
    const job = this.store.due.pruneTop(isDueLive);
    return minOf(minOf(lease?.expiresAtMs ?? null, job?.runAtMs ?? null), this.store.schedules.nextRunAtMs);
  }

  /**
   * When housekeeping next has work: a finished job ages out, a session turns idle, or an
   * idempotency key leaves its window. Not urgent; a runtime may tick for it lazily.
   */
  nextHousekeepingMs(): number | null {
    const store = this.store;
    return minOf(minOf(store.nextAgeCheckMs(), store.sessions.nextExpiryMs()), store.idempotency.nextExpiryMs());
  }

  /** Whether a lease on these queues would get a job now (long-polls wait while it is false). */
  hasAvailable(queues: string[]): boolean {
    for (const name of queues) {
      const q = this.store.queue(name);
      if (q !== undefined && !q.paused && q.lanes.waitingTotal > 0) return true;
    }
    return false;
  }

  /** Jobs a lease on this queue could take now (0 while it is paused). */
  availableCount(queue: string): number {
    const q = this.store.queue(queue);
    return q === undefined || q.paused ? 0 : q.lanes.waitingTotal;
  }

  isPaused(queue: string): boolean {
    return this.store.queue(queue)?.paused ?? false;
  }

  // ---- Snapshots ----

  snapshot(): Uint8Array {
    return encodeSnapshot(this.store, { appliedIndex: this.appliedIndex, lastNowMs: this.lastNowMs });
  }

  /** Writes the same image as snapshot() into `w`, after what the caller wrote there. */
  writeSnapshot(w: MsgpackWriter): void {
    writeSnapshot(w, this.store, { appliedIndex: this.appliedIndex, lastNowMs: this.lastNowMs });
  }

  /** writeSnapshot in steps (see writeSnapshotSteps): apply nothing until it is done. */
  writeSnapshotSteps(w: MsgpackWriter): Generator<void, void, void> {
    return writeSnapshotSteps(w, this.store, { appliedIndex: this.appliedIndex, lastNowMs: this.lastNowMs });
  }

  /** The job state held and its limit, as STATE_BYTES_MAX counts them. */
  get stateBytes(): { held: number; max: number } {
    return { held: this.store.stateBytes, max: this.store.stateBytesMax };
  }

  /** Bytes of results the client sessions keep, as SESSIONS_RESULT_BYTES_MAX counts them (replicated). */
  get sessionResultBytes(): number {
    return this.store.sessions.resultBytes;
  }

  /** About how many bytes snapshot() will take: to size its buffer once. */
  get snapshotBytesEstimate(): number {
    return snapshotBytesEstimate(this.store);
  }

  static restore(bytes: Uint8Array, options: StateMachineOptions = {}): JobStateMachine {
    return JobStateMachine.restoreDecoded(decodeSnapshot(bytes), options);
  }

  /** A machine from an image decoded piece by piece (SnapshotDecoder.finish). */
  static restoreDecoded({ store, meta }: DecodedSnapshot, options: StateMachineOptions = {}): JobStateMachine {
    const machine = new JobStateMachine();
    applyOptions(store, options);
    machine.store = store;
    machine.appliedIndex = meta.appliedIndex;
    machine.lastNowMs = meta.lastNowMs;
    return machine;
  }

  /** sha256 (hex) of the snapshot: equal on replicas that applied the same log. */
  stateHash(): string {
    return createHash('sha256').update(this.snapshot()).digest('hex');
  }
}
