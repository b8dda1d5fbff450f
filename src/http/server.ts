// The HTTP/JSON face of a node. Every REST call becomes a protocol request and goes through the
// same validation and the same handler as the TCP protocol, so both faces share one set of rules
// and one set of error codes. Errors are `{error: {code, message, field?}}` with fitting statuses.

import http from 'node:http';
import { HTTP_STATUS, internalErrorWithRef, RaftqError, type WireError } from '../errors.js';
import { FRAME_BYTES_MAX } from '../limits.js';
import type { InternalFailure } from '../protocol/server.js';
import type { HostPort } from '../protocol/address.js';
import type { ValidRequest } from '../protocol/messages.js';
import { validateRequest } from '../protocol/validate.js';
import { encodeValue, valueOrRawBytes } from '../protocol/values.js';
import type { WireJob, WireLeasedJob, WireSchedule } from '../jobs/types.js';

/** Largest HTTP request body; the same bound as a protocol frame. */
export const HTTP_BODY_BYTES_MAX = FRAME_BYTES_MAX;

export interface HttpResponse {
  status: number;
  contentType: string;
  body: string | Buffer;
  headers?: Record<string, string>;
}

/** Routes outside /v1 (health, metrics, dashboard), provided by the node. */
export type ExtraRoute = (method: string, url: URL) => Promise<HttpResponse | null>;

export interface HttpApiOptions {
  nodeId: string;
  execute(request: ValidRequest): Promise<unknown>;
  payloadBytesMax: number;
  extraRoutes?: ExtraRoute[];
  /** Every answered request; a 500 with what was thrown and the `ref` its message quoted. */
  onRequest?(route: string, status: number, durationMs: number, internal?: InternalFailure): void;
}

interface Route {
  method: string;
  pattern: RegExp;
  name: string;
  /** Builds the protocol request (without id/clientId/seq) from path params, query and body. */
  build(params: string[], query: URLSearchParams, body: unknown): { op: string; fields: Record<string, unknown>; created?: boolean };
}

const Q = '([^/]+)';

function object(body: unknown): Record<string, unknown> {
  if (body === undefined || body === null) return {};
  if (typeof body !== 'object' || Array.isArray(body)) throw new RaftqError('BAD_REQUEST', 'body: expected a JSON object', { field: 'body' });
  return body as Record<string, unknown>;
}

function readFlag(query: URLSearchParams): Record<string, unknown> {
  const stale = query.get('stale');
  return stale === '1' || stale === 'true' ? { stale: true } : {};
}

function intParam(query: URLSearchParams, name: string): number | undefined {
  const text = query.get(name);
  if (text === null) return undefined;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new RaftqError('BAD_REQUEST', `${name}: expected an integer`, { field: name });
  return n;
}

