// The clients of a run. Producers submit unique jobs (the job key is the client-given job id, so an
// enqueue of unknown outcome can be looked up later; a fifth of the jobs instead carry only an
// idempotency key, and their id comes from the leader). Workers lease, hold, and ack — or crash
// mid-job (never ack: the lease expires and the job is redelivered), or hold past the lease and
// ack anyway (the fencing token must make that ack fail). Every call goes through the low-level
// Transport so the history sees tokens, attempts and exactly which acks were sent.
//
// Each producer and worker is one Jepsen "process": it records invoke, then ok (took effect),
// fail (certainly did not) or info (unknown: timeout, connection lost).

import { setTimeout as sleep } from 'node:timers/promises';
import { RaftqError, type ErrorCode } from '../src/errors.js';
import { Transport } from '../src/client/transport.js';
import type { WireEnqueueSpec } from '../src/protocol/messages.js';
import { encodeValue, valueOrRawBytes } from '../src/protocol/values.js';
import type { HistoryWriter, LeasedValue, Op } from './history.js';
import { Prng } from './random.js';

/** Errors that say the request certainly did not apply. Anything else (TIMEOUT, NO_LEADER after retries, INTERNAL) is unknown. */
const DEFINITE_FAILURES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BAD_REQUEST', 'NOT_FOUND', 'STALE_LEASE', 'PAYLOAD_TOO_LARGE', 'QUEUE_PAUSED', 'UNAUTHORIZED', 'FORBIDDEN']);

/** Share of jobs submitted with an idempotency key instead of a client-given id. */
export const IDEMPOTENT_SHARE = 0.2;
/** After an enqueue of unknown outcome: chance that a job with a client id is submitted again (idempotent ones always are). */
export const RESUBMIT_CHANCE = 0.5;
/** Resubmissions of one job, at most. */
export const RESUBMITS_MAX = 3;
/** Worker behaviour per leased job (the rest acks normally). */
export const CRASH_CHANCE = 0.03;
export const LATE_ACK_CHANCE = 0.03;
/** Lease (visibility timeout) asked for by workers: short, so crashed jobs come back quickly. */
export const LEASE_MS = { min: 1_000, max: 2_000 } as const;
/** How long a worker long-polls for jobs. */
export const LEASE_WAIT_MS = 500;
/** Jobs one worker holds at once. */
export const WORKER_SLOTS = 32;
/** A normal job is "worked on" this long before its ack. */
export const HOLD_MS = { min: 0, max: 40 } as const;
/** A late ack comes this long after the lease expired. */
export const LATE_BY_MS = { min: 300, max: 1_500 } as const;
/** Client timeouts: short enough that faults produce info ops, long enough to ride out an election. */
export const REQUEST_TIMEOUT_MS = 2_000;
export const RETRY_ATTEMPTS = 3;
/** Never attempts more than this (a job is never dead-lettered during a run). */
export const MAX_ATTEMPTS = 1000;

export interface WorkloadOptions {
  history: HistoryWriter;
  /** Called for every recorded client op (progress counters). */
  onOp?: (op: Op) => void;
  addresses: () => string[];
  rng: Prng;
  /** Target enqueues per second, over all producers. */
  rate: number;
  producers: number;
  workers: number;
  queues: string[];
}

export function errorCode(error: unknown): string {
  return error instanceof RaftqError ? error.code : 'INTERNAL';
}

function outcomeOf(error: unknown): 'fail' | 'info' {
  return error instanceof RaftqError && DEFINITE_FAILURES.has(error.code) ? 'fail' : 'info';
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return `${errorCode(error)}: ${message}`.slice(0, 200);
}

function transportFor(addresses: string[]): Transport {
  return new Transport({ nodes: addresses, requestTimeoutMs: REQUEST_TIMEOUT_MS, retry: { attempts: RETRY_ATTEMPTS, baseMs: 50, capMs: 500 } });
}

/** What the workload knows about jobs, for the final-state read: every id that may exist. */
export class JobBook {
  /** id → key, for every job id seen or given. */
  readonly keyById = new Map<string, string>();

  note(id: string, key: string): void {
    this.keyById.set(id, key);
  }
}

class Producer {
  private n = 0;

