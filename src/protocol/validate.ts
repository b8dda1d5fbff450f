// Validation at the edge: every field of every request is checked here, once, before anything is
// proposed to Raft, so the state machine only ever sees well-formed, bounded commands.
// Client mistakes come back as values (`{ok: false, error}`) whose `field` names the offending
// path (`jobs[2].priority`); this module throws only on its own bugs.

import type { WireError } from '../errors.js';
import { RaftqError } from '../errors.js';
import { CRON_EXPRESSION_LENGTH_MAX, CRON_SEARCH_YEARS, nextCronMs, parseCron } from '../jobs/cron.js';
import type { AckItem, Backoff, Command, EnqueueSpec, ScheduleJob } from '../jobs/types.js';
import { PRIORITY_MAX, PRIORITY_MIN, PRIORITY_NAMED, SCHEDULE_JOB_FIELDS } from '../jobs/types.js';
import {
  ACK_BATCH_MAX, DELAY_MS_MAX, ENQUEUE_BATCH_MAX, ERROR_MESSAGE_LENGTH_MAX, ID_PATTERN, IDEMPOTENCY_KEY_LENGTH_MAX,
  JOB_NAME_LENGTH_MAX, LEASE_BATCH_MAX, LEASE_MS_MAX, LEASE_MS_MIN, LEASE_QUEUES_MAX, LEASE_WAIT_MS_MAX,
  MAX_ATTEMPTS_MAX, PAYLOAD_BYTES_MAX_DEFAULT, QUEUE_NAME_PATTERN, RESULT_BYTES_MAX, SCHEDULE_EVERY_MS_MIN,
  SCHEDULE_PAYLOAD_BYTES_MAX,
} from '../limits.js';
import { parseHostPort } from './address.js';
import type { MutatingOp, NodeAddresses, Op, ValidAdminRequest, ValidCommandRequest, ValidReadRequest, ValidRequest } from './messages.js';
import {
  DLQ_BATCH_MAX, DLQ_LIST_LIMIT_DEFAULT, DLQ_LIST_LIMIT_MAX, LEASE_TOKEN_LENGTH_MAX, MUTATING_OPS, READ_OPS,
  WAIT_RESULT_MS_MAX,
} from './messages.js';

export interface ValidateOptions {
  /** Largest payload of one job, in bytes (default PAYLOAD_BYTES_MAX_DEFAULT). */
  payloadBytesMax?: number;
  /** This node's clock, to bound runAtMs to DELAY_MS_MAX ahead (default Date.now()). */
  nowMs?: number;
}

export type Validation = { ok: true; request: ValidRequest } | { ok: false; error: WireError };

/** The frame-level part of a request: without a usable id and op there is nothing to answer. */
export type RequestHeader = { ok: true; id: number; op: string; body: Record<string, unknown> } | { ok: false; reason: string };

export function isOp(op: string): op is Op {
  return Object.prototype.hasOwnProperty.call(OPS, op);
}

export function readRequestHeader(body: unknown): RequestHeader {
  if (!isPlainObject(body)) return { ok: false, reason: 'request is not a map' };
  const { id, op } = body;
  if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) return { ok: false, reason: 'request id is not a non-negative integer' };
  if (typeof op !== 'string') return { ok: false, reason: 'request op is not a string' };
  return { ok: true, id, op, body };
}

/** Validates one decoded request body (any value). */
export function validateRequest(body: unknown, options: ValidateOptions = {}): Validation {
  const header = readRequestHeader(body);
  if (!header.ok) return { ok: false, error: new RaftqError('BAD_REQUEST', header.reason, { field: 'op' }).toWire() };
  return validateRequestBody(header.id, header.op, header.body, options);
}

/** Validates a request whose header was already read (the server's path). */
export function validateRequestBody(id: number, op: string, body: Record<string, unknown>, options: ValidateOptions = {}): Validation {
  const ctx: Context = {
    payloadBytesMax: options.payloadBytesMax ?? PAYLOAD_BYTES_MAX_DEFAULT,
    nowMs: options.nowMs ?? Date.now(),
    valueBytes: 0,
  };
  try {
    const request = validateOp(id, op, body, ctx);
    if (request.kind === 'command') request.sizeBytes += ctx.valueBytes;
    return { ok: true, request };
  } catch (error) {
    // Invalid is this module's private signal; anything else is a bug and must surface.
    if (error instanceof Invalid) return { ok: false, error: error.wire };
    throw error;
  }
}