const ROUTES: Route[] = [
  {
    method: 'POST', pattern: new RegExp(`^/v1/queues/${Q}/jobs$`), name: 'enqueue',
    build: ([queue], _q, body) => {
      const b = object(body);
      const many = Array.isArray(b.jobs);
      const specs = many ? (b.jobs as unknown[]) : [b];
      const jobs = specs.map((s, i) => (s && typeof s === 'object' && !Array.isArray(s) ? withEncoded({ ...(s as object), queue }, 'payload', `jobs[${i}].payload`) : s));
      return { op: 'enqueue', fields: { jobs, many }, created: true };
    },
  },
  { method: 'GET', pattern: /^\/v1\/jobs\/([^/]+)$/, name: 'get', build: ([jobId], q) => ({ op: 'get', fields: { jobId, ...readFlag(q) } }) },
  { method: 'DELETE', pattern: /^\/v1\/jobs\/([^/]+)$/, name: 'cancel', build: ([jobId]) => ({ op: 'cancel', fields: { jobId } }) },
  {
    method: 'GET', pattern: /^\/v1\/jobs\/([^/]+)\/result$/, name: 'waitResult',
    build: ([jobId], q) => ({ op: 'waitResult', fields: { jobId, timeoutMs: intParam(q, 'timeoutMs') ?? 30_000, ...readFlag(q) } }),
  },
  {
    method: 'POST', pattern: new RegExp(`^/v1/queues/${Q}/lease$`), name: 'lease',
    build: ([queue], _q, body) => {
      const b = object(body);
      return { op: 'lease', fields: { workerId: 'http', max: 1, ...b, queues: [queue] } };
    },
  },
  { method: 'POST', pattern: /^\/v1\/jobs\/([^/]+)\/ack$/, name: 'ack', build: ([jobId], _q, body) => ({ op: 'ack', fields: withEncoded({ ...object(body), jobId }, 'result', 'result') }) },
  { method: 'POST', pattern: /^\/v1\/jobs\/([^/]+)\/fail$/, name: 'fail', build: ([jobId], _q, body) => ({ op: 'fail', fields: { retryable: true, ...object(body), jobId } }) },
  { method: 'POST', pattern: /^\/v1\/jobs\/([^/]+)\/release$/, name: 'release', build: ([jobId], _q, body) => ({ op: 'release', fields: { ...object(body), jobId } }) },
  { method: 'POST', pattern: /^\/v1\/jobs\/([^/]+)\/heartbeat$/, name: 'heartbeat', build: ([jobId], _q, body) => ({ op: 'heartbeat', fields: { ...object(body), jobId } }) },
  { method: 'GET', pattern: /^\/v1\/queues$/, name: 'queues', build: (_p, q) => ({ op: 'queues', fields: readFlag(q) }) },
  { method: 'GET', pattern: new RegExp(`^/v1/queues/${Q}$`), name: 'stats', build: ([queue], q) => ({ op: 'stats', fields: { queue, ...readFlag(q) } }) },
  { method: 'POST', pattern: new RegExp(`^/v1/queues/${Q}/pause$`), name: 'pause', build: ([queue]) => ({ op: 'pause', fields: { queue } }) },
  { method: 'POST', pattern: new RegExp(`^/v1/queues/${Q}/resume$`), name: 'resume', build: ([queue]) => ({ op: 'resume', fields: { queue } }) },
  {
    method: 'GET', pattern: new RegExp(`^/v1/queues/${Q}/dead$`), name: 'dlqList',
    build: ([queue], q) => ({ op: 'dlqList', fields: { queue, offset: intParam(q, 'offset'), limit: intParam(q, 'limit'), ...readFlag(q) } }),
  },
  { method: 'POST', pattern: new RegExp(`^/v1/queues/${Q}/dead/retry$`), name: 'dlqRetry', build: ([queue], _q, body) => ({ op: 'dlqRetry', fields: { ...object(body), queue } }) },
  { method: 'POST', pattern: new RegExp(`^/v1/queues/${Q}/dead/purge$`), name: 'dlqPurge', build: ([queue], _q, body) => ({ op: 'dlqPurge', fields: { ...object(body), queue } }) },
  {
    method: 'PUT', pattern: new RegExp(`^/v1/queues/${Q}/schedules/([^/]+)$`), name: 'scheduleSet',
    build: ([queue, scheduleId], _q, body) => {
      const b = object(body);
      const job = b.job && typeof b.job === 'object' && !Array.isArray(b.job) ? withEncoded({ ...(b.job as object) }, 'payload', 'job.payload') : b.job;
      return { op: 'scheduleSet', fields: { ...b, ...(job === undefined ? {} : { job }), queue, scheduleId } };
    },
  },
  { method: 'GET', pattern: new RegExp(`^/v1/queues/${Q}/schedules/([^/]+)$`), name: 'schedule', build: ([queue, scheduleId], q) => ({ op: 'schedule', fields: { queue, scheduleId, ...readFlag(q) } }) },
  { method: 'DELETE', pattern: new RegExp(`^/v1/queues/${Q}/schedules/([^/]+)$`), name: 'scheduleRemove', build: ([queue, scheduleId]) => ({ op: 'scheduleRemove', fields: { queue, scheduleId } }) },
  { method: 'GET', pattern: new RegExp(`^/v1/queues/${Q}/schedules$`), name: 'schedules', build: ([queue], q) => ({ op: 'schedules', fields: { queue, ...readFlag(q) } }) },
  { method: 'GET', pattern: /^\/v1\/schedules$/, name: 'schedules', build: (_p, q) => ({ op: 'schedules', fields: readFlag(q) }) },
  { method: 'GET', pattern: /^\/v1\/cluster$/, name: 'clusterStatus', build: () => ({ op: 'clusterStatus', fields: {} }) },
  { method: 'GET', pattern: /^\/v1\/cluster\/hash$/, name: 'stateHash', build: () => ({ op: 'stateHash', fields: {} }) },
];