  constructor(
    private readonly process: number,
    private readonly w: WorkloadOptions,
    private readonly book: JobBook,
    private readonly rng: Prng,
    private readonly transport: Transport,
  ) {}

  async run(stop: AbortSignal): Promise<void> {
    const intervalMs = (this.w.producers * 1000) / this.w.rate;
    let nextMs = Date.now() + this.rng.next() * intervalMs;
    while (!stop.aborted) {
      const waitMs = nextMs - Date.now();
      if (waitMs > 0) await sleep(waitMs);
      if (stop.aborted) break;
      // Behind schedule (a fault stalled us): do not burst to catch up.
      nextMs = Math.max(nextMs + intervalMs, Date.now() - intervalMs);
      await this.submitJob();
    }
  }

  private async submitJob(): Promise<void> {
    this.n++;
    const key = `p${this.process}-${this.n}`;
    const idempotent = this.rng.chance(IDEMPOTENT_SHARE);
    const spec: WireEnqueueSpec = {
      queue: this.rng.pick(this.w.queues),
      payload: encodeValue({ key }),
      maxAttempts: MAX_ATTEMPTS,
      leaseMs: this.rng.int(LEASE_MS.min, LEASE_MS.max),
    };
    if (idempotent) spec.idempotencyKey = key;
    else {
      spec.id = key;
      this.book.note(key, key);
    }
    for (let attempt = 0; attempt <= RESUBMITS_MAX; attempt++) {
      const outcome = await this.enqueue(key, spec);
      if (outcome !== 'info') return;
      if (!idempotent && !this.rng.chance(RESUBMIT_CHANCE)) return;
    }
  }

  private async enqueue(key: string, spec: WireEnqueueSpec): Promise<'ok' | 'fail' | 'info'> {
    const value = spec.idempotencyKey ? { key, idempotencyKey: spec.idempotencyKey } : { key };
    this.record({ type: 'invoke', f: 'enqueue', process: this.process, timeMs: this.w.history.now(), value });
    try {
      const { ids } = await this.transport.call('enqueue', { jobs: [spec] });
      const id = ids[0]!;
      this.book.note(id, key);
      this.record({ type: 'ok', f: 'enqueue', process: this.process, timeMs: this.w.history.now(), value: { ...value, id } });
      return 'ok';
    } catch (error) {
      const type = outcomeOf(error);
      this.record({ type, f: 'enqueue', process: this.process, timeMs: this.w.history.now(), value, error: describe(error) });
      return type;
    }
  }

  private record(op: Op): void {
    this.w.history.record(op);
    this.w.onOp?.(op);
  }
}

type Behaviour = 'ack' | 'crash' | 'late';

class WorkerProcess {
  private readonly held = new Set<Promise<void>>();
  /** After the run: every job is acked promptly, none dropped or held late. */
  draining = false;

  constructor(
    private readonly process: number,
    private readonly w: WorkloadOptions,
    private readonly book: JobBook,
    private readonly rng: Prng,
    private readonly transport: Transport,
  ) {}

  async run(stop: AbortSignal): Promise<void> {
    while (!stop.aborted) {
      const free = WORKER_SLOTS - this.held.size;
      if (free <= 0) {
        await Promise.race(this.held);
        continue;
      }
      const leaseMs = this.rng.int(LEASE_MS.min, LEASE_MS.max);
      const jobs = await this.lease(this.rng.int(1, free), leaseMs);
      if (jobs === null) {
        await sleep(this.rng.int(20, 200));
        continue;
      }
      for (const job of jobs) {
        const done: Promise<void> = this.work(job, leaseMs).finally(() => this.held.delete(done));
        this.held.add(done);
      }
    }
    await Promise.all(this.held);
  }