interface Context {
  payloadBytesMax: number;
  nowMs: number;
  /** Bytes of the payloads and results seen so far: what they add to the entry. */
  valueBytes: number;
}

/** Bytes of an envelope beyond its payloads and results (ids, tokens, options), for entry sizing. */
const ENVELOPE_BYTES_ESTIMATE = 256;

class Invalid extends Error {
  readonly wire: WireError;
  constructor(field: string, message: string, code: 'BAD_REQUEST' | 'PAYLOAD_TOO_LARGE' = 'BAD_REQUEST') {
    super(message);
    this.wire = new RaftqError(code, `${field}: ${message}`, { field }).toWire();
  }
}

function validateOp(id: number, op: string, body: Record<string, unknown>, ctx: Context): ValidRequest {
  if (!isOp(op)) throw new Invalid('op', `unknown op "${op.slice(0, 64)}"`);
  const spec = OPS[op];
  const base = (MUTATING_OPS as readonly string[]).includes(op) ? ['clientId', 'seq', 'seqFloor'] : (READ_OPS as readonly string[]).includes(op) ? ['stale'] : [];
  const fields = new Fields(body, '', ['id', 'op', ...base, ...spec.fields]);
  return spec.validate(id, fields, ctx);
}

// ---------------------------------------------------------------------------------------------
// Field readers. Each takes the value and its path, and throws Invalid with that path.

