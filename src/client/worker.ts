// The consumer-side SDK, shaped like BullMQ's Worker: lease jobs (one long-poll request for as
// many jobs as there are free slots), run the handler, heartbeat while it runs, ack or fail, and
// on shutdown stop leasing, drain, and hand back what did not finish.

import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RaftqError } from '../errors.js';
import type { AckItemResult, LeasedJob, WireLeasedJob } from '../jobs/types.js';
import { ACK_BATCH_MAX, ERROR_MESSAGE_LENGTH_MAX, ID_PATTERN, LEASE_BATCH_MAX, LEASE_MS_DEFAULT, LEASE_MS_MAX, LEASE_MS_MIN, LEASE_WAIT_MS_MAX } from '../limits.js';
import type { OpResults } from '../protocol/messages.js';
import { decodeLeasedJob, encodeValue } from '../protocol/values.js';
import type { TransportOptions } from './transport.js';
import { closeOnSignals, stopClosingOnSignals } from './signals.js';
import { Transport } from './transport.js';

/** What a handler receives: the leased job, a manual heartbeat, and a signal to stop early. */
export interface WorkerJob extends LeasedJob {
  /** Extends the lease now. Rejects (and aborts `signal`) when the lease is lost. */
  heartbeat(): Promise<void>;
  /** Aborted when the lease is lost, or the worker shuts down before the handler returns. */
  readonly signal: AbortSignal;
}

export type JobHandler<R = unknown> = (job: WorkerJob) => Promise<R>;

export interface WorkerOptions<R = unknown> extends TransportOptions {
  queues: string | string[];
  handler: JobHandler<R>;
  /** Handlers running at once (default 1, at most LEASE_BATCH_MAX). */
  concurrency?: number;
  /** Lease (visibility timeout) asked for each job; heartbeats go every leaseMs / 3. Default 30 s. */
  leaseMs?: number;
  /** How long a lease request waits on the server for jobs when queues are empty. Default 5 s. */
  pollWaitMs?: number;
  /** On close, how long running handlers may finish before their jobs are handed back. Default 25 s. */
  shutdownGraceMs?: number;
  /** Close gracefully on SIGTERM / SIGINT (then re-raise it if nobody else listens). Default true. */
  handleSignals?: boolean;
  /** Shown in job leases; default host-pid-random. */
  workerId?: string;
  /**
   * At most this many jobs a worker leases ahead of its free slots (default: 4 × concurrency, at
   * most 1,000; 0: never). It leases ahead only while its handlers finish faster than a lease round
   * trip, when a freed slot would otherwise wait for the next lease, and then only what its slots
   * finish during one round trip (Little's law): jobs held ahead are about one round trip of work,
   * so it never holds back much that other workers could run.
   */
  prefetch?: number;
}

export interface WorkerEvents<R = unknown> {
  completed: [job: LeasedJob, result: R];
  failed: [job: LeasedJob, error: unknown, outcome: OpResults['fail']];
  /** The lease was taken away (expired, or the job was cancelled): the handler's signal is aborted. */
  leaseLost: [job: LeasedJob, error: RaftqError];
  error: [error: Error];
}

export const WORKER_POLL_WAIT_MS_DEFAULT = 5_000;
/** Leaves 5 s of Kubernetes' default 30 s termination grace for handing jobs back. */
export const WORKER_SHUTDOWN_GRACE_MS_DEFAULT = 25_000;
/** Pause after a lease answered empty without long-polling (pollWaitMs 0, or an early answer): do not spin. */
const EARLY_EMPTY_POLL_PAUSE_MS = 200;
/**
 * Acks (and fails) in flight per unit of concurrency. A slot frees as soon as its handler returns,
 * so the next job starts while the ack commits (as BullMQ does); this bounds how far acks may trail.
 */
