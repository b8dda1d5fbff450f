// The producer-side SDK: submit jobs, read them, manage queues and the dead-letter queue.
// Every method is one (or, for big batches, a few pipelined) protocol requests, and the single
// submits of one event-loop turn share one; retries, failover and exactly-once sessions live in
// Transport.

import type { Backoff, Job, PriorityName, QueueStats, WireSchedule, WireScheduleSummary } from '../jobs/types.js';
import { ENQUEUE_BATCH_MAX, FRAME_BYTES_MAX } from '../limits.js';
import type { ClusterStatus, NodeAddresses, OpResults, WireEnqueueSpec, WireScheduleJob } from '../protocol/messages.js';
import { WAIT_RESULT_MS_MAX } from '../protocol/messages.js';
import { decodeJob, encodeValue, valueOrRawBytes } from '../protocol/values.js';
import { RaftqError } from '../errors.js';
import type { TransportOptions } from './transport.js';
import { SubmitCoalescer } from './submit-coalescer.js';
import { mayHaveApplied, SubmitManyError, type SubmitOutcome } from './submit-outcome.js';
import { Transport } from './transport.js';

export type ClientOptions = TransportOptions;

export interface SubmitOptions {
  /** A label for dashboards and handlers that route by name. */
  name?: string;
  /** Your own id (1..128 of [A-Za-z0-9._:-]); a second submit with the same id is a duplicate, not a new job. */
  id?: string;
  /** 0 (lowest) .. 9 (highest), or 'low' | 'normal' | 'high'. Default 'normal'. */
  priority?: number | PriorityName;
  /** Run no sooner than this long after the leader accepts the job. */
  delayMs?: number;
  /** Run no sooner than this time (leader's clock). Wins over delayMs. */
  runAt?: Date | number;
  maxAttempts?: number;
  backoff?: Partial<Backoff>;
  /** Visibility timeout of each lease, unless the worker asks for its own. */
  leaseMs?: number;
  /** Submits with the same key within the idempotency window return the first job's id. */
  idempotencyKey?: string;
}

export interface JobToSubmit extends SubmitOptions {
  /** Any value msgpack encodes; the SDK sends its msgpack bytes, which the broker keeps as they are. */
  payload?: unknown;
}

/** A repeatable job: when it fires (exactly one of everyMs and cron) and the job it enqueues each time. */
export interface ScheduleOptions {
  /** Fire every this many ms (at least 1,000), first one interval after it is set (or at startAt). */
  everyMs?: number;
  /** Fire at the minutes a 5-field cron expression names, in UTC (`0 3 * * *`, `*\/15 * * * *`, `@daily`). */
  cron?: string;
  /** Not before this time (leader's clock). */
  startAt?: Date | number;
  /** The job each firing enqueues: payload and job options (no id, delay or idempotency key). */
  job?: Pick<JobToSubmit, 'payload' | 'name' | 'priority' | 'maxAttempts' | 'backoff' | 'leaseMs'>;
}

/** A schedule as `schedules.get` answers it: the job's payload decoded. */
export interface Schedule extends Omit<WireSchedule, 'job'> {
  job: Omit<WireSchedule['job'], 'payload'> & { payload?: unknown };
}

/** A schedule as `schedules.list` answers it: its job without the payload, and the payload's size. */
export type ScheduleSummary = WireScheduleSummary;

/** What `dlq.list` answers: the dead jobs (payloads decoded) and how many the queue holds. */
export interface DeadJobs {
  jobs: Job[];
  total: number;
}

export interface SelectOptions {
  /** Which dead jobs: these ids, or (when absent) the oldest `max`. */
  jobIds?: string[];
  max?: number;
}

export interface ReadOptions {
  /** Read this node's state without a ReadIndex round (may lag the leader). */
  stale?: boolean;
}

/** Most bytes of jobs put in one enqueue request; half a frame leaves room for the envelope. */
const ENQUEUE_REQUEST_BYTES_MAX = FRAME_BYTES_MAX / 2;
/**
 * An upper bound of what a spec's other fields encode to (queue and id ≤ 128 ASCII characters,
 * name and idempotency key ≤ 256 characters of up to 3 UTF-8 bytes, field names, a few numbers),
 * so batches are sized without encoding each spec a second time.
 */
const SPEC_BYTES_BEYOND_PAYLOAD_MAX = 2048;
const WAIT_FOR_RESULT_TIMEOUT_MS_DEFAULT = 30_000;

export class Client {
  private readonly transport: Transport;

