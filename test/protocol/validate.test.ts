import { describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import { PAYLOAD_BYTES_MAX_DEFAULT } from '../../src/limits.js';
import { validateRequest } from '../../src/protocol/validate.js';
import { encodeValue } from '../../src/protocol/values.js';

/** What validation adds to every command's entry-size estimate beyond the payloads it measured. */
const ENVELOPE_BYTES_ESTIMATE = 256;

const NOW_MS = 1_700_000_000_000;
const session = { clientId: 'c1', seq: 1 };
const job = { queue: 'emails' };

function enqueue(jobs: unknown[]): Record<string, unknown> {
  return { id: 1, op: 'enqueue', ...session, jobs };
}
function withJob(fields: Record<string, unknown>): Record<string, unknown> {
  return enqueue([{ ...job, ...fields }]);
}
function lease(fields: Record<string, unknown>): Record<string, unknown> {
  return { id: 1, op: 'lease', ...session, queues: ['emails'], max: 10, workerId: 'w1', ...fields };
}
function ack(fields: Record<string, unknown>): Record<string, unknown> {
  return { id: 1, op: 'ack', ...session, jobId: 'j1', token: 't1', ...fields };
}

/** An array nested `depth` levels deep. */
function nested(depth: number): unknown {
  let value: unknown = 1;
  for (let i = 0; i < depth; i++) value = [value];
  return value;
}

/** `count` bytes, as a payload or result travels. */
function bytesOf(count: number): Uint8Array {
  return new Uint8Array(count);
}

interface BadRow {
  name: string;
  request: unknown;
  code: ErrorCode;
  field: string;
}

const bad: BadRow[] = [
  // Request envelope.
  { name: 'unknown op', request: { id: 1, op: 'launchMissiles' }, code: 'BAD_REQUEST', field: 'op' },
  { name: 'op named like an Object.prototype key', request: { id: 1, op: 'toString' }, code: 'BAD_REQUEST', field: 'op' },
  { name: 'unknown top-level field', request: { id: 1, op: 'queues', colour: 'red' }, code: 'BAD_REQUEST', field: 'colour' },
  { name: 'mutating request without clientId', request: { id: 1, op: 'cancel', seq: 1, jobId: 'j' }, code: 'BAD_REQUEST', field: 'clientId' },
  { name: 'mutating request without seq', request: { id: 1, op: 'cancel', clientId: 'c', jobId: 'j' }, code: 'BAD_REQUEST', field: 'seq' },
  { name: 'seq zero', request: { id: 1, op: 'cancel', clientId: 'c', seq: 0, jobId: 'j' }, code: 'BAD_REQUEST', field: 'seq' },
  { name: 'seq fractional', request: { id: 1, op: 'cancel', clientId: 'c', seq: 1.5, jobId: 'j' }, code: 'BAD_REQUEST', field: 'seq' },
  { name: 'clientId with a space', request: { id: 1, op: 'cancel', clientId: 'a b', seq: 1, jobId: 'j' }, code: 'BAD_REQUEST', field: 'clientId' },
  { name: 'session fields on a read', request: { id: 1, op: 'get', jobId: 'j', clientId: 'c' }, code: 'BAD_REQUEST', field: 'clientId' },
  { name: 'stale not a boolean', request: { id: 1, op: 'get', jobId: 'j', stale: 'yes' }, code: 'BAD_REQUEST', field: 'stale' },
  { name: 'stale on a mutating op', request: { id: 1, op: 'cancel', ...session, jobId: 'j', stale: true }, code: 'BAD_REQUEST', field: 'stale' },
  // Enqueue batch.
  { name: 'jobs missing', request: { id: 1, op: 'enqueue', ...session }, code: 'BAD_REQUEST', field: 'jobs' },
  { name: 'jobs not a list', request: enqueue({ queue: 'q' } as unknown as unknown[]), code: 'BAD_REQUEST', field: 'jobs' },
  { name: 'jobs empty', request: enqueue([]), code: 'BAD_REQUEST', field: 'jobs' },
  { name: 'jobs over the batch limit', request: enqueue(Array.from({ length: 1001 }, () => job)), code: 'BAD_REQUEST', field: 'jobs' },
  { name: 'a job that is not a map', request: enqueue([job, 'q']), code: 'BAD_REQUEST', field: 'jobs[1]' },
  { name: 'a job that is a list', request: enqueue([[1]]), code: 'BAD_REQUEST', field: 'jobs[0]' },
  { name: 'queue missing', request: enqueue([{ payload: 1 }]), code: 'BAD_REQUEST', field: 'jobs[0].queue' },
  { name: 'queue empty', request: withJob({ queue: '' }), code: 'BAD_REQUEST', field: 'jobs[0].queue' },
  { name: 'queue with a slash', request: withJob({ queue: 'a/b' }), code: 'BAD_REQUEST', field: 'jobs[0].queue' },
  { name: 'queue too long', request: withJob({ queue: 'q'.repeat(129) }), code: 'BAD_REQUEST', field: 'jobs[0].queue' },
  { name: 'queue a number', request: withJob({ queue: 5 }), code: 'BAD_REQUEST', field: 'jobs[0].queue' },
  { name: 'unknown job field', request: withJob({ colour: 'red' }), code: 'BAD_REQUEST', field: 'jobs[0].colour' },
  { name: 'priority 10', request: enqueue([job, job, { ...job, priority: 10 }]), code: 'BAD_REQUEST', field: 'jobs[2].priority' },
  { name: 'priority negative', request: withJob({ priority: -1 }), code: 'BAD_REQUEST', field: 'jobs[0].priority' },
  { name: 'priority fractional', request: withJob({ priority: 4.5 }), code: 'BAD_REQUEST', field: 'jobs[0].priority' },
  { name: 'priority unknown name', request: withJob({ priority: 'urgent' }), code: 'BAD_REQUEST', field: 'jobs[0].priority' },
  { name: 'priority NaN', request: withJob({ priority: NaN }), code: 'BAD_REQUEST', field: 'jobs[0].priority' },
  { name: 'priority boolean', request: withJob({ priority: true }), code: 'BAD_REQUEST', field: 'jobs[0].priority' },
  { name: 'delayMs negative', request: withJob({ delayMs: -5 }), code: 'BAD_REQUEST', field: 'jobs[0].delayMs' },
  { name: 'delayMs Infinity', request: withJob({ delayMs: Infinity }), code: 'BAD_REQUEST', field: 'jobs[0].delayMs' },
  { name: 'delayMs beyond a year', request: withJob({ delayMs: 366 * 86_400_000 }), code: 'BAD_REQUEST', field: 'jobs[0].delayMs' },
  { name: 'runAtMs beyond a year ahead', request: withJob({ runAtMs: NOW_MS + 366 * 86_400_000 }), code: 'BAD_REQUEST', field: 'jobs[0].runAtMs' },
  { name: 'runAtMs as a string', request: withJob({ runAtMs: '2030-01-01' }), code: 'BAD_REQUEST', field: 'jobs[0].runAtMs' },
  { name: 'both runAtMs and delayMs', request: withJob({ runAtMs: NOW_MS, delayMs: 5 }), code: 'BAD_REQUEST', field: 'jobs[0].delayMs' },
  { name: 'maxAttempts zero', request: withJob({ maxAttempts: 0 }), code: 'BAD_REQUEST', field: 'jobs[0].maxAttempts' },
  { name: 'maxAttempts above the maximum', request: withJob({ maxAttempts: 1001 }), code: 'BAD_REQUEST', field: 'jobs[0].maxAttempts' },
  { name: 'backoff not a map', request: withJob({ backoff: 5 }), code: 'BAD_REQUEST', field: 'jobs[0].backoff' },
  { name: 'backoff unknown field', request: withJob({ backoff: { factor: 2 } }), code: 'BAD_REQUEST', field: 'jobs[0].backoff.factor' },
  { name: 'backoff jitter above 1', request: withJob({ backoff: { jitter: 1.5 } }), code: 'BAD_REQUEST', field: 'jobs[0].backoff.jitter' },
  { name: 'backoff jitter NaN', request: withJob({ backoff: { jitter: NaN } }), code: 'BAD_REQUEST', field: 'jobs[0].backoff.jitter' },
  { name: 'backoff baseMs negative', request: withJob({ backoff: { baseMs: -1 } }), code: 'BAD_REQUEST', field: 'jobs[0].backoff.baseMs' },
  { name: 'backoff capMs below baseMs', request: withJob({ backoff: { baseMs: 500, capMs: 100 } }), code: 'BAD_REQUEST', field: 'jobs[0].backoff.capMs' },
  { name: 'job leaseMs below the minimum', request: withJob({ leaseMs: 99 }), code: 'BAD_REQUEST', field: 'jobs[0].leaseMs' },
  { name: 'job leaseMs above the maximum', request: withJob({ leaseMs: 12 * 3_600_000 + 1 }), code: 'BAD_REQUEST', field: 'jobs[0].leaseMs' },
  { name: 'idempotencyKey too long', request: withJob({ idempotencyKey: 'k'.repeat(257) }), code: 'BAD_REQUEST', field: 'jobs[0].idempotencyKey' },
  { name: 'idempotencyKey empty', request: withJob({ idempotencyKey: '' }), code: 'BAD_REQUEST', field: 'jobs[0].idempotencyKey' },
  { name: 'job id with a space', request: withJob({ id: 'my job' }), code: 'BAD_REQUEST', field: 'jobs[0].id' },
  { name: 'job id too long', request: withJob({ id: 'i'.repeat(129) }), code: 'BAD_REQUEST', field: 'jobs[0].id' },
  { name: 'name too long', request: withJob({ name: 'n'.repeat(257) }), code: 'BAD_REQUEST', field: 'jobs[0].name' },
  { name: 'name with a newline', request: withJob({ name: 'a\nb' }), code: 'BAD_REQUEST', field: 'jobs[0].name' },
  // Payloads and results are msgpack bytes (a `bin`), never a decoded value.
  { name: 'payload a map, not bytes', request: withJob({ payload: { to: 'a@b.c' } }), code: 'BAD_REQUEST', field: 'jobs[0].payload' },
  { name: 'payload a string, not bytes', request: withJob({ payload: 'hello' }), code: 'BAD_REQUEST', field: 'jobs[0].payload' },
  { name: 'payload a number, not bytes', request: withJob({ payload: 42 }), code: 'BAD_REQUEST', field: 'jobs[0].payload' },
  { name: 'payload a deep array, not bytes', request: withJob({ payload: nested(100) }), code: 'BAD_REQUEST', field: 'jobs[0].payload' },
  { name: 'ack result a map, not bytes', request: ack({ result: { sent: true } }), code: 'BAD_REQUEST', field: 'result' },
  { name: 'payload one byte over the limit', request: withJob({ payload: bytesOf(PAYLOAD_BYTES_MAX_DEFAULT + 1) }), code: 'PAYLOAD_TOO_LARGE', field: 'jobs[0].payload' },
  { name: 'release without a token', request: { id: 1, op: 'release', ...session, jobId: 'j1' }, code: 'BAD_REQUEST', field: 'token' },
  // ackMany.
  { name: 'ackMany without acks', request: { id: 1, op: 'ackMany', ...session, acks: [] }, code: 'BAD_REQUEST', field: 'acks' },
  { name: 'ackMany acks not a list', request: { id: 1, op: 'ackMany', ...session, acks: { jobId: 'j1' } }, code: 'BAD_REQUEST', field: 'acks' },
  { name: 'ackMany over the batch limit', request: { id: 1, op: 'ackMany', ...session, acks: Array.from({ length: 1001 }, () => ({ jobId: 'j1', token: 't1' })) }, code: 'BAD_REQUEST', field: 'acks' },
  { name: 'ackMany item without a token', request: { id: 1, op: 'ackMany', ...session, acks: [{ jobId: 'j1', token: 't1' }, { jobId: 'j2' }] }, code: 'BAD_REQUEST', field: 'acks[1].token' },
  { name: 'ackMany item with an unknown field', request: { id: 1, op: 'ackMany', ...session, acks: [{ jobId: 'j1', token: 't1', state: 'done' }] }, code: 'BAD_REQUEST', field: 'acks[0].state' },
  { name: 'ackMany result a map, not bytes', request: { id: 1, op: 'ackMany', ...session, acks: [{ jobId: 'j1', token: 't1', result: { sent: true } }] }, code: 'BAD_REQUEST', field: 'acks[0].result' },
  // Lease.
  { name: 'lease max zero', request: lease({ max: 0 }), code: 'BAD_REQUEST', field: 'max' },
  { name: 'lease max above the batch limit', request: lease({ max: 1001 }), code: 'BAD_REQUEST', field: 'max' },
  { name: 'lease waitMs above the limit', request: lease({ waitMs: 60_001 }), code: 'BAD_REQUEST', field: 'waitMs' },
  { name: 'lease waitMs negative', request: lease({ waitMs: -1 }), code: 'BAD_REQUEST', field: 'waitMs' },
  { name: 'lease leaseMs Infinity', request: lease({ leaseMs: Infinity }), code: 'BAD_REQUEST', field: 'leaseMs' },
  { name: 'lease queues empty', request: lease({ queues: [] }), code: 'BAD_REQUEST', field: 'queues' },
  { name: 'lease too many queues', request: lease({ queues: Array.from({ length: 33 }, (_, i) => `q${i}`) }), code: 'BAD_REQUEST', field: 'queues' },
  { name: 'lease bad queue name', request: lease({ queues: ['ok', 'not ok'] }), code: 'BAD_REQUEST', field: 'queues[1]' },
  { name: 'lease duplicate queue', request: lease({ queues: ['a', 'b', 'a'] }), code: 'BAD_REQUEST', field: 'queues[2]' },
  { name: 'lease queues not a list', request: lease({ queues: 'emails' }), code: 'BAD_REQUEST', field: 'queues' },
  { name: 'lease workerId missing', request: lease({ workerId: undefined }), code: 'BAD_REQUEST', field: 'workerId' },
  // Heartbeat, ack, fail.
  { name: 'heartbeat token empty', request: { id: 1, op: 'heartbeat', ...session, jobId: 'j', token: '' }, code: 'BAD_REQUEST', field: 'token' },
  { name: 'heartbeat token missing', request: { id: 1, op: 'heartbeat', ...session, jobId: 'j' }, code: 'BAD_REQUEST', field: 'token' },
  { name: 'ack jobId a number', request: ack({ jobId: 42 }), code: 'BAD_REQUEST', field: 'jobId' },
  { name: 'ack result too large', request: ack({ result: bytesOf(1024 * 1024 + 1) }), code: 'PAYLOAD_TOO_LARGE', field: 'result' },
  { name: 'fail without retryable', request: { id: 1, op: 'fail', ...session, jobId: 'j', token: 't', error: 'boom' }, code: 'BAD_REQUEST', field: 'retryable' },
  { name: 'fail retryable as a string', request: { id: 1, op: 'fail', ...session, jobId: 'j', token: 't', error: 'e', retryable: 'true' }, code: 'BAD_REQUEST', field: 'retryable' },
  { name: 'fail error too long', request: { id: 1, op: 'fail', ...session, jobId: 'j', token: 't', error: 'e'.repeat(8193), retryable: true }, code: 'BAD_REQUEST', field: 'error' },
  // Queue and DLQ ops.
  { name: 'pause without queue', request: { id: 1, op: 'pause', ...session }, code: 'BAD_REQUEST', field: 'queue' },
  { name: 'dlqRetry with both jobIds and max', request: { id: 1, op: 'dlqRetry', ...session, queue: 'q', jobIds: ['a'], max: 5 }, code: 'BAD_REQUEST', field: 'max' },
  { name: 'dlqPurge with a bad job id', request: { id: 1, op: 'dlqPurge', ...session, queue: 'q', jobIds: ['a', 'b c'] }, code: 'BAD_REQUEST', field: 'jobIds[1]' },
  { name: 'dlqPurge max negative', request: { id: 1, op: 'dlqPurge', ...session, queue: 'q', max: -3 }, code: 'BAD_REQUEST', field: 'max' },
  { name: 'dlqList limit above the maximum', request: { id: 1, op: 'dlqList', queue: 'q', limit: 101 }, code: 'BAD_REQUEST', field: 'limit' },
  { name: 'dlqList offset fractional', request: { id: 1, op: 'dlqList', queue: 'q', offset: 0.5 }, code: 'BAD_REQUEST', field: 'offset' },
  // Reads and admin.
  { name: 'get without jobId', request: { id: 1, op: 'get' }, code: 'BAD_REQUEST', field: 'jobId' },
  { name: 'waitResult without timeoutMs', request: { id: 1, op: 'waitResult', jobId: 'j' }, code: 'BAD_REQUEST', field: 'timeoutMs' },
  { name: 'waitResult timeoutMs above the maximum', request: { id: 1, op: 'waitResult', jobId: 'j', timeoutMs: 60_001 }, code: 'BAD_REQUEST', field: 'timeoutMs' },
  { name: 'stats queue null', request: { id: 1, op: 'stats', queue: null }, code: 'BAD_REQUEST', field: 'queue' },
  { name: 'addNode bad peerAddr', request: { id: 1, op: 'addNode', nodeId: 'n4', peerAddr: 'nowhere', clientAddr: 'h:1', httpAddr: 'h:2' }, code: 'BAD_REQUEST', field: 'peerAddr' },
  { name: 'addNode port out of range', request: { id: 1, op: 'addNode', nodeId: 'n4', peerAddr: 'h:1', clientAddr: 'h:70000', httpAddr: 'h:2' }, code: 'BAD_REQUEST', field: 'clientAddr' },
  { name: 'removeNode without nodeId', request: { id: 1, op: 'removeNode' }, code: 'BAD_REQUEST', field: 'nodeId' },
  { name: 'transferLeader to an empty id', request: { id: 1, op: 'transferLeader', to: '' }, code: 'BAD_REQUEST', field: 'to' },
  { name: 'hello without clientId', request: { id: 1, op: 'hello' }, code: 'BAD_REQUEST', field: 'clientId' },
  { name: 'clusterStatus with a field', request: { id: 1, op: 'clusterStatus', verbose: true }, code: 'BAD_REQUEST', field: 'verbose' },
  // Schedules.
  { name: 'scheduleSet without timing', request: { id: 1, op: 'scheduleSet', ...session, queue: 'q', scheduleId: 's' }, code: 'BAD_REQUEST', field: 'everyMs' },
  { name: 'scheduleSet with both timings', request: { id: 1, op: 'scheduleSet', ...session, queue: 'q', scheduleId: 's', everyMs: 60_000, cron: '* * * * *' }, code: 'BAD_REQUEST', field: 'everyMs' },
  { name: 'scheduleSet every half a second', request: { id: 1, op: 'scheduleSet', ...session, queue: 'q', scheduleId: 's', everyMs: 500 }, code: 'BAD_REQUEST', field: 'everyMs' },
  { name: 'scheduleSet cron hour 24', request: { id: 1, op: 'scheduleSet', ...session, queue: 'q', scheduleId: 's', cron: '0 24 * * *' }, code: 'BAD_REQUEST', field: 'cron' },
  { name: 'scheduleSet job with an id', request: { id: 1, op: 'scheduleSet', ...session, queue: 'q', scheduleId: 's', everyMs: 60_000, job: { id: 'x' } }, code: 'BAD_REQUEST', field: 'job.id' },
  { name: 'scheduleSet job payload over 64 KiB', request: { id: 1, op: 'scheduleSet', ...session, queue: 'q', scheduleId: 's', everyMs: 60_000, job: { payload: bytesOf(64 * 1024 + 1) } }, code: 'PAYLOAD_TOO_LARGE', field: 'job.payload' },
  { name: 'scheduleRemove without scheduleId', request: { id: 1, op: 'scheduleRemove', ...session, queue: 'q' }, code: 'BAD_REQUEST', field: 'scheduleId' },
  { name: 'schedules with a bad queue', request: { id: 1, op: 'schedules', queue: 'a b' }, code: 'BAD_REQUEST', field: 'queue' },
];

describe('validateRequest rejects', () => {
  it('at least 40 distinct bad inputs', () => {
    expect(bad.length).toBeGreaterThanOrEqual(40);
    expect(new Set(bad.map((row) => row.name)).size).toBe(bad.length);
  });

  it.each(bad)('$name -> $code at $field', ({ request, code, field }) => {
    const validation = validateRequest(request, { nowMs: NOW_MS });
    expect(validation.ok).toBe(false);
    if (validation.ok) return;
    expect(validation.error.code).toBe(code);
    expect(validation.error.field).toBe(field);
    expect(validation.error.retryable).toBe(false);
    expect(validation.error.message).toContain(field);
  });

  it('PAYLOAD_TOO_LARGE honours a configured limit', () => {
    const small = validateRequest(withJob({ payload: bytesOf(100) }), { nowMs: NOW_MS, payloadBytesMax: 99 });
    expect(small.ok ? null : small.error.code).toBe('PAYLOAD_TOO_LARGE');
    const fits = validateRequest(withJob({ payload: bytesOf(100) }), { nowMs: NOW_MS, payloadBytesMax: 100 });
    expect(fits.ok).toBe(true);
  });

  it('a body that is not a map, or lacks an id, is refused without throwing', () => {
    for (const body of [null, 5, 'x', [1, 2], { op: 'get' }, { id: -1, op: 'get' }, { id: 1 }]) {
      expect(validateRequest(body).ok).toBe(false);
    }
  });
});

describe('validateRequest accepts', () => {
  it('a schedule, turning its job into the replicated ScheduleJob', () => {
    const payload = encodeValue({ report: 'daily' });
    const validation = validateRequest(
      { id: 3, op: 'scheduleSet', ...session, queue: 'reports', scheduleId: 'daily', cron: ' @daily ', startAtMs: NOW_MS + 1000, job: { payload, priority: 'high', name: 'r', maxAttempts: 2 } },
      { nowMs: NOW_MS },
    );
    expect(validation.ok && validation.request.kind === 'command' ? validation.request.envelope.cmd : null).toEqual({
      op: 'scheduleSet', queue: 'reports', scheduleId: 'daily', cron: ' @daily ', startAtMs: NOW_MS + 1000, job: { payload, priority: 8, name: 'r', maxAttempts: 2 },
    });
    const list = validateRequest({ id: 4, op: 'schedules', stale: true }, { nowMs: NOW_MS });
    expect(list).toEqual({ ok: true, request: { kind: 'read', id: 4, stale: true, op: 'schedules', queue: null } });
  });

  it('a full enqueue and turns it into the Command', () => {
    const payload = encodeValue({ to: 'a@b.c' });
    const validation = validateRequest(
      enqueue([
        { queue: 'emails', name: 'welcome', payload, id: 'job-1', priority: 'high', delayMs: 1000, maxAttempts: 5, backoff: { baseMs: 10, capMs: 100, jitter: 0.5 }, leaseMs: 5000, idempotencyKey: 'k' },
        { queue: 'emails', priority: 0, runAtMs: NOW_MS + 60_000 },
        { queue: 'emails', priority: 'low', payload: null },
      ]),
      { nowMs: NOW_MS },
    );
    expect(validation).toEqual({
      ok: true,
      request: {
        kind: 'command',
        id: 1,
        op: 'enqueue',
        waitMs: 0,
        // The one payload present counts by its byte length, as it is: nothing is encoded again.
        sizeBytes: ENVELOPE_BYTES_ESTIMATE + payload.byteLength,
        envelope: {
          clientId: 'c1',
          seq: 1,
          cmd: {
            op: 'enqueue',
            jobs: [
              { queue: 'emails', name: 'welcome', payload, id: 'job-1', priority: 8, delayMs: 1000, maxAttempts: 5, backoff: { baseMs: 10, capMs: 100, jitter: 0.5 }, leaseMs: 5000, idempotencyKey: 'k' },
              { queue: 'emails', priority: 0, runAtMs: NOW_MS + 60_000 },
              { queue: 'emails', priority: 2 },
            ],
          },
        },
      },
    });
  });

  it('a lease, carrying waitMs beside the command', () => {
    const validation = validateRequest(lease({ queues: ['a', 'b'], leaseMs: 1000, waitMs: 5000 }));
    expect(validation).toEqual({
      ok: true,
      request: { kind: 'command', id: 1, op: 'lease', waitMs: 5000, sizeBytes: ENVELOPE_BYTES_ESTIMATE, envelope: { clientId: 'c1', seq: 1, cmd: { op: 'lease', queues: ['a', 'b'], max: 10, workerId: 'w1', leaseMs: 1000 } } },
    });
  });

  it.each([
    [{ id: 1, op: 'heartbeat', ...session, jobId: 'j', token: 't', leaseMs: 100 }, { op: 'heartbeat', jobId: 'j', token: 't', leaseMs: 100 }],
    [ack({ result: encodeValue({ sent: true }) }), { op: 'ack', jobId: 'j1', token: 't1', result: encodeValue({ sent: true }) }],
    [ack({}), { op: 'ack', jobId: 'j1', token: 't1' }],
    [{ id: 1, op: 'release', ...session, jobId: 'j', token: 't' }, { op: 'release', jobId: 'j', token: 't' }],
    [
      { id: 1, op: 'ackMany', ...session, acks: [{ jobId: 'j1', token: 't1', result: encodeValue(7) }, { jobId: 'j2', token: 't2' }] },
      { op: 'ackMany', acks: [{ jobId: 'j1', token: 't1', result: encodeValue(7) }, { jobId: 'j2', token: 't2' }] },
    ],
    [{ id: 1, op: 'fail', ...session, jobId: 'j', token: 't', error: '', retryable: false }, { op: 'fail', jobId: 'j', token: 't', error: '', retryable: false }],
    [{ id: 1, op: 'cancel', ...session, jobId: 'j' }, { op: 'cancel', jobId: 'j' }],
    [{ id: 1, op: 'pause', ...session, queue: 'q' }, { op: 'pause', queue: 'q' }],
    [{ id: 1, op: 'resume', ...session, queue: 'q' }, { op: 'resume', queue: 'q' }],
    [{ id: 1, op: 'dlqRetry', ...session, queue: 'q', jobIds: ['a', 'b'] }, { op: 'dlqRetry', queue: 'q', jobIds: ['a', 'b'] }],
    [{ id: 1, op: 'dlqPurge', ...session, queue: 'q', max: 5 }, { op: 'dlqPurge', queue: 'q', max: 5 }],
    [{ id: 1, op: 'dlqPurge', ...session, queue: 'q' }, { op: 'dlqPurge', queue: 'q' }],
  ])('mutating %j', (request, cmd) => {
    const validation = validateRequest(request);
    expect(validation.ok && validation.request.kind === 'command' ? validation.request.envelope.cmd : validation).toEqual(cmd);
  });

  it.each([
    [{ id: 2, op: 'get', jobId: 'j' }, { kind: 'read', id: 2, op: 'get', jobId: 'j', stale: false }],
    [{ id: 2, op: 'get', jobId: 'j', stale: true }, { kind: 'read', id: 2, op: 'get', jobId: 'j', stale: true }],
    [{ id: 2, op: 'stats', queue: 'q', stale: null }, { kind: 'read', id: 2, op: 'stats', queue: 'q', stale: false }],
    [{ id: 2, op: 'queues' }, { kind: 'read', id: 2, op: 'queues', stale: false }],
    [{ id: 2, op: 'dlqList', queue: 'q' }, { kind: 'read', id: 2, op: 'dlqList', queue: 'q', offset: 0, limit: 20, stale: false }],
    [{ id: 2, op: 'waitResult', jobId: 'j', timeoutMs: 0 }, { kind: 'read', id: 2, op: 'waitResult', jobId: 'j', timeoutMs: 0, stale: false }],
    [{ id: 2, op: 'clusterStatus' }, { kind: 'admin', id: 2, op: 'clusterStatus' }],
    [{ id: 2, op: 'transferLeader', to: 'n2' }, { kind: 'admin', id: 2, op: 'transferLeader', to: 'n2' }],
    [
      { id: 2, op: 'addNode', nodeId: 'n4', peerAddr: '10.0.0.4:7104', clientAddr: 'n4.local:7004', httpAddr: '[::1]:8004' },
      { kind: 'admin', id: 2, op: 'addNode', node: { id: 'n4', peerAddr: '10.0.0.4:7104', clientAddr: 'n4.local:7004', httpAddr: '[::1]:8004' } },
    ],
    [{ id: 2, op: 'removeNode', nodeId: 'n4' }, { kind: 'admin', id: 2, op: 'removeNode', nodeId: 'n4' }],
    [{ id: 2, op: 'snapshot' }, { kind: 'admin', id: 2, op: 'snapshot' }],
    [{ id: 2, op: 'stateHash' }, { kind: 'admin', id: 2, op: 'stateHash' }],
    [{ id: 2, op: 'hello', clientId: 'c9' }, { kind: 'admin', id: 2, op: 'hello', clientId: 'c9' }],
  ])('read/admin %j', (request, expected) => {
    expect(validateRequest(request)).toEqual({ ok: true, request: expected });
  });

  it('payload bytes as they are, of any content, up to the limit', () => {
    // Not msgpack at all: the broker does not look inside (the SDK decodes when it reads the job).
    const opaque = Uint8Array.of(0xc1, 0xff, 0x00);
    const full = bytesOf(PAYLOAD_BYTES_MAX_DEFAULT);
    const validation = validateRequest(enqueue([{ queue: 'q', payload: opaque }, { queue: 'q', payload: full }]), { nowMs: NOW_MS });
    const cmd = validation.ok && validation.request.kind === 'command' ? validation.request.envelope.cmd : null;
    if (cmd?.op !== 'enqueue') throw new Error(`expected an enqueue, got ${JSON.stringify(validation)}`);
    // The very bytes that came in (no copy, no re-encoding).
    expect(cmd.jobs.map((spec) => spec.payload)).toEqual([opaque, expect.any(Uint8Array)]);
    expect(cmd.jobs[1]!.payload).toBe(full);
    expect(validation.ok ? validation.request.kind === 'command' && validation.request.sizeBytes : null).toBe(ENVELOPE_BYTES_ESTIMATE + 3 + PAYLOAD_BYTES_MAX_DEFAULT);
  });

  it('the largest allowed values', () => {
    const validation = validateRequest(
      enqueue(Array.from({ length: 1000 }, () => ({ queue: 'q'.repeat(128), priority: 9, maxAttempts: 1000, leaseMs: 12 * 3_600_000, delayMs: 365 * 86_400_000 }))),
      { nowMs: NOW_MS },
    );
    expect(validation.ok).toBe(true);
    expect(validateRequest(lease({ max: 1000, waitMs: 60_000, queues: Array.from({ length: 32 }, (_, i) => `q${i}`) })).ok).toBe(true);
  });
});
