// The consumer-side SDK, shaped like BullMQ's Worker: lease jobs (one long-poll request for as
// many jobs as there are free slots), run the handler, heartbeat while it runs, ack or fail, and
// on shutdown stop leasing, drain, and hand back what did not finish.

import { EventEmitter } from 'node:events';
import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { RaftqError } from '../errors.js';
import type { LeasedJob, WireLeasedJob } from '../jobs/types.js';
import { ERROR_MESSAGE_LENGTH_MAX, ID_PATTERN, LEASE_BATCH_MAX, LEASE_MS_DEFAULT, LEASE_MS_MAX, LEASE_MS_MIN, LEASE_WAIT_MS_MAX } from '../limits.js';
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

type JobPhase = 'running' | 'settling' | 'done';

interface ActiveJob {
  leased: LeasedJob;
  job: WorkerJob;
  abort: AbortController;
  phase: JobPhase;
  heartbeatTimer: NodeJS.Timeout | null;
  heartbeatInFlight: boolean;
  finished: Promise<void>;
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
  private readonly active = new Map<string, ActiveJob>();
  private readonly stopping = new AbortController();
  private running = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeLoop: (() => void) | null = null;
  /** Handlers still running (the rest of `active` are settling: ack or fail in flight). */
  private handlersRunning = 0;
  private closing: Promise<void> | null = null;

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
    this.transport = new Transport(options);
  }

  /** Jobs whose handlers are running now. */
  get activeCount(): number {
    return this.active.size;
  }

  /** Starts leasing. Idempotent; a closed worker cannot start again. */
  start(): void {
    if (this.running || this.closing !== null) return;
    this.running = true;
    if (this.handleSignals) closeOnSignals(this);
    this.loopDone = this.leaseLoop();
  }

  /**
   * Stops leasing, waits up to graceMs for running handlers, then aborts the rest and fails
   * their jobs back as retryable so another worker picks them up. Idempotent.
   */
  close(options: { graceMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.graceMs ?? this.shutdownGraceMs);
    return this.closing;
  }

  private async shutdown(graceMs: number): Promise<void> {
    this.running = false;
    this.stopping.abort();
    this.wakeLoop?.();
    stopClosingOnSignals(this);
    // A lease long poll still waiting is not waited for (an idle worker closes at once): closing the
    // connection tells the node to drop it. Jobs it takes meanwhile are handed back by the loop.
    const drained = Promise.all([...this.active.values()].map((active) => active.finished));
    const timer = new AbortController();
    await Promise.race([drained, sleep(graceMs, undefined, { signal: timer.signal }).catch(() => undefined)]);
    timer.abort();
    await this.settleLeftovers(new Error('worker shut down before the handler finished'));
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
          if (active.phase === 'running') return this.handBack(active, reason);
          if (active.phase === 'settling') return active.finished;
          // Lease lost and the handler ignores its signal: nothing left for us to say about this job.
          this.active.delete(active.leased.id);
          return undefined;
        }),
      );
    }
  }

  private async leaseLoop(): Promise<void> {
    while (this.running) {
      const settling = this.active.size - this.handlersRunning;
      const free = Math.min(this.concurrency - this.handlersRunning, this.concurrency * SETTLING_PER_SLOT_MAX - settling);
      if (free <= 0) {
        await new Promise<void>((resolve) => (this.wakeLoop = resolve));
        this.wakeLoop = null;
        continue;
      }
      const startedMs = Date.now();
      let jobs: WireLeasedJob[];
      try {
        ({ jobs } = await this.transport.call(
          'lease',
          { queues: this.queues, max: Math.min(free, LEASE_BATCH_MAX), leaseMs: this.leaseMs, waitMs: this.pollWaitMs, workerId: this.workerId },
          { longPollMs: this.pollWaitMs },
        ));
      } catch (error) {
        if (!this.running) return;
        this.reportError(error);
        await this.pause(this.transport.retry.capMs);
        continue;
      }
      if (!this.running) {
        // Leased while shutting down: hand them back untouched rather than start new work.
        for (const leased of jobs) {
          const active = this.track(decodeLeasedJob(leased).job);
          active.finished = this.handBack(active, new Error('worker shut down before the job started'));
        }
        return;
      }
      for (const leased of jobs) this.begin(leased);
      const answeredEarly = this.pollWaitMs === 0 || Date.now() - startedMs < this.pollWaitMs / 2;
      if (jobs.length === 0 && answeredEarly) await this.pause(EARLY_EMPTY_POLL_PAUSE_MS);
    }
  }

  /** Sleeps, but wakes at once when the worker starts closing. */
  private async pause(delayMs: number): Promise<void> {
    await sleep(delayMs, undefined, { signal: this.stopping.signal }).catch(() => undefined);
  }

  private track(leased: LeasedJob): ActiveJob {
    const abort = new AbortController();
    const active: ActiveJob = {
      leased,
      abort,
      phase: 'running',
      heartbeatTimer: null,
      heartbeatInFlight: false,
      finished: Promise.resolve(),
      job: { ...leased, signal: abort.signal, heartbeat: () => this.heartbeat(active) },
    };
    this.active.set(leased.id, active);
    return active;
  }

  private begin(wire: WireLeasedJob): void {
    const { job: leased, payloadError } = decodeLeasedJob(wire);
    const active = this.track(leased);
    this.handlersRunning++;
    const intervalMs = Math.max(1, Math.floor(this.leaseMs / 3));
    active.heartbeatTimer = setInterval(() => this.autoHeartbeat(active), intervalMs);
    active.finished = this.execute(active, payloadError).finally(() => {
      this.stopHeartbeats(active);
      this.active.delete(leased.id);
      this.wakeLoop?.();
    });
  }

  /** `payloadError`: the payload is not msgpack, so no attempt can succeed; it fails, not retryable. */
  private async execute(active: ActiveJob, payloadError: RaftqError | null): Promise<void> {
    let outcome: { ok: true; result: R } | { ok: false; error: unknown };
    try {
      if (payloadError !== null) throw payloadError;
      outcome = { ok: true, result: await this.handler(active.job) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    this.handlersRunning--;
    this.wakeLoop?.(); // the slot is free: lease the next job while this one's ack commits
    this.stopHeartbeats(active);
    // Lease lost or handed back at shutdown: the job is no longer ours to settle.
    if (active.phase !== 'running') return;
    active.phase = 'settling';
    if (outcome.ok) await this.ack(active, outcome.result);
    else await this.fail(active, outcome.error, isRetryableFailure(outcome.error));
  }

  private async ack(active: ActiveJob, result: R): Promise<void> {
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

  /** Gives an unfinished job back (retryable) and aborts its handler. Never throws. */
  private async handBack(active: ActiveJob, reason: Error): Promise<void> {
    if (active.phase !== 'running') return;
    active.phase = 'settling';
    this.stopHeartbeats(active);
    active.abort.abort(reason);
    const { id, token } = active.leased;
    try {
      await this.transport.call('fail', { jobId: id, token, error: reason.message, retryable: true });
    } catch (error) {
      if (!isLeaseLoss(error)) this.reportError(error);
    } finally {
      active.phase = 'done';
      this.active.delete(id);
    }
  }

  private async heartbeat(active: ActiveJob): Promise<void> {
    if (active.phase !== 'running') throw new RaftqError('STALE_LEASE', `job ${active.leased.id}: the lease is no longer held`);
    const { id, token } = active.leased;
    try {
      await this.transport.call('heartbeat', { jobId: id, token, leaseMs: this.leaseMs });
    } catch (error) {
      this.leaseWasLost(active, error);
      throw error;
    }
  }

  private autoHeartbeat(active: ActiveJob): void {
    // One at a time: a slow answer must not pile up heartbeats behind it.
    if (active.heartbeatInFlight || active.phase !== 'running') return;
    active.heartbeatInFlight = true;
    this.heartbeat(active)
      .catch((error: unknown) => {
        if (!isLeaseLoss(error)) this.reportError(error);
      })
      .finally(() => (active.heartbeatInFlight = false));
  }

  private stopHeartbeats(active: ActiveJob): void {
    if (active.heartbeatTimer !== null) clearInterval(active.heartbeatTimer);
    active.heartbeatTimer = null;
  }

  /** When `error` says the lease is gone: abort the handler, tell listeners, and return true. */
  private leaseWasLost(active: ActiveJob, error: unknown): boolean {
    if (!isLeaseLoss(error)) return false;
    if (active.phase === 'done') return true;
    active.phase = 'done';
    this.stopHeartbeats(active);
    active.abort.abort(error);
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

function bounded(value: number, min: number, max: number, field: string): number {
  if (!Number.isInteger(value) || value < min || value > max) throw new RaftqError('BAD_REQUEST', `${field} must be an integer in ${min}..${max}`, { field });
  return value;
}

function defaultWorkerId(): string {
  const id = `${hostname()}-${process.pid}-${randomUUID().slice(0, 8)}`.replace(/[^A-Za-z0-9._:-]/g, '-').slice(-128);
  return ID_PATTERN.test(id) ? id : randomUUID();
}