  private async lease(max: number, leaseMs: number): Promise<LeasedValue[] | null> {
    this.record({ type: 'invoke', f: 'lease', process: this.process, timeMs: this.w.history.now(), value: { jobs: [] } });
    try {
      const result = await this.transport.call('lease', { queues: this.w.queues, max, leaseMs, waitMs: LEASE_WAIT_MS, workerId: `w${this.process}` }, { longPollMs: LEASE_WAIT_MS });
      const jobs = result.jobs.map((j) => ({ id: j.id, key: keyOf(j.payload, j.id), token: j.token, attempt: j.attempt }));
      for (const j of jobs) this.book.note(j.id, j.key);
      this.record({ type: 'ok', f: 'lease', process: this.process, timeMs: this.w.history.now(), value: { jobs } });
      return jobs;
    } catch (error) {
      this.record({ type: outcomeOf(error), f: 'lease', process: this.process, timeMs: this.w.history.now(), value: { jobs: [] }, error: describe(error) });
      return null;
    }
  }

  private behaviour(): Behaviour {
    if (this.draining) return 'ack';
    const r = this.rng.next();
    if (r < CRASH_CHANCE) return 'crash';
    if (r < CRASH_CHANCE + LATE_ACK_CHANCE) return 'late';
    return 'ack';
  }

  private async work(job: LeasedValue, leaseMs: number): Promise<void> {
    const behaviour = this.behaviour();
    if (behaviour === 'crash') return; // dropped mid-job: no ack, the lease runs out
    const holdMs = behaviour === 'late' ? leaseMs + this.rng.int(LATE_BY_MS.min, LATE_BY_MS.max) : this.rng.int(HOLD_MS.min, HOLD_MS.max);
    await sleep(holdMs);
    await this.ack(job);
  }

  private async ack(job: LeasedValue): Promise<void> {
    const value = { id: job.id, key: job.key, token: job.token };
    this.record({ type: 'invoke', f: 'ack', process: this.process, timeMs: this.w.history.now(), value });
    try {
      await this.transport.call('ack', { jobId: job.id, token: job.token });
      this.record({ type: 'ok', f: 'ack', process: this.process, timeMs: this.w.history.now(), value });
    } catch (error) {
      this.record({ type: outcomeOf(error), f: 'ack', process: this.process, timeMs: this.w.history.now(), value, error: describe(error) });
    }
  }

  private record(op: Op): void {
    this.w.history.record(op);
    this.w.onOp?.(op);
  }
}

/** The producer's key inside a leased job's payload bytes (`?<id>` when it holds none). */
function keyOf(payload: Uint8Array | null, id: string): string {
  const key = (valueOrRawBytes(payload, 'payload') as { key?: unknown } | null)?.key;
  return typeof key === 'string' ? key : `?${id}`;
}

/** Producers and workers of one run. Producers are numbered 1..P, workers P+1..P+W. */
export class Workload {
  readonly book = new JobBook();
  private readonly producers: Producer[] = [];
  private readonly workers: WorkerProcess[] = [];
  private readonly transports: Transport[] = [];
  private readonly produceStop = new AbortController();
  private readonly workStop = new AbortController();
  private producing: Promise<void> = Promise.resolve();
  private working: Promise<void> = Promise.resolve();

  constructor(w: WorkloadOptions) {
    for (let i = 1; i <= w.producers; i++) {
      const t = transportFor(w.addresses());
      this.transports.push(t);
      this.producers.push(new Producer(i, w, this.book, w.rng.fork(`producer-${i}`), t));
    }
    for (let i = w.producers + 1; i <= w.producers + w.workers; i++) {
      const t = transportFor(w.addresses());
      this.transports.push(t);
      this.workers.push(new WorkerProcess(i, w, this.book, w.rng.fork(`worker-${i}`), t));
    }
  }

  start(): void {
    this.producing = Promise.all(this.producers.map((p) => p.run(this.produceStop.signal))).then(() => undefined);
    this.working = Promise.all(this.workers.map((p) => p.run(this.workStop.signal))).then(() => undefined);
  }

  /** Stops submitting; resolves when every producer's last request has its outcome. */
  async stopProducers(): Promise<void> {
    this.produceStop.abort();
    await this.producing;
  }

  /** From now on workers ack every job they get, promptly. */
  drain(): void {
    for (const w of this.workers) w.draining = true;
  }

  /** Stops leasing; resolves when every held job is acked (or its ack has an outcome). */
  async stopWorkers(): Promise<void> {
    this.workStop.abort();
    await this.working;
  }

  async close(): Promise<void> {
    this.produceStop.abort();
    this.workStop.abort();
    await Promise.all(this.transports.map((t) => t.close()));
  }
}
