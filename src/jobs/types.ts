// The job model and the commands of the job state machine. These are the replicated vocabulary:
// a command is exactly what goes into a Raft entry, after validation at the edge.

import type { WireError } from '../errors.js';

export type JobState = 'waiting' | 'delayed' | 'active' | 'completed' | 'failed' | 'dead' | 'cancelled';

export const JOB_STATES: readonly JobState[] = ['waiting', 'delayed', 'active', 'completed', 'failed', 'dead', 'cancelled'];

/** 0 is the lowest priority, 9 the highest. */
export const PRIORITY_MIN = 0;
export const PRIORITY_MAX = 9;
export const PRIORITY_NAMED = { low: 2, normal: 5, high: 8 } as const;
export type PriorityName = keyof typeof PRIORITY_NAMED;

export interface Backoff {
  /** Delay before the first retry. */
  baseMs: number;
  /** No retry waits longer than this. */
  capMs: number;
  /** 0..1: the fraction of the delay that is randomized (from a hash of job id and attempt, never Math.random). */
  jitter: number;
}

/**
 * A payload or an ack's result on the wire and in the log: the msgpack encoding of the user's
 * value, made once by the client (the SDK, or any msgpack library sending a `bin`). The broker
 * never decodes it: it stores, sizes and returns these bytes as they came.
 */
export type ValueBytes = Uint8Array;

/** A job as the state machine holds it and as `get` answers it on the wire: payload and result are bytes. */
export interface WireJob {
  id: string;
  queue: string;
  name: string;
  /** Null when the job was enqueued without a payload. */
  payload: ValueBytes | null;
  priority: number;
  maxAttempts: number;
  backoff: Backoff;
  leaseMs: number;
  idempotencyKey: string | null;
  state: JobState;
  /** Attempts started (leases handed out) so far. */
  attempts: number;
  /** Times a lease expired without ack or fail (the job was handed out again). */
  redeliveries: number;
  lastError: string | null;
  /** The ack's result; null until completed (or when the ack carried none). */
  result: ValueBytes | null;
  createdAtMs: number;
  /** When the job may run (delayed) or retry (failed); equals createdAtMs for immediate jobs. */
  runAtMs: number;
  startedAtMs: number | null;
  finishedAtMs: number | null;
  /** The current lease while active, else null. */
  lease: { token: string; workerId: string; expiresAtMs: number } | null;
}

/** A job as the SDK returns it: payload and result decoded from their msgpack bytes. */
export interface Job extends Omit<WireJob, 'payload' | 'result'> {
  payload: unknown;
  result: unknown;
}

/** What a producer asks for. Everything optional has a documented default (see src/jobs/limits.ts). */
export interface EnqueueSpec {
  queue: string;
  name?: string;
  /** msgpack bytes, opaque to the broker; at most payloadBytesMax (PAYLOAD_TOO_LARGE beyond). */
  payload?: ValueBytes;
  /** Client-given id; when absent the state machine assigns a time-ordered one. */
  id?: string;
  priority?: number;
  /** Absolute time (leader's clock) before which the job is not handed out. */
  runAtMs?: number;
  /** Relative delay from the entry's timestamp; ignored when runAtMs is set. */
  delayMs?: number;
  maxAttempts?: number;
  backoff?: Partial<Backoff>;
  leaseMs?: number;
  idempotencyKey?: string;
}

/** The job a schedule enqueues each time it fires: an EnqueueSpec without queue, id and timing. */
export type ScheduleJob = Omit<EnqueueSpec, 'queue' | 'id' | 'runAtMs' | 'delayMs' | 'idempotencyKey'>;
/** The fields of a ScheduleJob: both validations accept these and no others. */
export const SCHEDULE_JOB_FIELDS: readonly (keyof ScheduleJob)[] = ['name', 'payload', 'priority', 'maxAttempts', 'backoff', 'leaseMs'];

/** When a schedule fires: every `everyMs`, or at the minutes a 5-field cron expression (UTC) names. */
export type ScheduleTiming = { everyMs: number; cron?: undefined } | { cron: string; everyMs?: undefined };

/** A repeatable job as it is replicated and answered on the wire (the job's payload is bytes). */
export interface WireSchedule {
  queue: string;
  scheduleId: string;
  everyMs: number | null;
  cron: string | null;
  job: ScheduleJob;
  /** When it fires next (leader's clock); null when a cron expression names no later time. */
  nextRunAtMs: number | null;
  /** The time of its last firing, the job that firing enqueued, and how many firings there were. */
  lastRunAtMs: number | null;
  lastJobId: string | null;
  runs: number;
  /** Firings whose job the cluster refused (full): nothing was enqueued for them. */
  refused: number;
  createdAtMs: number;
  updatedAtMs: number;
}

