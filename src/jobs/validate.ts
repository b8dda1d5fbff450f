// Shape and range checks on a replicated command, before it touches any state. The edge already
// validates requests; this is the second line, because a command that slipped through malformed
// must turn into a BAD_REQUEST outcome on every replica alike, never into an exception in apply.
// Checks depend only on the command and the entry's time, so every replica reaches the same verdict.

import { badRequest, type WireError } from '../errors.js';
import {
  ACK_BATCH_MAX,
  DELAY_MS_MAX,
  ENQUEUE_BATCH_MAX,
  ID_PATTERN,
  IDEMPOTENCY_KEY_LENGTH_MAX,
  JOB_NAME_LENGTH_MAX,
  LEASE_BATCH_MAX,
  LEASE_MS_MAX,
  LEASE_MS_MIN,
  LEASE_QUEUES_MAX,
  MAX_ATTEMPTS_MAX,
  QUEUE_NAME_PATTERN,
  SCHEDULE_EVERY_MS_MIN,
  SCHEDULE_PAYLOAD_BYTES_MAX,
} from '../limits.js';
import { ASSIGNED_ID_PATTERN, LEASE_TOKEN_LENGTH_MAX } from './ids.js';
import { PRIORITY_MAX, PRIORITY_MIN, SCHEDULE_JOB_FIELDS, type Command } from './types.js';

/** Job ids one dlqRetry / dlqPurge may list: the same bound as one enqueue batch. */
export const DLQ_IDS_MAX = ENQUEUE_BATCH_MAX;

type Check = WireError | null;
type Fields = Record<string, unknown>;

function fail(field: string, message: string): WireError {
  return badRequest(field, message).toWire();
}

/** msgpack peers may send null for an absent optional field. */
function absent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

function isObject(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function intIn(field: string, value: unknown, min: number, max: number): Check {
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) return fail(field, 'must be an integer');
  if (value < min || value > max) return fail(field, `must be within ${min}..${max}`);
  return null;
}

function optionalIntIn(field: string, value: unknown, min: number, max: number): Check {
  return absent(value) ? null : intIn(field, value, min, max);
}

function stringOf(field: string, value: unknown, lengthMax: number): Check {
  if (typeof value !== 'string' || value.length === 0) return fail(field, 'must be a non-empty string');
  if (value.length > lengthMax) return fail(field, `must be at most ${lengthMax} characters`);
  return null;
}

function patterned(field: string, value: unknown, pattern: RegExp): Check {
  if (typeof value !== 'string' || !pattern.test(value)) return fail(field, `must match ${pattern.source}`);
  return null;
}

function checkBackoff(field: string, value: unknown): Check {
  if (absent(value)) return null;
  if (!isObject(value)) return fail(field, 'must be an object');
  const jitter = value.jitter;
  const jitterOk = absent(jitter) || (typeof jitter === 'number' && jitter >= 0 && jitter <= 1);
  return (
    optionalIntIn(`${field}.baseMs`, value.baseMs, 0, DELAY_MS_MAX) ??
    optionalIntIn(`${field}.capMs`, value.capMs, 0, DELAY_MS_MAX) ??
    (jitterOk ? null : fail(`${field}.jitter`, 'must be a number within 0..1'))
  );
}

/** Payloads and results are msgpack bytes the state machine stores as they are (never decoded). */
function optionalBytes(field: string, value: unknown): Check {
  return absent(value) || value instanceof Uint8Array ? null : fail(field, 'must be msgpack-encoded bytes');
}

function checkJobId(field: string, value: unknown): Check {
  if (absent(value)) return null;
  const error = patterned(field, value, ID_PATTERN);
  if (error !== null) return error;
  return ASSIGNED_ID_PATTERN.test(value as string) ? fail(field, 'ids of the form j<11 base-36 digits>-<5 digits> are reserved for ids the broker assigns') : null;
}