  /** Dead-letter queue of a queue: jobs that used up their attempts. */
  readonly dlq = {
    list: async (queue: string, options: { offset?: number; limit?: number } & ReadOptions = {}): Promise<DeadJobs> => {
      const { jobs, total } = await this.transport.call('dlqList', { queue, offset: options.offset, limit: options.limit, stale: options.stale });
      return { jobs: jobs.map(decodeJob), total };
    },
    retry: async (queue: string, options: SelectOptions = {}): Promise<number> =>
      (await this.transport.call('dlqRetry', { queue, jobIds: options.jobIds, max: options.max })).retried,
    purge: async (queue: string, options: SelectOptions = {}): Promise<number> =>
      (await this.transport.call('dlqPurge', { queue, jobIds: options.jobIds, max: options.max })).purged,
  };

  /** Repeatable jobs: a schedule enqueues its job every `everyMs` or at the times of a cron expression (UTC). */
  readonly schedules = {
    /** Creates the schedule, or replaces the one of this id (its history kept); answers when it fires next. */
    set: async (queue: string, scheduleId: string, options: ScheduleOptions): Promise<OpResults['scheduleSet']> => {
      const { payload, ...rest } = options.job ?? {};
      const wireJob: WireScheduleJob = payload === undefined ? rest : { ...rest, payload: encodeValue(payload) };
      return this.transport.call('scheduleSet', {
        queue,
        scheduleId,
        everyMs: options.everyMs,
        cron: options.cron,
        startAtMs: options.startAt instanceof Date ? options.startAt.getTime() : options.startAt,
        job: wireJob,
      });
    },
    remove: async (queue: string, scheduleId: string): Promise<boolean> => (await this.transport.call('scheduleRemove', { queue, scheduleId })).removed,
    /** Every schedule (of one queue, if given), by (queue, scheduleId); their jobs' payloads are left out (`get` has them). */
    list: async (queue?: string, options: ReadOptions = {}): Promise<ScheduleSummary[]> =>
      (await this.transport.call('schedules', { queue, stale: options.stale })).schedules,
    /** One schedule with its job's payload decoded; null when there is none. */
    get: async (queue: string, scheduleId: string, options: ReadOptions = {}): Promise<Schedule | null> => {
      const { schedule } = await this.transport.call('schedule', { queue, scheduleId, stale: options.stale });
      if (schedule === null) return null;
      const { payload, ...job } = schedule.job;
      return { ...schedule, job: payload === undefined || payload === null ? job : { ...job, payload: valueOrRawBytes(payload, 'payload') } };
    },
  };

  /** Cluster administration, as the CLI uses it. */
  readonly admin = {
    transferLeader: async (toNodeId: string): Promise<OpResults['transferLeader']> => this.transport.call('transferLeader', { to: toNodeId }),
    addNode: async (node: NodeAddresses): Promise<OpResults['addNode']> =>
      this.transport.call('addNode', { nodeId: node.id, peerAddr: node.peerAddr, clientAddr: node.clientAddr, httpAddr: node.httpAddr }),
    removeNode: async (nodeId: string): Promise<OpResults['removeNode']> => this.transport.call('removeNode', { nodeId }),
    snapshot: async (): Promise<OpResults['snapshot']> => this.transport.call('snapshot', {}),
    stateHash: async (): Promise<OpResults['stateHash']> => this.transport.call('stateHash', {}),
  };

  private readonly submits: SubmitCoalescer;

  constructor(options: ClientOptions) {
    this.transport = new Transport(options);
    this.submits = new SubmitCoalescer(async (jobs) => (await this.transport.call('enqueue', { jobs })).ids, splitBatches);
  }

  /** The session id this client's mutating requests carry. */
  get clientId(): string {
    return this.transport.clientId;
  }

  /**
   * Enqueues one job; resolves with its id (the existing job's id when it was a duplicate).
   * Submits made in the same event-loop turn share one request (see SubmitCoalescer); each still
   * resolves or fails on its own.
   */
  async submit(queue: string, payload: unknown, options: SubmitOptions = {}): Promise<string> {
    return this.submits.submit(toSpec(queue, { ...options, payload }));
  }