/** An object's fields, with unknown keys rejected up front. A key whose value is nil counts as absent. */
class Fields {
  readonly obj: Record<string, unknown>;
  readonly path: string;
  constructor(obj: Record<string, unknown>, path: string, allowed: readonly string[]) {
    this.obj = obj;
    this.path = path;
    for (const key of Object.keys(obj)) {
      if (!allowed.includes(key)) throw new Invalid(this.at(key), 'unknown field');
    }
  }
  at(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }
  has(key: string): boolean {
    return this.obj[key] !== undefined && this.obj[key] !== null;
  }
  required<T>(key: string, read: (value: unknown, path: string) => T): T {
    if (!this.has(key)) throw new Invalid(this.at(key), 'is required');
    return read(this.obj[key], this.at(key));
  }
  optional<T>(key: string, read: (value: unknown, path: string) => T): T | undefined {
    return this.has(key) ? read(this.obj[key], this.at(key)) : undefined;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

function object(value: unknown, path: string, allowed: readonly string[]): Fields {
  if (!isPlainObject(value)) throw new Invalid(path, 'must be a map');
  return new Fields(value, path, allowed);
}

function integer(min: number, max: number) {
  return (value: unknown, path: string): number => {
    if (typeof value !== 'number') throw new Invalid(path, 'must be a number');
    if (!Number.isFinite(value)) throw new Invalid(path, 'must be finite');
    if (!Number.isInteger(value)) throw new Invalid(path, 'must be an integer');
    if (value < min || value > max) throw new Invalid(path, `must be in ${min}..${max}`);
    return value;
  };
}

function fraction(value: unknown, path: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new Invalid(path, 'must be a finite number');
  if (value < 0 || value > 1) throw new Invalid(path, 'must be in 0..1');
  return value;
}

function boolean(value: unknown, path: string): boolean {
  if (typeof value !== 'boolean') throw new Invalid(path, 'must be a boolean');
  return value;
}

function text(lengthMin: number, lengthMax: number) {
  return (value: unknown, path: string): string => {
    if (typeof value !== 'string') throw new Invalid(path, 'must be a string');
    if (value.length < lengthMin || value.length > lengthMax) throw new Invalid(path, `length must be in ${lengthMin}..${lengthMax}`);
    return value;
  };
}

function matching(pattern: RegExp, what: string) {
  return (value: unknown, path: string): string => {
    if (typeof value !== 'string') throw new Invalid(path, 'must be a string');
    if (!pattern.test(value)) throw new Invalid(path, `must be ${what}`);
    return value;
  };
}

const queueName = matching(QUEUE_NAME_PATTERN, '1..128 characters of [A-Za-z0-9._:-]');
const identifier = matching(ID_PATTERN, '1..128 characters of [A-Za-z0-9._:-]');
const seqNumber = integer(1, Number.MAX_SAFE_INTEGER);
const leaseMsBounded = integer(LEASE_MS_MIN, LEASE_MS_MAX);

function list<T>(lengthMin: number, lengthMax: number, item: (value: unknown, path: string) => T) {
  return (value: unknown, path: string): T[] => {
    if (!Array.isArray(value)) throw new Invalid(path, 'must be a list');
    if (value.length < lengthMin || value.length > lengthMax) throw new Invalid(path, `must hold ${lengthMin}..${lengthMax} items`);
    return value.map((entry, index) => item(entry, `${path}[${index}]`));
  };
}

function uniqueList<T>(lengthMin: number, lengthMax: number, item: (value: unknown, path: string) => T) {
  const read = list(lengthMin, lengthMax, item);
  return (value: unknown, path: string): T[] => {
    const items = read(value, path);
    const seen = new Set<T>();
    items.forEach((entry, index) => {
      if (seen.has(entry)) throw new Invalid(`${path}[${index}]`, 'is a duplicate');
      seen.add(entry);
    });
    return items;
  };
}

function address(value: unknown, path: string): string {
  if (typeof value !== 'string' || parseHostPort(value) === null) throw new Invalid(path, 'must be host:port');
  return value;
}

/**
 * A payload or result: msgpack bytes the broker never decodes (the SDK encodes the user's value;
 * another client sends a msgpack `bin`). Only their type and length are checked, so the cost does
 * not depend on what the value holds.
 */
function valueBytes(ctx: Context, bytesMax: number, what: string) {
  return (value: unknown, path: string): Uint8Array => {
    if (!(value instanceof Uint8Array)) throw new Invalid(path, `${what} must be msgpack-encoded bytes (a msgpack bin), got ${describe(value)}`);
    if (value.byteLength > bytesMax) throw new Invalid(path, `${what} of ${value.byteLength} bytes exceeds ${bytesMax}`, 'PAYLOAD_TOO_LARGE');
    ctx.valueBytes += value.byteLength;
    return value;
  };
}

function describe(value: unknown): string {
  if (value === null) return 'nil';
  if (Array.isArray(value)) return 'an array';
  return typeof value === 'object' ? 'a map' : `a ${typeof value}`;
}

/** Sets `key` on `target` only when present, so commands never carry explicit undefined fields. */
function put<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

// ---------------------------------------------------------------------------------------------
// Enqueue: the one op with a deep shape.

const JOB_FIELDS = ['queue', 'name', 'payload', 'id', 'priority', 'runAtMs', 'delayMs', 'maxAttempts', 'backoff', 'leaseMs', 'idempotencyKey'];

function priority(value: unknown, path: string): number {
  if (typeof value === 'string') {
    if (Object.prototype.hasOwnProperty.call(PRIORITY_NAMED, value)) return PRIORITY_NAMED[value as keyof typeof PRIORITY_NAMED];
    throw new Invalid(path, 'must be high, normal, low or an integer');
  }
  return integer(PRIORITY_MIN, PRIORITY_MAX)(value, path);
}

function jobName(value: unknown, path: string): string {
  const name = text(1, JOB_NAME_LENGTH_MAX)(value, path);
  // Names show up in logs and dashboards; control characters have no business there.
  if (/\p{Cc}/u.test(name)) throw new Invalid(path, 'must not contain control characters');
  return name;
}

function backoff(value: unknown, path: string): Partial<Backoff> {
  const fields = object(value, path, ['baseMs', 'capMs', 'jitter']);
  const out: Partial<Backoff> = {};
  put(out, 'baseMs', fields.optional('baseMs', integer(0, DELAY_MS_MAX)));
  put(out, 'capMs', fields.optional('capMs', integer(0, DELAY_MS_MAX)));
  put(out, 'jitter', fields.optional('jitter', fraction));
  if (out.baseMs !== undefined && out.capMs !== undefined && out.capMs < out.baseMs) {
    throw new Invalid(fields.at('capMs'), 'must be at least baseMs');
  }
  return out;
}

function enqueueSpec(ctx: Context) {
  return (value: unknown, path: string): EnqueueSpec => {
    const fields = object(value, path, JOB_FIELDS);
    const spec: EnqueueSpec = { queue: fields.required('queue', queueName) };
    put(spec, 'name', fields.optional('name', jobName));
    put(spec, 'payload', fields.optional('payload', valueBytes(ctx, ctx.payloadBytesMax, 'payload')));
    put(spec, 'id', fields.optional('id', identifier));
    put(spec, 'priority', fields.optional('priority', priority));
    put(spec, 'runAtMs', fields.optional('runAtMs', integer(0, ctx.nowMs + DELAY_MS_MAX)));
    put(spec, 'delayMs', fields.optional('delayMs', integer(0, DELAY_MS_MAX)));
    if (spec.runAtMs !== undefined && spec.delayMs !== undefined) throw new Invalid(fields.at('delayMs'), 'must not be given with runAtMs');
    put(spec, 'maxAttempts', fields.optional('maxAttempts', integer(1, MAX_ATTEMPTS_MAX)));
    put(spec, 'backoff', fields.optional('backoff', backoff));
    put(spec, 'leaseMs', fields.optional('leaseMs', leaseMsBounded));
    put(spec, 'idempotencyKey', fields.optional('idempotencyKey', text(1, IDEMPOTENCY_KEY_LENGTH_MAX)));
    return spec;
  };
}

// ---------------------------------------------------------------------------------------------
// The ops. Each lists the fields it accepts (besides id, op and its kind's common fields).

interface OpSpec {
  fields: readonly string[];
  validate(id: number, fields: Fields, ctx: Context): ValidRequest;
}

function command(id: number, fields: Fields, cmd: Extract<Command, { op: MutatingOp }>, waitMs = 0): ValidCommandRequest {
  const clientId = fields.required('clientId', identifier);
  const seq = fields.required('seq', seqNumber);
  const seqFloor = fields.optional('seqFloor', seqNumber);
  if (seqFloor !== undefined && seqFloor > seq) throw new Invalid('seqFloor', `must be <= seq (${seq})`);
  const envelope = seqFloor === undefined ? { clientId, seq, cmd } : { clientId, seq, seqFloor, cmd };
  return { kind: 'command', id, op: cmd.op, envelope, waitMs, sizeBytes: ENVELOPE_BYTES_ESTIMATE } as ValidCommandRequest;
}

function read<R extends Omit<ValidReadRequest, 'kind' | 'id' | 'stale'>>(id: number, fields: Fields, rest: R): ValidReadRequest {
  const stale = fields.optional('stale', boolean) ?? false;
  return { kind: 'read', id, stale, ...rest } as ValidReadRequest;
}

function admin<R extends Omit<ValidAdminRequest, 'kind' | 'id'>>(id: number, rest: R): ValidAdminRequest {
  return { kind: 'admin', id, ...rest } as ValidAdminRequest;
}

const jobId = identifier;
const token = text(1, LEASE_TOKEN_LENGTH_MAX);
const dlqJobIds = uniqueList(1, DLQ_BATCH_MAX, identifier);
const dlqMax = integer(1, DLQ_BATCH_MAX);

function dlqCommand(op: 'dlqRetry' | 'dlqPurge', id: number, fields: Fields): ValidCommandRequest {
  const cmd: Extract<Command, { op: 'dlqRetry' | 'dlqPurge' }> = { op, queue: fields.required('queue', queueName) };
  put(cmd, 'jobIds', fields.optional('jobIds', dlqJobIds));
  put(cmd, 'max', fields.optional('max', dlqMax));
  if (cmd.jobIds !== undefined && cmd.max !== undefined) throw new Invalid(fields.at('max'), 'must not be given with jobIds');
  return command(id, fields, cmd);
}

function ackItem(ctx: Context) {
  return (value: unknown, path: string): AckItem => {
    const fields = object(value, path, ['jobId', 'token', 'result']);
    const item: AckItem = { jobId: fields.required('jobId', jobId), token: fields.required('token', token) };
    put(item, 'result', fields.optional('result', valueBytes(ctx, RESULT_BYTES_MAX, 'result')));
    return item;
  };
}

function scheduleJob(ctx: Context) {
  return (value: unknown, path: string): ScheduleJob => {
    const fields = object(value, path, SCHEDULE_JOB_FIELDS);
    const job: ScheduleJob = {};
    put(job, 'name', fields.optional('name', jobName));
    put(job, 'payload', fields.optional('payload', valueBytes(ctx, Math.min(SCHEDULE_PAYLOAD_BYTES_MAX, ctx.payloadBytesMax), 'payload')));
    put(job, 'priority', fields.optional('priority', priority));
    put(job, 'maxAttempts', fields.optional('maxAttempts', integer(1, MAX_ATTEMPTS_MAX)));
    put(job, 'backoff', fields.optional('backoff', backoff));
    put(job, 'leaseMs', fields.optional('leaseMs', leaseMsBounded));
    return job;
  };
}

function cronExpression(ctx: Context) {
  return (value: unknown, path: string): string => {
    const expression = text(1, CRON_EXPRESSION_LENGTH_MAX)(value, path);
    const spec = parseCron(expression);
    if (typeof spec === 'string') throw new Invalid(path, spec);
    if (nextCronMs(spec, ctx.nowMs) === null) throw new Invalid(path, `names no time in the next ${CRON_SEARCH_YEARS} years`);
    return expression;
  };
}

function scheduleSetCommand(id: number, fields: Fields, ctx: Context): ValidCommandRequest {
  const queue = fields.required('queue', queueName);
  const scheduleId = fields.required('scheduleId', identifier);
  const job = fields.optional('job', scheduleJob(ctx)) ?? {};
  const everyMs = fields.optional('everyMs', integer(SCHEDULE_EVERY_MS_MIN, DELAY_MS_MAX));
  const cron = fields.optional('cron', cronExpression(ctx));
  if ((everyMs === undefined) === (cron === undefined)) throw new Invalid(fields.at('everyMs'), 'give exactly one of everyMs and cron');
  const timing = everyMs !== undefined ? { everyMs } : { cron: cron as string };
  const cmd: Extract<Command, { op: 'scheduleSet' }> = { op: 'scheduleSet', queue, scheduleId, job, ...timing };
  put(cmd, 'startAtMs', fields.optional('startAtMs', integer(0, ctx.nowMs + DELAY_MS_MAX)));
  return command(id, fields, cmd);
}

function leaseCommand(id: number, fields: Fields): ValidCommandRequest {
  const cmd: Extract<Command, { op: 'lease' }> = {
    op: 'lease',
    queues: fields.required('queues', uniqueList(1, LEASE_QUEUES_MAX, queueName)),
    max: fields.required('max', integer(1, LEASE_BATCH_MAX)),
    workerId: fields.required('workerId', identifier),
  };
  put(cmd, 'leaseMs', fields.optional('leaseMs', leaseMsBounded));
  const waitMs = fields.optional('waitMs', integer(0, LEASE_WAIT_MS_MAX)) ?? 0;
  return command(id, fields, cmd, waitMs);
}

const OPS: Record<Op, OpSpec> = {
  enqueue: {
    fields: ['jobs'],
    validate: (id, f, ctx) => command(id, f, { op: 'enqueue', jobs: f.required('jobs', list(1, ENQUEUE_BATCH_MAX, enqueueSpec(ctx))) }),
  },
  lease: { fields: ['queues', 'max', 'leaseMs', 'waitMs', 'workerId'], validate: (id, f) => leaseCommand(id, f) },
  heartbeat: {
    fields: ['jobId', 'token', 'leaseMs'],
    validate: (id, f) => {
      const cmd: Extract<Command, { op: 'heartbeat' }> = { op: 'heartbeat', jobId: f.required('jobId', jobId), token: f.required('token', token) };
      put(cmd, 'leaseMs', f.optional('leaseMs', leaseMsBounded));
      return command(id, f, cmd);
    },
  },
  ack: {
    fields: ['jobId', 'token', 'result'],
    validate: (id, f, ctx) => {
      const cmd: Extract<Command, { op: 'ack' }> = { op: 'ack', jobId: f.required('jobId', jobId), token: f.required('token', token) };
      put(cmd, 'result', f.optional('result', valueBytes(ctx, RESULT_BYTES_MAX, 'result')));
      return command(id, f, cmd);
    },
  },
  release: {
    fields: ['jobId', 'token'],
    validate: (id, f) => command(id, f, { op: 'release', jobId: f.required('jobId', jobId), token: f.required('token', token) }),
  },
  ackMany: {
    fields: ['acks'],
    validate: (id, f, ctx) => command(id, f, { op: 'ackMany', acks: f.required('acks', list(1, ACK_BATCH_MAX, ackItem(ctx))) }),
  },
  fail: {
    fields: ['jobId', 'token', 'error', 'retryable'],
    validate: (id, f) =>
      command(id, f, {
        op: 'fail',
        jobId: f.required('jobId', jobId),
        token: f.required('token', token),
        error: f.required('error', text(0, ERROR_MESSAGE_LENGTH_MAX)),
        retryable: f.required('retryable', boolean),
      }),
  },
  cancel: { fields: ['jobId'], validate: (id, f) => command(id, f, { op: 'cancel', jobId: f.required('jobId', jobId) }) },
  pause: { fields: ['queue'], validate: (id, f) => command(id, f, { op: 'pause', queue: f.required('queue', queueName) }) },
  resume: { fields: ['queue'], validate: (id, f) => command(id, f, { op: 'resume', queue: f.required('queue', queueName) }) },
  dlqRetry: { fields: ['queue', 'jobIds', 'max'], validate: (id, f) => dlqCommand('dlqRetry', id, f) },
  dlqPurge: { fields: ['queue', 'jobIds', 'max'], validate: (id, f) => dlqCommand('dlqPurge', id, f) },
  scheduleSet: { fields: ['queue', 'scheduleId', 'everyMs', 'cron', 'startAtMs', 'job'], validate: (id, f, ctx) => scheduleSetCommand(id, f, ctx) },
  scheduleRemove: {
    fields: ['queue', 'scheduleId'],
    validate: (id, f) => command(id, f, { op: 'scheduleRemove', queue: f.required('queue', queueName), scheduleId: f.required('scheduleId', identifier) }),
  },

  get: { fields: ['jobId'], validate: (id, f) => read(id, f, { op: 'get', jobId: f.required('jobId', jobId) }) },
  stats: { fields: ['queue'], validate: (id, f) => read(id, f, { op: 'stats', queue: f.required('queue', queueName) }) },
  queues: { fields: [], validate: (id, f) => read(id, f, { op: 'queues' }) },
  dlqList: {
    fields: ['queue', 'offset', 'limit'],
    validate: (id, f) =>
      read(id, f, {
        op: 'dlqList',
        queue: f.required('queue', queueName),
        offset: f.optional('offset', integer(0, Number.MAX_SAFE_INTEGER)) ?? 0,
        limit: f.optional('limit', integer(1, DLQ_LIST_LIMIT_MAX)) ?? DLQ_LIST_LIMIT_DEFAULT,
      }),
  },
  schedules: { fields: ['queue'], validate: (id, f) => read(id, f, { op: 'schedules', queue: f.optional('queue', queueName) ?? null }) },
  schedule: {
    fields: ['queue', 'scheduleId'],
    validate: (id, f) => read(id, f, { op: 'schedule', queue: f.required('queue', queueName), scheduleId: f.required('scheduleId', identifier) }),
  },
  waitResult: {
    fields: ['jobId', 'timeoutMs'],
    validate: (id, f) =>
      read(id, f, { op: 'waitResult', jobId: f.required('jobId', jobId), timeoutMs: f.required('timeoutMs', integer(0, WAIT_RESULT_MS_MAX)) }),
  },

  clusterStatus: { fields: [], validate: (id) => admin(id, { op: 'clusterStatus' }) },
  transferLeader: { fields: ['to'], validate: (id, f) => admin(id, { op: 'transferLeader', to: f.required('to', identifier) }) },
  addNode: {
    fields: ['nodeId', 'peerAddr', 'clientAddr', 'httpAddr'],
    validate: (id, f) => {
      const node: NodeAddresses = {
        id: f.required('nodeId', identifier),
        peerAddr: f.required('peerAddr', address),
        clientAddr: f.required('clientAddr', address),
        httpAddr: f.required('httpAddr', address),
      };
      return admin(id, { op: 'addNode', node });
    },
  },
  removeNode: { fields: ['nodeId'], validate: (id, f) => admin(id, { op: 'removeNode', nodeId: f.required('nodeId', identifier) }) },
  snapshot: { fields: [], validate: (id) => admin(id, { op: 'snapshot' }) },
  stateHash: { fields: [], validate: (id) => admin(id, { op: 'stateHash' }) },
  hello: { fields: ['clientId'], validate: (id, f) => admin(id, { op: 'hello', clientId: f.required('clientId', identifier) }) },
};