function checkSpec(field: string, spec: unknown, nowMs: number): Check {
  if (!isObject(spec)) return fail(field, 'must be an object');
  // A `??` chain stops at the first error without allocating a closure per check (hot path).
  const at = (name: string): string => `${field}.${name}`;
  if (!(typeof spec.queue === 'string' && QUEUE_NAME_PATTERN.test(spec.queue))) return patterned(at('queue'), spec.queue, QUEUE_NAME_PATTERN);
  return (
    (absent(spec.name) ? null : stringOf(at('name'), spec.name, JOB_NAME_LENGTH_MAX)) ??
    optionalBytes(at('payload'), spec.payload) ??
    checkJobId(at('id'), spec.id) ??
    optionalIntIn(at('priority'), spec.priority, PRIORITY_MIN, PRIORITY_MAX) ??
    optionalIntIn(at('runAtMs'), spec.runAtMs, 0, nowMs + DELAY_MS_MAX) ??
    optionalIntIn(at('delayMs'), spec.delayMs, 0, DELAY_MS_MAX) ??
    optionalIntIn(at('maxAttempts'), spec.maxAttempts, 1, MAX_ATTEMPTS_MAX) ??
    checkBackoff(at('backoff'), spec.backoff) ??
    optionalIntIn(at('leaseMs'), spec.leaseMs, LEASE_MS_MIN, LEASE_MS_MAX) ??
    (absent(spec.idempotencyKey) ? null : stringOf(at('idempotencyKey'), spec.idempotencyKey, IDEMPOTENCY_KEY_LENGTH_MAX))
  );
}

/** A schedule's job: an enqueue spec's fields, less those a firing decides (queue, id, timing, key). */
function checkScheduleJob(value: unknown): Check {
  if (!isObject(value)) return fail('job', 'must be an object');
  // Replicated for as long as the schedule lives: nothing beyond the fields a firing uses.
  for (const key of Object.keys(value)) {
    if (!(SCHEDULE_JOB_FIELDS as readonly string[]).includes(key)) return fail(`job.${key}`, 'is not a field of a schedule\'s job');
  }
  const error = checkSpec('job', { ...value, queue: 'q' }, 0);
  if (error !== null) return error;
  const payload = value.payload;
  return payload instanceof Uint8Array && payload.byteLength > SCHEDULE_PAYLOAD_BYTES_MAX ? fail('job.payload', `must be at most ${SCHEDULE_PAYLOAD_BYTES_MAX} bytes`) : null;
}

function checkScheduleSet(cmd: Fields, nowMs: number): Check {
  const timing =
    absent(cmd.everyMs) === absent(cmd.cron)
      ? fail('everyMs', 'give exactly one of everyMs and cron')
      : absent(cmd.cron)
        ? intIn('everyMs', cmd.everyMs, SCHEDULE_EVERY_MS_MIN, DELAY_MS_MAX)
        : typeof cmd.cron === 'string'
          ? null
          : fail('cron', 'must be a string');
  return (
    patterned('queue', cmd.queue, QUEUE_NAME_PATTERN) ??
    patterned('scheduleId', cmd.scheduleId, ID_PATTERN) ??
    timing ??
    optionalIntIn('startAtMs', cmd.startAtMs, 0, nowMs + DELAY_MS_MAX) ??
    checkScheduleJob(cmd.job)
  );
}

function checkEnqueue(cmd: Fields, nowMs: number): Check {
  const jobs = cmd.jobs;
  if (!Array.isArray(jobs)) return fail('jobs', 'must be an array');
  if (jobs.length > ENQUEUE_BATCH_MAX) return fail('jobs', `at most ${ENQUEUE_BATCH_MAX} jobs per enqueue`);
  for (let i = 0; i < jobs.length; i++) {
    const error = checkSpec(`jobs[${i}]`, jobs[i], nowMs);
    if (error !== null) return error;
  }
  return null;
}

function checkQueueList(field: string, value: unknown): Check {
  if (!Array.isArray(value) || value.length === 0) return fail(field, 'must be a non-empty array');
  if (value.length > LEASE_QUEUES_MAX) return fail(field, `at most ${LEASE_QUEUES_MAX} queues`);
  for (let i = 0; i < value.length; i++) {
    const error = patterned(`${field}[${i}]`, value[i], QUEUE_NAME_PATTERN);
    if (error !== null) return error;
  }
  return null;
}