const SETTLING_PER_SLOT_MAX = 4;
/**
 * Default prefetch per slot. With handlers far faster than a lease round trip, leasing one slot's
 * worth ahead (the earlier default) left the drain bound by round trips; four cut the cluster's CPU
 * per job by ~20% in `raftq bench --scenario process` (small entries cost a fsync and a message each).
 */
const PREFETCH_PER_SLOT_DEFAULT = 4;
/** Lease requests a worker keeps in flight at most (see Worker.drained). */
const LEASE_LANES = [0, 1, 2, 3] as const;

/** queued: leased ahead of a free slot (prefetch), waiting for one. */
type JobPhase = 'queued' | 'running' | 'settling' | 'done';

/**
 * The job a handler sees. Its AbortController is made only when a handler reads `signal` (most
 * never do, and one per job was 9% of a worker's CPU).
 */
class RunningJob implements WorkerJob {
  readonly id: string;
  readonly queue: string;
  readonly name: string;
  readonly payload: unknown;
  readonly priority: number;
  readonly attempt: number;
  readonly maxAttempts: number;
  readonly token: string;
  readonly leaseExpiresAtMs: number;
  private controller: AbortController | null = null;
  private abortedWith: { reason: unknown } | null = null;

  constructor(
    leased: LeasedJob,
    readonly heartbeat: () => Promise<void>,
  ) {
    this.id = leased.id;
    this.queue = leased.queue;
    this.name = leased.name;
    this.payload = leased.payload;
    this.priority = leased.priority;
    this.attempt = leased.attempt;
    this.maxAttempts = leased.maxAttempts;
    this.token = leased.token;
    this.leaseExpiresAtMs = leased.leaseExpiresAtMs;
  }

  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      if (this.abortedWith !== null) this.controller.abort(this.abortedWith.reason);
    }
    return this.controller.signal;
  }

  /** The worker's, not the handler's: the lease is lost or the worker is shutting down. */
  abort(reason: unknown): void {
    if (this.abortedWith !== null) return;
    this.abortedWith = { reason };
    this.controller?.abort(reason);
  }
}

interface PendingAck<R> {
  active: ActiveJob;
  result: R;
  settled(): void;
}

interface ActiveJob {
  leased: LeasedJob;
  job: RunningJob;
  phase: JobPhase;
  /** When the lease was granted or last extended (this process's clock): heartbeats go from it. */
  renewedAtMs: number;
  heartbeatInFlight: boolean;
  /** The payload is not msgpack, so no attempt can succeed: the job fails, not retryable. */
  payloadError: RaftqError | null;
  /** Settles once the job is no longer this worker's business (acked, failed, handed back, lost). */
  finished: Promise<void>;
  markFinished(): void;
}

export class Worker<R = unknown> extends EventEmitter<WorkerEvents<R>> {
  readonly workerId: string;
  private readonly transport: Transport;
  private readonly queues: string[];
  private readonly handler: JobHandler<R>;
  private readonly concurrency: number;
  private readonly leaseMs: number;
  private readonly pollWaitMs: number;
  private readonly shutdownGraceMs: number;
  private readonly handleSignals: boolean;
  private readonly prefetchMax: number;
  /** Leased jobs waiting for a slot, in lease order. */
  private ready: ActiveJob[] = [];
  /** Moving averages that decide whether to prefetch; NaN until measured. */
  private handlerMsAvg = Number.NaN;
  private leaseRoundTripMsAvg = Number.NaN;
  private readonly active = new Map<string, ActiveJob>();
  private readonly stopping = new AbortController();
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  /** Lease loops waiting for a free slot (lanes past the first: also for the queues to drain). */
  private loopWakers: (() => void)[] = [];
  /** Slots asked for by lease requests in flight: another request leases only what is left. */
  private slotsAsked = 0;
  private leaseCallsInFlight = 0;
  /**
   * The last lease answer was short: the queues are drained, so new jobs come one by one as they
   * are submitted. A second lease request then waits on the node while the first one's answer
   * travels back, and a job submitted in that gap rides in the same Raft entry as its lease (one
   * commit from submit to handler) instead of waiting for a lease entry of its own.
   */
  private drained = false;
  /** Handlers still running (the rest of `active` are settling: ack or fail in flight). */
  private handlersRunning = 0;
  private closing: Promise<void> | null = null;
  /** One timer for all running jobs' heartbeats (a timer per job cost more than the jobs). */
  private heartbeatTimer: NodeJS.Timeout | null = null;
  /** Acks of this event-loop turn, sent together by flushAcks. */
  private pendingAcks: PendingAck<R>[] = [];
  private acksInFlight = false;