const MUTATING = new Set(['enqueue', 'lease', 'heartbeat', 'ack', 'release', 'fail', 'cancel', 'pause', 'resume', 'dlqRetry', 'dlqPurge', 'scheduleSet', 'scheduleRemove']);

export class HttpApi {
  private readonly server: http.Server;
  /** HTTP calls carry no client session; each gets a fresh seq in this server's own session. */
  private readonly clientId: string;
  private seq = 0;
  /** Numbers the INTERNAL answers, for the ref their message and the log line share. */
  private nextRequestRef = 1;

  constructor(private readonly options: HttpApiOptions) {
    this.clientId = `http-${options.nodeId}-${process.pid}-${Date.now().toString(36)}`;
    this.server = http.createServer((req, res) => void this.serve(req, res));
    this.server.keepAliveTimeout = 30_000;
  }

  listen(port: number, host: string): Promise<HostPort> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const a = this.server.address() as { address: string; port: number };
        resolve({ host: a.address, port: a.port });
      });
    });
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const started = performance.now();
    const method = req.method ?? 'GET';
    const url = new URL(req.url ?? '/', 'http://localhost');
    let routeName = 'unknown';
    let response: HttpResponse;
    let internal: InternalFailure | undefined;
    try {
      const found = this.match(method, url.pathname);
      if (found) {
        routeName = found.route.name;
        response = await this.callApi(found.route, found.params, url, req);
      } else {
        response = (await this.extra(method, url)) ?? errorResponse(new RaftqError('NOT_FOUND', `no route ${method} ${url.pathname}`).toWire());
        if (response.status !== 404) routeName = url.pathname;
      }
    } catch (error) {
      if (error instanceof RaftqError) response = errorResponse(error.toWire());
      else {
        internal = { ref: `h${this.nextRequestRef++}`, error };
        response = errorResponse(internalErrorWithRef(error, internal.ref));
      }
    }
    res.writeHead(response.status, { 'content-type': response.contentType, ...(response.headers ?? {}) });
    res.end(response.body);
    this.options.onRequest?.(routeName, response.status, performance.now() - started, internal);
  }

  private match(method: string, pathname: string): { route: Route; params: string[] } | null {
    for (const route of ROUTES) {
      const m = route.pattern.exec(pathname);
      if (m && route.method === method) return { route, params: m.slice(1).map(decodeURIComponent) };
    }
    return null;
  }

  private async extra(method: string, url: URL): Promise<HttpResponse | null> {
    for (const route of this.options.extraRoutes ?? []) {
      const r = await route(method, url);
      if (r) return r;
    }
    return null;
  }

  private async callApi(route: Route, params: string[], url: URL, req: http.IncomingMessage): Promise<HttpResponse> {
    const body = route.method === 'POST' || route.method === 'PUT' ? await readJsonBody(req) : undefined;
    const built = route.build(params, url.searchParams, body);
    const many = built.fields.many === true;
    delete built.fields.many;
    const raw: Record<string, unknown> = { id: 0, op: built.op, ...built.fields };
    for (const key of Object.keys(raw)) if (raw[key] === undefined) delete raw[key];
    if (MUTATING.has(built.op)) {
      raw.clientId = this.clientId;
      raw.seq = ++this.seq;
    }
    const validation = validateRequest(raw, { payloadBytesMax: this.options.payloadBytesMax });
    if (!validation.ok) return errorResponse(validation.error);
    const result = await this.options.execute(validation.request);
    return jsonResponse(built.created ? 201 : 200, shapeResult(built.op, result, many));
  }
}