function checkIdList(field: string, value: unknown): Check {
  if (absent(value)) return null;
  if (!Array.isArray(value)) return fail(field, 'must be an array');
  if (value.length > DLQ_IDS_MAX) return fail(field, `at most ${DLQ_IDS_MAX} ids`);
  for (let i = 0; i < value.length; i++) {
    const error = patterned(`${field}[${i}]`, value[i], ID_PATTERN);
    if (error !== null) return error;
  }
  return null;
}

function checkLeaseHolder(cmd: Fields): Check {
  return patterned('jobId', cmd.jobId, ID_PATTERN) ?? stringOf('token', cmd.token, LEASE_TOKEN_LENGTH_MAX);
}

function checkAckList(value: unknown): Check {
  if (!Array.isArray(value) || value.length === 0) return fail('acks', 'must be a non-empty array');
  if (value.length > ACK_BATCH_MAX) return fail('acks', `at most ${ACK_BATCH_MAX} acks`);
  for (let i = 0; i < value.length; i++) {
    const item: unknown = value[i];
    if (!isObject(item)) return fail(`acks[${i}]`, 'must be an object');
    const error =
      patterned(`acks[${i}].jobId`, item.jobId, ID_PATTERN) ??
      stringOf(`acks[${i}].token`, item.token, LEASE_TOKEN_LENGTH_MAX) ??
      optionalBytes(`acks[${i}].result`, item.result);
    if (error !== null) return error;
  }
  return null;
}

/** Null when `cmd` is a well-formed Command; otherwise the BAD_REQUEST to answer with. */
export function validateCommand(cmd: unknown, nowMs: number): WireError | null {
  if (!isObject(cmd)) return fail('cmd', 'must be an object');
  const op = cmd.op as Command['op'];
  switch (op) {
    case 'enqueue':
      return checkEnqueue(cmd, nowMs);
    case 'lease':
      return (
        patterned('workerId', cmd.workerId, ID_PATTERN) ??
        checkQueueList('queues', cmd.queues) ??
        intIn('max', cmd.max, 1, LEASE_BATCH_MAX) ??
        optionalIntIn('leaseMs', cmd.leaseMs, LEASE_MS_MIN, LEASE_MS_MAX)
      );
    case 'heartbeat':
      return checkLeaseHolder(cmd) ?? optionalIntIn('leaseMs', cmd.leaseMs, LEASE_MS_MIN, LEASE_MS_MAX);
    case 'ack':
      return checkLeaseHolder(cmd) ?? optionalBytes('result', cmd.result);
    case 'ackMany':
      return checkAckList(cmd.acks);
    case 'release':
      return checkLeaseHolder(cmd);
    case 'fail':
      return (
        checkLeaseHolder(cmd) ??
        (typeof cmd.error === 'string' ? null : fail('error', 'must be a string')) ??
        (typeof cmd.retryable === 'boolean' ? null : fail('retryable', 'must be a boolean'))
      );
    case 'cancel':
      return patterned('jobId', cmd.jobId, ID_PATTERN);
    case 'tick':
      return null;
    case 'scheduleSet':
      return checkScheduleSet(cmd, nowMs);
    case 'scheduleRemove':
      return patterned('queue', cmd.queue, QUEUE_NAME_PATTERN) ?? patterned('scheduleId', cmd.scheduleId, ID_PATTERN);
    case 'pause':
    case 'resume':
      return patterned('queue', cmd.queue, QUEUE_NAME_PATTERN);
    case 'dlqRetry':
    case 'dlqPurge':
      return (
        patterned('queue', cmd.queue, QUEUE_NAME_PATTERN) ??
        checkIdList('jobIds', cmd.jobIds) ??
        optionalIntIn('max', cmd.max, 1, Number.MAX_SAFE_INTEGER)
      );
    default:
      return fail('op', `unknown command ${JSON.stringify(String(op).slice(0, 64))}`);
  }
}
