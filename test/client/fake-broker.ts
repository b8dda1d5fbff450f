// An in-memory stand-in for a node, behind a real ProtocolServer: enough of the job model for the
// SDK's tests (sessions, enqueue, get, leases with tokens, long polls, heartbeats, ack, fail).

import { afterEach } from 'vitest';
import { RaftqError } from '../../src/errors.js';
import type { Job, WireJob, WireLeasedJob as LeasedJob } from '../../src/jobs/types.js';
import { decodeJob, encodeValue } from '../../src/protocol/values.js';
import type { ValidCommandRequest, ValidRequest } from '../../src/protocol/messages.js';
import type { ConnectionInfo, RequestHandler } from '../../src/protocol/server.js';
import { ProtocolServer } from '../../src/protocol/server.js';

interface Parked {
  max: number;
  resolve(jobs: LeasedJob[]): void;
}

type Waiter = { test: () => boolean; resolve: () => void };

export class FakeBroker implements RequestHandler {
  /** Jobs as a node holds them: payload and result are msgpack bytes. */
  readonly jobs = new Map<string, WireJob>();
  readonly waiting: string[] = [];
  /** Every request as the handler saw it. */
  readonly requests: ValidRequest[] = [];
  /** Results per client session: a retried (clientId, seq) gets the first answer again. */
  readonly sessions = new Map<string, unknown>();
  heartbeats = new Map<string, number>();
  private readonly parked: Parked[] = [];
  private readonly waiters: Waiter[] = [];
  private nextJobId = 1;
  /** Run before each request: throw to answer with an error, or return a promise to delay it. */
  intercept: ((request: ValidRequest, conn: ConnectionInfo) => Promise<void> | void) | null = null;
  nodeId = 'n1';
  hello: { leader: string | null; nodes: { id: string; clientAddr: string }[] } = { leader: null, nodes: [] };
  /** The leader this node names in its successful answers, as a forwarding follower does. */
  forwardsTo: string | null = null;
  server: ProtocolServer | null = null;

  leaderHint(): string | null {
    return this.forwardsTo;
  }

  async listen(): Promise<string> {
    this.server = new ProtocolServer({ handler: this });
    const { port } = await this.server.listen(0);
    return `127.0.0.1:${port}`;
  }

  async close(): Promise<void> {
    for (const parked of this.parked.splice(0)) parked.resolve([]);
    await this.server?.close();
  }

  /** Long-poll lease requests waiting for jobs. */
  get parkedCount(): number {
    return this.parked.length;
  }

  count(op: string): number {
    return this.requests.filter((request) => request.op === op).length;
  }

