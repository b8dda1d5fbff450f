// The HTTP API speaks JSON values while the protocol carries payloads and results as msgpack
// bytes: the API encodes at its edge on the way in and decodes on the way out.

import { afterEach, describe, expect, it } from 'vitest';
import { RaftqError } from '../../src/errors.js';
import { HttpApi } from '../../src/http/server.js';
import type { InternalFailure } from '../../src/protocol/server.js';
import type { WireJob, WireLeasedJob } from '../../src/jobs/types.js';
import type { ValidCommandRequest, ValidRequest } from '../../src/protocol/messages.js';
import { decodeValue, encodeValue } from '../../src/protocol/values.js';

const apis: HttpApi[] = [];

afterEach(async () => {
  for (const api of apis.splice(0)) await api.close();
});

function wireJob(fields: Partial<WireJob>): WireJob {
  return {
    id: 'j1', queue: 'q', name: 'default', payload: null, priority: 5, maxAttempts: 3, backoff: { baseMs: 1000, capMs: 3_600_000, jitter: 0.2 },
    leaseMs: 30_000, idempotencyKey: null, state: 'waiting', attempts: 0, redeliveries: 0, lastError: null, result: null,
    createdAtMs: 1, runAtMs: 1, startedAtMs: null, finishedAtMs: null, lease: null, ...fields,
  };
}

/** An API whose node answers with `answer(request)` and records what it was asked. */
async function api(answer: (request: ValidRequest) => unknown): Promise<{ base: string; seen: ValidRequest[] }> {
  const seen: ValidRequest[] = [];
  const server = new HttpApi({ nodeId: 'n1', payloadBytesMax: 1024, execute: async (request) => (seen.push(request), answer(request)) });
  apis.push(server);
  const { port } = await server.listen(0, '127.0.0.1');
  return { base: `http://127.0.0.1:${port}`, seen };
}

async function call(url: string, method = 'GET', body?: unknown): Promise<{ status: number; json: unknown }> {
  const res = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, json: await res.json() };
}

describe('HTTP API values', () => {
  it('encodes a JSON payload and result into msgpack bytes before validation', async () => {
    const { base, seen } = await api((request) => (request.op === 'enqueue' ? { ids: ['j1', 'j2'], duplicate: [false, false] } : { state: 'completed' }));
    expect((await call(`${base}/v1/queues/q/jobs`, 'POST', { jobs: [{ payload: { to: 'a@b.c' } }, { name: 'no-payload' }] })).status).toBe(201);
    expect((await call(`${base}/v1/jobs/j1/ack`, 'POST', { token: 't', result: [1, 'two'] })).status).toBe(200);
    const [enqueue, ack] = seen as ValidCommandRequest[];
    const jobs = enqueue!.envelope.cmd.op === 'enqueue' ? enqueue!.envelope.cmd.jobs : [];
    expect(jobs[0]!.payload).toBeInstanceOf(Uint8Array);
    expect(decodeValue(jobs[0]!.payload!)).toEqual({ ok: true, value: { to: 'a@b.c' } });
    expect(jobs[1]!.payload).toBeUndefined();
    const result = ack!.envelope.cmd.op === 'ack' ? ack!.envelope.cmd.result : undefined;
    expect(decodeValue(result!)).toEqual({ ok: true, value: [1, 'two'] });
  });

  it('routes POST /v1/jobs/{id}/release to the release command', async () => {
    const { base, seen } = await api(() => ({ state: 'waiting' }));
    const answer = await call(`${base}/v1/jobs/j7/release`, 'POST', { token: 'j7.1.a.0' });
    expect(answer).toEqual({ status: 200, json: { state: 'waiting' } });
    expect((seen[0] as ValidCommandRequest).envelope.cmd).toEqual({ op: 'release', jobId: 'j7', token: 'j7.1.a.0' });
    expect((await call(`${base}/v1/jobs/j7/release`, 'POST', {})).status).toBe(400);
  });

  it('refuses a payload whose encoding is over the limit, by its byte length', async () => {
    const { base, seen } = await api(() => ({ ids: ['j1'], duplicate: [false] }));
    const answer = await call(`${base}/v1/queues/q/jobs`, 'POST', { payload: 'x'.repeat(1024) });
    expect(answer.status).toBe(413);
    expect(answer.json).toMatchObject({ error: { code: 'PAYLOAD_TOO_LARGE', field: 'jobs[0].payload' } });
    expect(seen).toEqual([]);
  });

  it('decodes payload and result bytes in get, lease, waitResult and the dead letters; bytes that are not msgpack show as base64', async () => {
    const done = wireJob({ payload: encodeValue({ n: 1 }), result: encodeValue('ok'), state: 'completed' });
    const opaque = wireJob({ id: 'j2', payload: Uint8Array.of(0xc1, 0xff) });
    const leased: WireLeasedJob = { id: 'j1', queue: 'q', name: 'default', payload: encodeValue([1, 2]), priority: 5, attempt: 1, maxAttempts: 3, token: 't', leaseExpiresAtMs: 9 };
    const { base } = await api((request) => {
      switch (request.op) {
        case 'get':
          return { job: request.jobId === 'j1' ? done : opaque };
        case 'lease':
          return { jobs: [leased] };
        case 'waitResult':
          return { job: done, final: true };
        case 'dlqList':
          return { jobs: [opaque], total: 1 };
        default:
          throw new Error(`unexpected ${request.op}`);
      }
    });
    expect((await call(`${base}/v1/jobs/j1`)).json).toMatchObject({ id: 'j1', payload: { n: 1 }, result: 'ok' });
    expect((await call(`${base}/v1/jobs/j2`)).json).toMatchObject({ id: 'j2', payload: { base64: Buffer.from([0xc1, 0xff]).toString('base64') }, result: null });
    expect((await call(`${base}/v1/queues/q/lease`, 'POST', {})).json).toEqual({ jobs: [{ ...leased, payload: [1, 2] }] });
    expect((await call(`${base}/v1/jobs/j1/result?timeoutMs=0`)).json).toMatchObject({ job: { payload: { n: 1 }, result: 'ok' }, final: true });
    expect((await call(`${base}/v1/queues/q/dead`)).json).toMatchObject({ jobs: [{ id: 'j2', payload: { base64: 'wf8=' } }], total: 1 });
  });

  it('answers a bug as 500 INTERNAL whose message quotes the ref handed to the log; a RaftqError as itself', async () => {
    const bug = new TypeError('x is undefined');
    const logged: { route: string; status: number; internal: InternalFailure | undefined }[] = [];
    const server = new HttpApi({
      nodeId: 'n1',
      payloadBytesMax: 1024,
      execute: async (request) => {
        if (request.op === 'stats') throw bug;
        throw new RaftqError('NOT_FOUND', 'no such job');
      },
      onRequest: (route, status, _ms, internal) => logged.push({ route, status, internal }),
    });
    apis.push(server);
    const { port } = await server.listen(0, '127.0.0.1');
    const failed = await call(`http://127.0.0.1:${port}/v1/queues/q`);
    expect(failed).toEqual({ status: 500, json: { error: { code: 'INTERNAL', message: 'x is undefined (ref h1)' } } });
    expect((await call(`http://127.0.0.1:${port}/v1/jobs/j9`)).status).toBe(404);
    expect(logged.map((l) => [l.status, l.internal])).toEqual([
      [500, { ref: 'h1', error: bug }],
      [404, undefined],
    ]);
  });
});