  /**
   * Enqueues many jobs, in requests of at most ENQUEUE_BATCH_MAX jobs (and half a frame of bytes)
   * sent together. Each request applies atomically and once. If one fails, this waits for the
   * others and throws a SubmitManyError that says, job by job, which were taken, which were
   * refused and which may or may not have been; give jobs ids or idempotency keys when a whole
   * list must be resubmittable.
   */
  async submitMany(queue: string, jobs: JobToSubmit[]): Promise<string[]> {
    const batches = splitBatches(jobs.map((job) => toSpec(queue, job)), (spec) => spec);
    const settled = await Promise.allSettled(batches.map((batch) => this.transport.call('enqueue', { jobs: batch })));
    if (settled.every((s) => s.status === 'fulfilled')) return settled.flatMap((s) => s.value.ids);
    const outcomes: SubmitOutcome[] = [];
    let first: { error: RaftqError; offset: number } | null = null;
    settled.forEach((s, b) => {
      const size = batches[b]!.length;
      if (s.status === 'fulfilled') {
        for (const id of s.value.ids) outcomes.push({ id });
        return;
      }
      const error = s.reason instanceof RaftqError ? s.reason : new RaftqError('INTERNAL', s.reason instanceof Error ? s.reason.message : String(s.reason));
      first ??= { error, offset: outcomes.length };
      const mayHaveBeenTaken = mayHaveApplied(error);
      for (let i = 0; i < size; i++) outcomes.push({ error, mayHaveBeenTaken });
    });
    const { error, offset } = first!;
    throw new SubmitManyError(error, offset, outcomes, batches.length);
  }

  /** The job (payload and result decoded), or null when there is none with this id. */
  async get(id: string, options: ReadOptions = {}): Promise<Job | null> {
    const { job } = await this.transport.call('get', { jobId: id, stale: options.stale });
    return job === null ? null : decodeJob(job);
  }

  async cancel(id: string): Promise<OpResults['cancel']> {
    return this.transport.call('cancel', { jobId: id });
  }

  async stats(queue: string, options: ReadOptions = {}): Promise<QueueStats> {
    return this.transport.call('stats', { queue, stale: options.stale });
  }

  async queues(options: ReadOptions = {}): Promise<QueueStats[]> {
    return (await this.transport.call('queues', { stale: options.stale })).queues;
  }

  async pause(queue: string): Promise<void> {
    await this.transport.call('pause', { queue });
  }

  async resume(queue: string): Promise<void> {
    await this.transport.call('resume', { queue });
  }

  /**
   * Waits until the job is completed, dead or cancelled, and returns it; after timeoutMs returns
   * it as it is (check `state`). Longer waits are a series of bounded long polls.
   */
  async waitForResult(id: string, options: { timeoutMs?: number } = {}): Promise<Job> {
    const deadlineMs = Date.now() + (options.timeoutMs ?? WAIT_FOR_RESULT_TIMEOUT_MS_DEFAULT);
    for (;;) {
      const waitMs = Math.max(0, Math.min(WAIT_RESULT_MS_MAX, Math.ceil(deadlineMs - Date.now())));
      const { job, final } = await this.transport.call('waitResult', { jobId: id, timeoutMs: waitMs }, { longPollMs: waitMs });
      if (final || Date.now() >= deadlineMs) return decodeJob(job);
    }
  }

  async clusterStatus(): Promise<ClusterStatus> {
    return this.transport.call('clusterStatus', {});
  }

  /** Closes the connections; requests in progress reject. */
  async close(): Promise<void> {
    await this.transport.close();
  }
}

function toSpec(queue: string, job: JobToSubmit): WireEnqueueSpec {
  const spec: WireEnqueueSpec = { queue };
  if (job.payload !== undefined) spec.payload = encodeValue(job.payload);
  if (job.name !== undefined) spec.name = job.name;
  if (job.id !== undefined) spec.id = job.id;
  if (job.priority !== undefined) spec.priority = job.priority;
  if (job.runAt !== undefined) spec.runAtMs = job.runAt instanceof Date ? job.runAt.getTime() : job.runAt;
  else if (job.delayMs !== undefined) spec.delayMs = job.delayMs;
  if (job.maxAttempts !== undefined) spec.maxAttempts = job.maxAttempts;
  if (job.backoff !== undefined) spec.backoff = job.backoff;
  if (job.leaseMs !== undefined) spec.leaseMs = job.leaseMs;
  if (job.idempotencyKey !== undefined) spec.idempotencyKey = job.idempotencyKey;
  return spec;
}

/** Groups items, in order, into enqueue requests of at most ENQUEUE_BATCH_MAX jobs and ENQUEUE_REQUEST_BYTES_MAX. */
function splitBatches<T>(items: T[], specOf: (item: T) => WireEnqueueSpec): T[][] {
  const batches: T[][] = [];
  let batch: T[] = [];
  let batchBytes = 0;
  for (const item of items) {
    const specBytes = (specOf(item).payload?.byteLength ?? 0) + SPEC_BYTES_BEYOND_PAYLOAD_MAX;
    if (batch.length > 0 && (batch.length >= ENQUEUE_BATCH_MAX || batchBytes + specBytes > ENQUEUE_REQUEST_BYTES_MAX)) {
      batches.push(batch);
      batch = [];
      batchBytes = 0;
    }
    batch.push(item);
    batchBytes += specBytes;
  }
  if (batch.length > 0) batches.push(batch);
  return batches;
}
