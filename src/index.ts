// raftq's public API: the SDK (Client, Worker), its errors, and the types they speak.
// The wire protocol, server and node internals are not part of it.

export { Client } from './client/client.js';
export type { ClientOptions, JobToSubmit, ReadOptions, Schedule, ScheduleOptions, ScheduleSummary, SelectOptions, SubmitOptions } from './client/client.js';
export { SubmitManyError } from './client/submit-outcome.js';
export type { SubmitOutcome } from './client/submit-outcome.js';
export { Worker } from './client/worker.js';
export type { JobHandler, WorkerEvents, WorkerJob, WorkerOptions } from './client/worker.js';
export type { RetryOptions } from './client/transport.js';
export { ERROR_CODES, RaftqError, isRetryable } from './errors.js';
export type { ErrorCode } from './errors.js';
export { JOB_STATES, PRIORITY_NAMED } from './jobs/types.js';
export type { Backoff, Job, JobState, LeasedJob, PriorityName, QueueStats } from './jobs/types.js';
export type { ClusterStatus, NodeAddresses, NodeStatus, OpResults } from './protocol/messages.js';