  constructor(options: WorkerOptions<R>) {
    super();
    this.queues = typeof options.queues === 'string' ? [options.queues] : [...options.queues];
    this.handler = options.handler;
    this.concurrency = bounded(options.concurrency ?? 1, 1, LEASE_BATCH_MAX, 'concurrency');
    if (this.queues.length === 0) throw new RaftqError('BAD_REQUEST', 'queues must name at least one queue', { field: 'queues' });
    this.leaseMs = bounded(options.leaseMs ?? LEASE_MS_DEFAULT, LEASE_MS_MIN, LEASE_MS_MAX, 'leaseMs');
    this.pollWaitMs = bounded(options.pollWaitMs ?? WORKER_POLL_WAIT_MS_DEFAULT, 0, LEASE_WAIT_MS_MAX, 'pollWaitMs');
    this.shutdownGraceMs = bounded(options.shutdownGraceMs ?? WORKER_SHUTDOWN_GRACE_MS_DEFAULT, 0, Number.MAX_SAFE_INTEGER, 'shutdownGraceMs');
    this.handleSignals = options.handleSignals ?? true;
    this.workerId = options.workerId ?? defaultWorkerId();
    this.prefetchMax = bounded(options.prefetch ?? Math.min(PREFETCH_PER_SLOT_DEFAULT * this.concurrency, LEASE_BATCH_MAX), 0, LEASE_BATCH_MAX, 'prefetch');
    this.transport = new Transport(options);
  }

  /** Jobs this worker holds: running, leased ahead of a slot, or being acked. */
  get activeCount(): number {
    return this.active.size;
  }

  /** Lease requests this worker has in flight (long polls included). */
  get leaseRequestsInFlight(): number {
    return this.leaseCallsInFlight;
  }

  /** Starts leasing. Idempotent; a closed worker cannot start again. */
  start(): void {
    if (this.running || this.closing !== null) return;
    this.running = true;
    if (this.handleSignals) closeOnSignals(this);
    this.loopDone = Promise.all(LEASE_LANES.map((lane) => this.leaseLoop(lane))).then(() => undefined);
  }