  /** Resolves once `test` holds (checked after every request). */
  until(test: () => boolean): Promise<void> {
    if (test()) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ test, resolve }));
  }

  /** A job with payload and result decoded, as the SDK would read it. */
  decoded(jobId: string): Job | undefined {
    const job = this.jobs.get(jobId);
    return job === undefined ? undefined : decodeJob(job);
  }

  /** Adds waiting jobs directly (payloads encoded as a client would) and wakes parked long polls. */
  add(queue: string, count: number, payload: (i: number) => unknown = (i) => ({ i })): string[] {
    const ids: string[] = [];
    for (let i = 0; i < count; i++) ids.push(this.create({ queue, payload: encodeValue(payload(i)) }));
    this.wakeParked();
    return ids;
  }

  /** Adds one waiting job whose payload is these bytes as they are (a client that bypassed the SDK). */
  addRaw(queue: string, payload: Uint8Array): string {
    const id = this.create({ queue, payload });
    this.wakeParked();
    return id;
  }

  /** Invalidates a job's lease, as an expiry and redelivery to someone else would. */
  revokeLease(jobId: string): void {
    const job = this.jobs.get(jobId)!;
    job.lease = job.lease === null ? null : { ...job.lease, token: `${job.lease.token}-revoked` };
  }

  async handle(request: ValidRequest, conn: ConnectionInfo): Promise<unknown> {
    this.requests.push(request);
    this.notify();
    try {
      await this.intercept?.(request, conn);
      return await this.dispatch(request, conn);
    } finally {
      this.notify();
    }
  }

  private notify(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.test()) {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        waiter.resolve();
      }
    }
  }

  private async dispatch(request: ValidRequest, conn: ConnectionInfo): Promise<unknown> {
    if (request.kind === 'command') {
      const key = `${request.envelope.clientId}/${request.envelope.seq}`;
      if (this.sessions.has(key)) return this.sessions.get(key);
      const result = await this.apply(request, conn);
      this.sessions.set(key, result);
      return result;
    }
    switch (request.op) {
      case 'hello':
        return { nodeId: this.nodeId, ...this.hello };
      case 'get':
        return { job: this.jobs.get(request.jobId) ?? null };
      case 'waitResult': {
        const job = this.jobs.get(request.jobId);
        if (job === undefined) throw new RaftqError('NOT_FOUND', `no job ${request.jobId}`);
        return { job, final: ['completed', 'dead', 'cancelled'].includes(job.state) };
      }
      default:
        return { op: request.op };
    }
  }

  private async apply(request: ValidCommandRequest, conn: ConnectionInfo): Promise<unknown> {
    const cmd = request.envelope.cmd;
    switch (cmd.op) {
      case 'enqueue': {
        const ids = cmd.jobs.map((spec) => this.create(spec));
        this.wakeParked();
        return { ids, duplicate: ids.map(() => false) };
      }
      case 'lease':
        return { jobs: await this.lease(cmd.max, request.waitMs, cmd.workerId, conn) };
      case 'heartbeat':
        this.current(cmd.jobId, cmd.token);
        this.heartbeats.set(cmd.jobId, (this.heartbeats.get(cmd.jobId) ?? 0) + 1);
        return { leaseExpiresAtMs: Date.now() + (cmd.leaseMs ?? 30_000) };
      case 'ack':
        return this.ack(cmd.jobId, cmd.token, cmd.result);
      case 'ackMany':
        return {
          results: cmd.acks.map((item) => {
            try {
              return this.ack(item.jobId, item.token, item.result);
            } catch (error) {
              if (error instanceof RaftqError) return { error: error.toWire() };
              throw error;
            }
          }),
        };
      case 'fail': {
        const job = this.current(cmd.jobId, cmd.token);
        const retry = cmd.retryable && job.attempts < job.maxAttempts;
        Object.assign(job, { state: retry ? 'waiting' : 'dead', lastError: cmd.error, lease: null });
        if (retry) this.waiting.push(job.id);
        return { state: retry ? 'failed' : 'dead', retryAtMs: retry ? Date.now() : null };
      }
      case 'release': {
        const job = this.current(cmd.jobId, cmd.token);
        Object.assign(job, { state: 'waiting', attempts: job.attempts - 1, lease: null });
        this.waiting.push(job.id);
        return { state: 'waiting' };
      }
      case 'cancel':
        return { state: 'cancelled', cancelled: true };
      default:
        return { op: cmd.op };
    }
  }

  private ack(jobId: string, token: string, result: Uint8Array | undefined): { state: 'completed' } {
    const job = this.current(jobId, token);
    Object.assign(job, { state: 'completed', result: result ?? null, lease: null });
    return { state: 'completed' };
  }

  private create(spec: { queue: string; payload?: Uint8Array; id?: string }): string {
    const id = spec.id ?? `job-${this.nextJobId++}`;
    this.jobs.set(id, {
      id, queue: spec.queue, name: 'default', payload: spec.payload ?? null, priority: 5, maxAttempts: 3,
      backoff: { baseMs: 1000, capMs: 60_000, jitter: 0.2 }, leaseMs: 30_000, idempotencyKey: null, state: 'waiting',
      attempts: 0, redeliveries: 0, lastError: null, result: null, createdAtMs: 0, runAtMs: 0, startedAtMs: null, finishedAtMs: null, lease: null,
    });
    this.waiting.push(id);
    return id;
  }

  private current(jobId: string, token: string): WireJob {
    const job = this.jobs.get(jobId);
    if (job === undefined) throw new RaftqError('NOT_FOUND', `no job ${jobId}`);
    if (job.lease?.token !== token) throw new RaftqError('STALE_LEASE', `job ${jobId}: lease token is not current`);
    return job;
  }

  private lease(max: number, waitMs: number, workerId: string, conn: ConnectionInfo): Promise<LeasedJob[]> | LeasedJob[] {
    const jobs = this.take(max, workerId);
    if (jobs.length > 0 || waitMs === 0) return jobs;
    return new Promise((resolve) => {
      const parked: Parked = { max, resolve: () => undefined };
      const timer = setTimeout(() => finish([]), waitMs);
      const finish = (leased: LeasedJob[]): void => {
        clearTimeout(timer);
        const at = this.parked.indexOf(parked);
        if (at >= 0) this.parked.splice(at, 1);
        resolve(leased);
      };
      parked.resolve = () => finish(this.take(max, workerId));
      // A closed connection drops its long poll before it takes anything.
      conn.signal.addEventListener('abort', () => {
        finish([]);
        this.notify();
      });
      this.parked.push(parked);
      this.notify(); // a test may be waiting for the poll to park
    });
  }

  private wakeParked(): void {
    while (this.parked.length > 0 && this.waiting.length > 0) this.parked[0]!.resolve([]);
  }

  private take(max: number, workerId: string): LeasedJob[] {
    const out: LeasedJob[] = [];
    while (out.length < max && this.waiting.length > 0) {
      const job = this.jobs.get(this.waiting.shift()!)!;
      job.attempts++;
      job.state = 'active';
      job.lease = { token: `${job.id}:${job.attempts}`, workerId, expiresAtMs: Date.now() + job.leaseMs };
      out.push({ id: job.id, queue: job.queue, name: job.name, payload: job.payload, priority: job.priority, attempt: job.attempts, maxAttempts: job.maxAttempts, token: job.lease.token, leaseExpiresAtMs: job.lease.expiresAtMs });
    }
    return out;
  }
}

/**
 * For a test file: `cleanups` run in reverse after each test, and `broker()` starts a listening
 * FakeBroker that is closed then.
 */
export function useFakeBrokers(): { cleanups: (() => Promise<void> | void)[]; broker(): Promise<{ broker: FakeBroker; address: string }> } {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  const broker = async (): Promise<{ broker: FakeBroker; address: string }> => {
    const b = new FakeBroker();
    const address = await b.listen();
    cleanups.push(() => b.close());
    return { broker: b, address };
  };
  return { cleanups, broker };
}