/** A schedule as listings answer it: its job without the payload, whose size it gives instead. */
export interface WireScheduleSummary extends Omit<WireSchedule, 'job'> {
  job: Omit<ScheduleJob, 'payload'>;
  payloadBytes: number;
}

export type Command =
  | { op: 'enqueue'; jobs: EnqueueSpec[] }
  | ({ op: 'scheduleSet'; queue: string; scheduleId: string; job: ScheduleJob; startAtMs?: number } & ScheduleTiming)
  | { op: 'scheduleRemove'; queue: string; scheduleId: string }
  | { op: 'lease'; workerId: string; queues: string[]; max: number; leaseMs?: number }
  | { op: 'heartbeat'; jobId: string; token: string; leaseMs?: number }
  | { op: 'ack'; jobId: string; token: string; result?: ValueBytes }
  | { op: 'ackMany'; acks: AckItem[] }
  | { op: 'release'; jobId: string; token: string }
  | { op: 'fail'; jobId: string; token: string; error: string; retryable: boolean }
  | { op: 'cancel'; jobId: string }
  | { op: 'tick' }
  | { op: 'pause'; queue: string }
  | { op: 'resume'; queue: string }
  | { op: 'dlqRetry'; queue: string; jobIds?: string[]; max?: number }
  | { op: 'dlqPurge'; queue: string; jobIds?: string[]; max?: number };

/** One ack of an ackMany: the same fields as the ack command. */
export interface AckItem {
  jobId: string;
  token: string;
  result?: ValueBytes;
}

/** Per ack of an ackMany, in order: completed, or why not (STALE_LEASE, NOT_FOUND). */
export type AckItemResult = { state: 'completed' } | { error: WireError };

export type CommandOp = Command['op'];

/** A job as `lease` hands it out on the wire: the payload is bytes. */
export interface WireLeasedJob {
  id: string;
  queue: string;
  name: string;
  payload: ValueBytes | null;
  priority: number;
  attempt: number;
  maxAttempts: number;
  token: string;
  leaseExpiresAtMs: number;
}

/** A job as handed to a worker's handler by the SDK: the payload decoded. */
export interface LeasedJob extends Omit<WireLeasedJob, 'payload'> {
  payload: unknown;
}

export interface CommandResults {
  enqueue: { ids: string[]; /** per job: true when an idempotency key or client id matched an existing job */ duplicate: boolean[] };
  lease: { jobs: WireLeasedJob[] };
  heartbeat: { leaseExpiresAtMs: number };
  ack: { state: 'completed' };
  ackMany: { results: AckItemResult[] };
  release: { state: 'waiting' };
  fail: { state: 'failed' | 'dead'; retryAtMs: number | null };
  cancel: { state: JobState; cancelled: boolean };
  /** `fired`: the ids of the jobs schedules enqueued, in firing order. */
  tick: { expired: number; promoted: number; removed: number; fired: string[] };
  scheduleSet: { created: boolean; nextRunAtMs: number | null };
  scheduleRemove: { removed: boolean };
  pause: { paused: true };
  resume: { paused: false };
  dlqRetry: { retried: number };
  dlqPurge: { purged: number };
}

export type CommandResult = CommandResults[CommandOp];

export type Outcome<T = CommandResult> = { ok: true; value: T } | { ok: false; error: WireError };

/**
 * One client request as it is replicated. (clientId, seq) makes a retried request apply once
 * (dissertation §6.3). Internal commands (tick) use clientId '' and are never deduplicated.
 */
export interface Envelope {
  clientId: string;
  seq: number;
  /**
   * The client's oldest seq still awaiting an answer: it holds the answers of every smaller seq,
   * so their results may be forgotten (dissertation §6.3) — this keeps session memory small.
   */
  seqFloor?: number;
  cmd: Command;
}

/** The payload of one Raft entry: a batch of envelopes, stamped with the leader's clock. */
export interface EntryBatch {
  /** Leader wall time, clamped so it never goes below the previous batch's stamp. */
  nowMs: number;
  envelopes: Envelope[];
}

export interface QueueStats {
  queue: string;
  paused: boolean;
  counts: Record<JobState, number>;
  /**
   * Totals since the queue was created (replicated, so every node reports the same numbers):
   * enqueued = jobs created (duplicates excluded); completed = acks; failed = fail commands
   * accepted; retried = retries scheduled by fail plus jobs revived by dlqRetry; dead = jobs that
   * entered the dead letters; expired = leases that expired without ack or fail.
   */
  totals: { enqueued: number; completed: number; failed: number; retried: number; dead: number; expired: number };
}