/**
 * JSON in: the value under `key` (a payload or a result) becomes the msgpack bytes the protocol
 * carries, as the SDK would send them. An absent key stays absent.
 */
function withEncoded(fields: Record<string, unknown>, key: string, field: string): Record<string, unknown> {
  if (fields[key] === undefined) return fields;
  return { ...fields, [key]: encodeValue(fields[key], field) };
}

/** JSON out: payload and result bytes decoded (bytes that are not msgpack show as {base64}). */
function jsonJob(job: WireJob): unknown {
  return { ...job, payload: valueOrRawBytes(job.payload, 'payload'), result: valueOrRawBytes(job.result, 'result') };
}

function jsonLeasedJob(job: WireLeasedJob): unknown {
  return { ...job, payload: valueOrRawBytes(job.payload, 'payload') };
}

/** REST shapes: a single enqueue answers {id}, a batch {ids}; a missing job is a 404. */
function shapeResult(op: string, result: unknown, many: boolean): unknown {
  switch (op) {
    case 'enqueue': {
      const r = result as { ids: string[]; duplicate: boolean[] };
      return many ? { ids: r.ids, duplicate: r.duplicate } : { id: r.ids[0], duplicate: r.duplicate[0] };
    }
    case 'get': {
      const job = (result as { job: WireJob | null }).job;
      if (job === null) throw new RaftqError('NOT_FOUND', 'no such job (it may have been removed by retention)');
      return jsonJob(job);
    }
    case 'waitResult': {
      const r = result as { job: WireJob; final: boolean };
      return { job: jsonJob(r.job), final: r.final };
    }
    case 'dlqList': {
      const r = result as { jobs: WireJob[]; total: number };
      return { jobs: r.jobs.map(jsonJob), total: r.total };
    }
    case 'lease':
      return { jobs: (result as { jobs: WireLeasedJob[] }).jobs.map(jsonLeasedJob) };
    case 'schedule': {
      const schedule = (result as { schedule: WireSchedule | null }).schedule;
      if (schedule === null) throw new RaftqError('NOT_FOUND', 'no such schedule');
      return { ...schedule, job: { ...schedule.job, payload: valueOrRawBytes(schedule.job.payload ?? null, 'payload') } };
    }
    default:
      return result;
  }
}

function readJsonBody(req: http.IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let bytes = 0;
    let failed = false;
    req.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      if (bytes > HTTP_BODY_BYTES_MAX && !failed) {
        failed = true;
        reject(new RaftqError('PAYLOAD_TOO_LARGE', `request body exceeds ${HTTP_BODY_BYTES_MAX} bytes`));
        req.resume();
        return;
      }
      if (!failed) chunks.push(chunk);
    });
    req.on('end', () => {
      if (failed) return;
      const text = Buffer.concat(chunks).toString('utf8').trim();
      if (text === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch (error) {
        reject(new RaftqError('BAD_REQUEST', `body is not valid JSON: ${(error as Error).message}`, { field: 'body' }));
      }
    });
    req.on('error', reject);
  });
}

export function jsonResponse(status: number, value: unknown): HttpResponse {
  return { status, contentType: 'application/json; charset=utf-8', body: JSON.stringify(value, jsonReplacer) };
}

/** Binary values (payload or result bytes that are not msgpack, or a msgpack `bin` value) are shown as base64. */
function jsonReplacer(_key: string, value: unknown): unknown {
  if (value && typeof value === 'object' && (value as { type?: string }).type === 'Buffer' && Array.isArray((value as { data?: unknown }).data)) {
    return { base64: Buffer.from((value as { data: number[] }).data).toString('base64') };
  }
  return value;
}

export function errorResponse(error: WireError): HttpResponse {
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.field !== undefined) body.field = error.field;
  if (error.leader) body.leader = error.leader;
  return jsonResponse(HTTP_STATUS[error.code], { error: body });
}