  /**
   * Stops leasing, waits up to graceMs for running handlers and the jobs leased ahead (they run
   * as slots free), then aborts the rest and fails their jobs back as retryable so another worker
   * picks them up. Idempotent.
   */
  close(options: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.graceMs ?? this.shutdownGraceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.running = false;
    this.stopping.abort();
    this.wakeLoops();
    stopClosingOnSignals(this);
    // A lease long poll still waiting is not waited for (an idle worker closes at once): closing the
    // connection tells the node to drop it. Jobs it takes meanwhile are handed back by the loop.
    const drained = Promise.all([...this.active.values()].map((active) => active.finished));
    const timer = new AbortController();
    await Promise.race([drained, sleep(graceMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
    timer.abort();
    await this.settleLeftovers(new Error('worker shut down before the handler finished'));
    // A handler that ignores its signal may still run; its job is no longer ours to extend.
    if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = null;
    await this.transport.close();
    await this.loopDone;
  }

  /**
   * Hands back every job still running and waits for acks already under way. Loops, because a
   * lease answer may land meanwhile and add jobs, which must be handed back before the connection goes.
   */
  private async settleLeftovers(reason: Error): Promise<void> {
    for (;;) {
      const leftovers = [...this.active.values()];
      if (leftovers.length === 0) return;
      await Promise.all(
        leftovers.map((active) => {
          if (active.phase === 'running' || active.phase === 'queued') return this.handBack(active, reason);
          if (active.phase === 'settling') return active.finished;
          // Lease lost and the handler ignores its signal: nothing left for us to say about this job.
          this.active.delete(active.leased.id);
          return undefined;
        }),
      );
    }
  }

  /**
   * Lane 0 leases whenever slots are free; the other lanes only while the queues are drained (see
   * `drained`), each asking for a share of what is left. Busy queues keep one request in flight,
   * for every free slot: its answers come back full.
   */
  private async leaseLoop(lane: number): Promise<void> {
    while (this.running) {
      const held = this.handlersRunning + this.ready.length;
      const settling = this.active.size - held;
      const free = Math.min(this.concurrency + this.prefetchNow() - held, this.concurrency * SETTLING_PER_SLOT_MAX - settling) - this.slotsAsked;
      if (free <= 0 || (lane > 0 && !this.drained)) {
        await new Promise<void>((resolve) => this.loopWakers.push(resolve));
        continue;
      }
      const startedMs = Date.now();
      // Drained, each request leaves a share of the free slots to the lanes not yet asking.
      const share = this.drained ? Math.ceil(free / (LEASE_LANES.length - this.leaseCallsInFlight)) : free;
      const max = Math.min(share, LEASE_BATCH_MAX);
      let jobs: WireLeasedJob[];
      this.slotsAsked += max;
      this.leaseCallsInFlight += 1;
      this.wakeLoops();
      try {
        ({ jobs } = await this.transport.call(
          'lease',
          { queues: this.queues, max, leaseMs: this.leaseMs, waitMs: this.pollWaitMs, workerId: this.workerId },
          { longPollMs: this.pollWaitMs },
        ));
      } catch (error) {
        if (!this.running) return;
        // One lane retries: the others wait until answers come again.
        this.drained = false;
        this.reportError(error);
        await this.pause(this.transport.retry.capMs);
        continue;
      } finally {
        this.slotsAsked -= max;
        this.leaseCallsInFlight -= 1;
      }
      this.drained = jobs.length < max;
      if (!this.running) {
        // Leased while shutting down: hand them back untouched rather than start new work.
        for (const wire of jobs) void this.handBack(this.track(decodeLeasedJob(wire).job, null), new Error('worker shut down before the job started'));
        return;
      }
      // Only a full answer times the round trip: a short one may have long-polled for jobs.
      if (jobs.length === max) this.leaseRoundTripMsAvg = movingAverage(this.leaseRoundTripMsAvg, Date.now() - startedMs);
      for (const wire of jobs) {
        const { job, payloadError } = decodeLeasedJob(wire);
        this.ready.push(this.track(job, payloadError));
      }
      if (jobs.length > 0) this.startHeartbeats();
      this.startReady();
      this.wakeLoops();
      const answeredEarly = this.pollWaitMs === 0 || Date.now() - startedMs < this.pollWaitMs / 2;
      if (jobs.length === 0 && answeredEarly) await this.pause(EARLY_EMPTY_POLL_PAUSE_MS);
    }
  }

  private wakeLoops(): void {
    const wakers = this.loopWakers;
    if (wakers.length === 0) return;
    this.loopWakers = [];
    for (const wake of wakers) wake();
  }

  /** Sleeps, but wakes at once when the worker starts closing. */
  private async pause(delayMs: number): Promise<void> {
    await sleep(delayMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  private prefetchNow(): number {
    return prefetchFor(this.concurrency, this.prefetchMax, this.handlerMsAvg, this.leaseRoundTripMsAvg);
  }

  private track(leased: LeasedJob, payloadError: RaftqError | null): ActiveJob {
    let markFinished!: () => void;
    const finished = new Promise<void>((resolve) => (markFinished = resolve));
    const active: ActiveJob = {
      leased,
      phase: 'queued',
      renewedAtMs: Date.now(),
      heartbeatInFlight: false,
      payloadError,
      finished,
      markFinished: () => {
        this.active.delete(leased.id);
        markFinished();
      },
      job: new RunningJob(leased, () => this.heartbeat(active)),
    };
    this.active.set(leased.id, active);
    return active;
  }

  /** Fills free slots from the jobs leased ahead. Runs on after close begins: leased jobs are drained. */
  private startReady(): void {
    while (this.handlersRunning < this.concurrency && this.ready.length > 0) {
      const active = this.ready.shift()!;
      // Its lease was lost, or it was handed back, while it waited.
      if (active.phase !== 'queued') continue;
      active.phase = 'running';
      this.handlersRunning++;
      void this.execute(active).finally(() => {
        active.markFinished();
        this.wakeLoops();
      });
    }
  }

  /** Every running job is extended once leaseMs / 3 passed since its lease was granted or last extended. */
  private get heartbeatEveryMs(): number {
    return Math.max(1, Math.floor(this.leaseMs / 3));
  }

  private startHeartbeats(): void {
    if (this.heartbeatTimer !== null) return;
    // Checked twice per interval, so a job is extended at most leaseMs / 2 after its last renewal.
    this.heartbeatTimer = setInterval(() => this.heartbeatDue(), Math.max(1, Math.floor(this.heartbeatEveryMs / 2)));
  }

  private heartbeatDue(): void {
    if (this.handlersRunning === 0 && this.ready.length === 0) {
      if (this.heartbeatTimer !== null) clearInterval(this.heartbeatTimer);
      this.heartbeatTimer = null;
      return;
    }
    const dueBeforeMs = Date.now() - this.heartbeatEveryMs;
    for (const active of this.active.values()) {
      if ((active.phase === 'running' || active.phase === 'queued') && active.renewedAtMs <= dueBeforeMs) this.autoHeartbeat(active);
    }
  }

  private async execute(active: ActiveJob): Promise<void> {
    let outcome: { ok: true; result: R } | { ok: false; error: unknown };
    const startedMs = Date.now();
    try {
      if (active.payloadError !== null) throw active.payloadError;
      outcome = { ok: true, result: await this.handler(active.job) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    this.handlerMsAvg = movingAverage(this.handlerMsAvg, Date.now() - startedMs);
    this.handlersRunning--;
    this.startReady();
    this.wakeLoops(); // the slot is free: lease the next job while this one's ack commits
    // Lease lost or handed back at shutdown: the job is no longer ours to settle.
    if (active.phase !== 'running') return;
    active.phase = 'settling';
    if (outcome.ok) await this.ack(active, outcome.result);
    else await this.fail(active, outcome.error, isRetryableFailure(outcome.error));
  }

  /**
   * Acks go out together, as one ackMany (one request, one envelope in the log) instead of one
   * request each: those of one event-loop turn, and, while an ack request is in flight, all that
   * finish until it answers (group commit, without a timer: the busier, the bigger the batch).
   */
  private ack(active: ActiveJob, result: R): Promise<void> {
    return new Promise<void>((settled) => {
      this.pendingAcks.push({ active, result, settled });
      if (this.pendingAcks.length === 1 && !this.acksInFlight) setImmediate(() => void this.flushAcks());
    });
  }

  private async flushAcks(): Promise<void> {
    if (this.acksInFlight || this.pendingAcks.length === 0) return;
    const pending = this.pendingAcks;
    this.pendingAcks = [];
    this.acksInFlight = true;
    const sends: Promise<void>[] = [];
    for (let start = 0; start < pending.length; start += ACK_BATCH_MAX) {
      const chunk = pending.slice(start, start + ACK_BATCH_MAX);
      sends.push(chunk.length === 1 ? this.ackOne(chunk[0]!.active, chunk[0]!.result) : this.ackMany(chunk));
    }
    try {
      await Promise.all(sends);
    } finally {
      this.acksInFlight = false;
      for (const p of pending) p.settled();
      void this.flushAcks();
    }
  }

  private async ackMany(all: PendingAck<R>[]): Promise<void> {
    // A result that cannot be encoded is settled on its own (ackOne says why); the rest go together.
    const chunk: PendingAck<R>[] = [];
    const acks: { jobId: string; token: string; result?: Uint8Array }[] = [];
    const alone: Promise<void>[] = [];
    for (const pending of all) {
      const { id, token } = pending.active.leased;
      if (pending.result === undefined) {
        chunk.push(pending);
        acks.push({ jobId: id, token });
        continue;
      }
      let encoded: Uint8Array;
      try {
        encoded = encodeValue(pending.result, 'result');
      } catch {
        alone.push(this.ackOne(pending.active, pending.result));
        continue;
      }
      chunk.push(pending);
      acks.push({ jobId: id, token, result: encoded });
    }
    if (chunk.length > 0) await this.ackBatch(chunk, acks);
    await Promise.all(alone);
  }

  private async ackBatch(chunk: PendingAck<R>[], acks: { jobId: string; token: string; result?: Uint8Array }[]): Promise<void> {
    let results: AckItemResult[];
    try {
      ({ results } = await this.transport.call('ackMany', { acks }));
    } catch (error) {
      // One result too large for the request: settle each on its own, so only that job fails.
      if (error instanceof RaftqError && error.code === 'PAYLOAD_TOO_LARGE') {
        await Promise.all(chunk.map(({ active, result }) => this.ackOne(active, result)));
        return;
      }
      for (const { active } of chunk) active.phase = 'done';
      this.reportError(error);
      return;
    }
    chunk.forEach(({ active, result }, i) => {
      const answer = results[i];
      if (answer !== undefined && 'state' in answer) {
        active.phase = 'done';
        this.emit('completed', active.leased, result);
        return;
      }
      const error = answer === undefined ? new RaftqError('INTERNAL', `ackMany answered ${results.length} results for ${chunk.length} acks`) : RaftqError.fromWire(answer.error);
      if (this.leaseWasLost(active, error)) return;
      active.phase = 'done';
      this.reportError(error);
    });
  }

  private async ackOne(active: ActiveJob, result: R): Promise<void> {
    const { id, token } = active.leased;
    try {
      // A handler that returns nothing acks without a result (the job's result reads as null).
      await this.transport.call('ack', { jobId: id, token, result: result === undefined ? undefined : encodeValue(result, 'result') });
      active.phase = 'done';
      this.emit('completed', active.leased, result);
    } catch (error) {
      if (this.leaseWasLost(active, error)) return;
      if (error instanceof RaftqError && error.code === 'PAYLOAD_TOO_LARGE') {
        // Retrying cannot shrink the result: record why, without another attempt.
        await this.fail(active, new Error(`handler result rejected: ${error.message}`), false);
        return;
      }
      active.phase = 'done';
      this.reportError(error);
    }
  }

  private async fail(active: ActiveJob, error: unknown, retryable: boolean): Promise<void> {
    const { id, token } = active.leased;
    const message = (error instanceof Error ? error.message : String(error)).slice(0, ERROR_MESSAGE_LENGTH_MAX);
    try {
      const outcome = await this.transport.call('fail', { jobId: id, token, error: message, retryable });
      active.phase = 'done';
      this.emit('failed', active.leased, error, outcome);
    } catch (failure) {
      if (this.leaseWasLost(active, failure)) return;
      active.phase = 'done';
      this.reportError(failure);
    }
  }

  /** Gives an unfinished job back and aborts its handler, if it has one. Never throws. */
  private async handBack(active: ActiveJob, reason: Error): Promise<void> {
    if (active.phase !== 'running' && active.phase !== 'queued') return;
    const wasQueued = active.phase === 'queued';
    active.phase = 'settling';
    active.job.abort(reason);
    const { id, token } = active.leased;
    try {
      // A job no handler started goes back without using an attempt; a started one used its attempt.
      if (wasQueued) await this.transport.call('release', { jobId: id, token });
      else await this.transport.call('fail', { jobId: id, token, error: reason.message, retryable: true });
    } catch (error) {
      if (!isLeaseLoss(error)) this.reportError(error);
    } finally {
      active.phase = 'done';
      // A running handler's own completion marks it finished; a queued job has none.
      if (wasQueued) active.markFinished();
      else this.active.delete(id);
    }
  }

  private async heartbeat(active: ActiveJob): Promise<void> {
    if (active.phase !== 'running' && active.phase !== 'queued') throw new RaftqError('STALE_LEASE', `job ${active.leased.id}: the lease is no longer held`);
    const { id, token } = active.leased;
    const sentAtMs = Date.now();
    try {
      await this.transport.call('heartbeat', { jobId: id, token, leaseMs: this.leaseMs });
      active.renewedAtMs = sentAtMs;
    } catch (error) {
      this.leaseWasLost(active, error);
      throw error;
    }
  }

  private autoHeartbeat(active: ActiveJob): void {
    // One at a time: a slow answer must not pile up heartbeats behind it.
    if (active.heartbeatInFlight || (active.phase !== 'running' && active.phase !== 'queued')) return;
    active.heartbeatInFlight = true;
    this.heartbeat(active)
      .catch((error: unknown) => {
        if (!isLeaseLoss(error)) this.reportError(error);
      })
      .finally(() => (active.heartbeatInFlight = false));
  }

  /** When `error` says the lease is gone: abort the handler, tell listeners, and return true. */
  private leaseWasLost(active: ActiveJob, error: unknown): boolean {
    if (!isLeaseLoss(error)) return false;
    if (active.phase === 'done') return true;
    const wasQueued = active.phase === 'queued';
    active.phase = 'done';
    active.job.abort(error);
    // No handler will run for it: startReady skips it.
    if (wasQueued) active.markFinished();
    this.emit('leaseLost', active.leased, error);
    return true;
  }

  private reportError(error: unknown): void {
    const asError = error instanceof Error ? error : new Error(String(error));
    // An 'error' event with no listener would crash the process; a worker should not.
    if (this.listenerCount('error') > 0) this.emit('error', asError);
    else process.emitWarning(asError);
  }
}

/** STALE_LEASE: another worker holds the job now. NOT_FOUND: the job is gone (cancelled, purged). */
function isLeaseLoss(error: unknown): error is RaftqError {
  return error instanceof RaftqError && (error.code === 'STALE_LEASE' || error.code === 'NOT_FOUND');
}

function isRetryableFailure(error: unknown): boolean {
  return !(typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === false);
}

/**
 * Jobs to lease ahead of free slots: none while a handler takes longer than a lease round trip
 * (or either is not yet measured); else what the slots finish during one round trip, up to
 * prefetchMax. Larger leases also mean larger Raft entries: fewer fsyncs and messages per job.
 */
export function prefetchFor(concurrency: number, prefetchMax: number, handlerMsAvg: number, leaseRoundTripMsAvg: number): number {
  if (!(handlerMsAvg < leaseRoundTripMsAvg)) return 0;
  if (handlerMsAvg <= 0) return prefetchMax;
  return Math.min(prefetchMax, Math.ceil((concurrency * leaseRoundTripMsAvg) / handlerMsAvg));
}

/** Exponentially weighted, recent samples a fifth: follows a change in a few dozen jobs. */
function movingAverage(averageMs: number, sampleMs: number): number {
  return Number.isNaN(averageMs) ? sampleMs : averageMs * 0.8 + sampleMs * 0.2;
}

function bounded(value: number, min: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RaftqError('BAD_REQUEST', `${field} must be an integer in ${min}..${max}`, { field });
  return value;
}

function defaultWorkerId(): string {
  const id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`.replace(/[^A-Za-z0-9._:-]/g, '-').slice(-128);
  return ID_PATTERN.test(id) ? id : randomUUID();
}
