// Every limit raftq enforces, in one place. Each is documented in README.md "Limits"; change both together.

/** Largest frame on the client wire (4-byte length prefix excluded). A larger length closes the connection. */
export const FRAME_BYTES_MAX = 16 * 1024 * 1024;
/** Largest payload of one job: the byte length of its msgpack bytes (the broker never decodes them). */
export const PAYLOAD_BYTES_MAX_DEFAULT = 1024 * 1024;
/** Jobs in one enqueue (submitMany) request. */
export const ENQUEUE_BATCH_MAX = 1000;
/** Jobs one lease request may take. */
export const LEASE_BATCH_MAX = 1000;
/** Acks in one ackMany request (a worker settles the jobs that finished together in one). */
export const ACK_BATCH_MAX = 1000;
/** Payload bytes one lease answer may carry (half a frame); a lease stops early rather than overflow. */
export const LEASE_RESPONSE_BYTES_MAX = 8 * 1024 * 1024;
/** Queues one lease request may name. */
export const LEASE_QUEUES_MAX = 32;
/** Requests a connection may have in flight; beyond it the server answers OVERLOADED. */
export const INFLIGHT_PER_CONNECTION_MAX = 4096;
/** Queue names: 1..128 characters of [A-Za-z0-9._:-]. */
export const QUEUE_NAME_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const QUEUE_NAME_LENGTH_MAX = 128;
/** Job ids given by clients, job names, worker ids: 1..128 characters of [A-Za-z0-9._:-]. */
export const ID_PATTERN = /^[A-Za-z0-9._:-]{1,128}$/;
export const JOB_NAME_LENGTH_MAX = 256;
export const IDEMPOTENCY_KEY_LENGTH_MAX = 256;
export const ERROR_MESSAGE_LENGTH_MAX = 8192;
/** Largest result of an ack, in bytes (msgpack bytes, like a payload). */
export const RESULT_BYTES_MAX = 1024 * 1024;
/** Lease (visibility timeout) bounds; SQS allows up to 12 h. */
export const LEASE_MS_MIN = 100;
export const LEASE_MS_MAX = 12 * 60 * 60 * 1000;
export const LEASE_MS_DEFAULT = 30_000;
/** Long-poll wait of a lease request. */
export const LEASE_WAIT_MS_MAX = 60_000;
export const MAX_ATTEMPTS_DEFAULT = 3;
export const MAX_ATTEMPTS_MAX = 1000;
/** Delays: at most a year ahead. */
export const DELAY_MS_MAX = 365 * 24 * 60 * 60 * 1000;
export const BACKOFF_DEFAULT = { baseMs: 1000, capMs: 60 * 60 * 1000, jitter: 0.2 } as const;
/** An idempotency key dedups enqueues for this long after the first one (SQS FIFO: 5 min; JetStream: 2 min). */
export const IDEMPOTENCY_WINDOW_MS = 10 * 60 * 1000;
/** Client sessions (exactly-once requests): results kept per client, sessions kept, and how long an idle one lives. */
export const SESSION_RESULTS_MAX = 1024;
/**
 * Bytes of results kept per client and in all (sessions.ts measures them: a lease answer counts
 * its payloads). Clients send seqFloor, so a session holds only answers still on their way; these
 * bound one that does not. Per client: room for eight full lease answers (LEASE_RESPONSE_BYTES_MAX).
 */
export const SESSION_RESULT_BYTES_MAX = 64 * 1024 * 1024;
export const SESSIONS_RESULT_BYTES_MAX = 256 * 1024 * 1024;
export const SESSIONS_MAX = 10_000;
export const SESSION_IDLE_MS = 60 * 60 * 1000;
/** Retention of finished jobs, per queue: completed and cancelled jobs beyond these are removed by tick. */
export const RETAIN_COMPLETED_MAX = 10_000;
export const RETAIN_COMPLETED_MS = 24 * 60 * 60 * 1000;
/** Dead jobs are kept longer (Sidekiq keeps its dead set 6 months) but still bounded in count. */
export const RETAIN_DEAD_MAX = 100_000;
export const RETAIN_DEAD_MS = 30 * 24 * 60 * 60 * 1000;
/** Distinct queues the cluster holds. */
export const QUEUES_MAX = 10_000;
/**
 * The job state the cluster holds, as its snapshot image would measure it (STATE_BYTES_PER_JOB per
 * job, plus its payload, ack result and error message: an overestimate): ~9.4 million jobs of
 * 100 B, ~3 GB of RSS per node. Past it an enqueue is refused (OVERLOADED) until jobs finish and
 * leave. It bounds each node's memory, and, with the LevelDB engine (which reads an image into one
 * buffer), Node's 4 GiB per buffer; the default engine decodes images from their files in pieces.
 */
export const STATE_BYTES_MAX = 2 * 1024 * 1024 * 1024;
/** What STATE_BYTES_MAX counts per job besides its payload, result and error message (its image is ~60 B). */
export const STATE_BYTES_PER_JOB = 128;
/** Repeatable-job schedules the cluster holds, and their bounds (src/jobs/schedules.ts). */
export const SCHEDULES_MAX = 1000;
/** The shortest interval of an `everyMs` schedule: a schedule is for recurring work, not a loop. */
export const SCHEDULE_EVERY_MS_MIN = 1000;
/** A schedule's job payload: every schedule keeps its own copy in the replicated state. */
export const SCHEDULE_PAYLOAD_BYTES_MAX = 64 * 1024;
/** Distinct queue label values in /metrics; further queues are reported as queue="_other". */
export const METRIC_QUEUE_LABELS_MAX = 200;
