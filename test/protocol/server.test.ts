import { afterEach, describe, expect, it } from 'vitest';
import { RaftqError } from '../../src/errors.js';
import { codec } from '../../src/protocol/frame.js';
import type { ValidRequest } from '../../src/protocol/messages.js';
import type { ConnectionInfo, InternalFailure, RequestHandler, RequestOutcome } from '../../src/protocol/server.js';
import { ProtocolServer } from '../../src/protocol/server.js';
import { WireClient } from './wire-client.js';

/** A handler scripted per test: by default answers `get` with the job id it was asked for. */
class FakeHandler implements RequestHandler {
  calls: ValidRequest[] = [];
  behaviour: (request: ValidRequest, conn: ConnectionInfo) => Promise<unknown> = async (request) =>
    request.op === 'get' ? { job: null, asked: request.jobId } : { op: request.op };
  handle(request: ValidRequest, conn: ConnectionInfo): Promise<unknown> {
    this.calls.push(request);
    return this.behaviour(request, conn);
  }
}

/** A promise with its resolve handle, to release handlers in a chosen order. */
function gate<T = unknown>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

let server: ProtocolServer | null = null;
const clients: WireClient[] = [];

async function start(handler: RequestHandler, options: Partial<ConstructorParameters<typeof ProtocolServer>[0]> = {}): Promise<number> {
  server = new ProtocolServer({ handler, ...options });
  return (await server.listen(0)).port;
}

async function connect(port: number): Promise<WireClient> {
  const client = await WireClient.connect(port);
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.close();
  await server?.close();
  server = null;
});

describe('ProtocolServer', () => {
  it('answers 100 pipelined requests out of order, each under its own id', async () => {
    const handler = new FakeHandler();
    const gates = new Map<string, ReturnType<typeof gate>>();
    const allArrived = gate<void>();
    handler.behaviour = (request) => {
      if (request.op !== 'get') throw new Error('unexpected');
      const g = gate();
      gates.set(request.jobId, g);
      if (gates.size === 100) allArrived.resolve();
      return g.promise;
    };
    const client = await connect(await start(handler));
    client.send(...Array.from({ length: 100 }, (_, i) => ({ id: i, op: 'get', jobId: `j${i}` })));
    await allArrived.promise;
    // All 100 are in flight at once. Release them last-first, each answered while older ones still wait.
    for (let i = 99; i >= 0; i--) {
      gates.get(`j${i}`)!.resolve({ job: null, n: i });
      expect(await client.take(1)).toEqual([{ id: i, ok: true, result: { job: null, n: i } }]);
    }
  });

  it('closes only the connection that sends a malformed frame; others keep working', async () => {
    const handler = new FakeHandler();
    const errors: [string, string][] = [];
    const port = await start(handler, { onConnectionError: (reason, remote) => errors.push([reason, remote]) });
    const good = await connect(port);
    const bad = await connect(port);
    expect(await good.request({ id: 1, op: 'get', jobId: 'a' })).toMatchObject({ id: 1, ok: true });
    expect(server!.connectionCount).toBe(2);

    bad.sendRaw(Buffer.from([0, 0, 0, 3, 0xc1, 0xc1, 0xc1]));
    await bad.closed;
    expect(errors).toHaveLength(1);
    expect(errors[0]![0]).toMatch(/undecodable/);
    expect(errors[0]![1]).toMatch(/^127\.0\.0\.1:\d+$/);

    expect(await good.request({ id: 2, op: 'get', jobId: 'b' })).toEqual({ id: 2, ok: true, result: { job: null, asked: 'b' } });
    expect(server!.connectionCount).toBe(1);
  });

  it.each([
    ['a length above the frame limit', Buffer.from([0x7f, 0xff, 0xff, 0xff]), /exceeds/],
    ['a body that is not a map', Buffer.from([0, 0, 0, 1, 0x05]), /not a map/],
    ['a request without an id', Buffer.from([0, 0, 0, 5, 0x81, 0xa2, 0x6f, 0x70, 0x01]), /id/],
  ])('closes the connection on %s', async (_name, bytes, reason) => {
    const errors: string[] = [];
    const port = await start(new FakeHandler(), { onConnectionError: (r) => errors.push(r) });
    const client = await connect(port);
    client.sendRaw(bytes);
    await client.closed;
    expect(errors).toEqual([expect.stringMatching(reason)]);
  });

  it.each([1_000, 4_300, 100_000])('survives a payload nested %i deep (refused, or the connection closed)', async (depth) => {
    const port = await start(new FakeHandler(), { onConnectionError: () => undefined });
    const client = await connect(port);
    // {id:1, op:'enqueue', clientId:'c', seq:1, jobs:[{queue:'q', payload:[[[...]]]}]}, built by hand.
    const fixmap = (entries: number): Buffer => Buffer.from([0x80 + entries]);
    const packed = (...values: unknown[]): Buffer[] => values.map((value) => codec.pack(value));
    const body = Buffer.concat([
      fixmap(5), ...packed('id', 1, 'op', 'enqueue', 'clientId', 'c', 'seq', 1, 'jobs'),
      Buffer.from([0x91]), fixmap(2), ...packed('queue', 'q', 'payload'),
      Buffer.alloc(depth, 0x91), Buffer.from([0x01]), // fixarray(1) nested `depth` times around 1
    ]);
    const frameHeader = Buffer.alloc(4);
    frameHeader.writeUInt32BE(body.length, 0);
    client.sendRaw(Buffer.concat([frameHeader, body]));
    // Near msgpackr's own recursion limit the body may not decode at all (stack size varies): then the
    // connection closes. Either way the node must not crash, and must refuse the payload.
    const answer = await client.take(1).catch(() => 'closed');
    if (answer !== 'closed') expect(answer).toMatchObject([{ id: 1, ok: false, error: { code: 'BAD_REQUEST', field: 'jobs[0].payload' } }]);
    if (depth === 1_000) expect(answer).not.toBe('closed');
    const other = await connect(port);
    expect(await other.request({ id: 2, op: 'queues' })).toMatchObject({ id: 2, ok: true });
  });

  it('answers an unknown op with BAD_REQUEST on field op and keeps the connection', async () => {
    const outcomes: [string, RequestOutcome][] = [];
    const client = await connect(await start(new FakeHandler(), { onRequest: (op, outcome) => outcomes.push([op, outcome]) }));
    const response = await client.request({ id: 5, op: 'selfDestruct' });
    expect(response).toMatchObject({ id: 5, ok: false, error: { code: 'BAD_REQUEST', field: 'op', retryable: false } });
    expect(await client.request({ id: 6, op: 'queues' })).toMatchObject({ id: 6, ok: true });
    // Ops outside the protocol are reported under one label so metrics stay bounded.
    expect(outcomes).toEqual([['unknown', 'BAD_REQUEST'], ['queues', 'OK']]);
  });

  it('answers OVERLOADED beyond the in-flight limit and reads no more until a slot frees', async () => {
    const handler = new FakeHandler();
    const release = gate<void>();
    handler.behaviour = async (request) => {
      if (request.op === 'queues') await release.promise;
      return { op: request.op };
    };
    const port = await start(handler, { inflightPerConnectionMax: 4 });
    const client = await connect(port);
    client.send(...Array.from({ length: 6 }, (_, i) => ({ id: i, op: 'queues' })));
    const overloaded = await client.take(2);
    expect(overloaded.map((r) => [r.id, r.ok ? 'ok' : r.error.code])).toEqual([[4, 'OVERLOADED'], [5, 'OVERLOADED']]);
    expect(overloaded.every((r) => !r.ok && r.error.retryable)).toBe(true);

    // The connection is paused now: this request must wait in the socket, not be refused.
    client.send({ id: 6, op: 'queues' });
    // A round trip on another connection lets the server's loop run past the write above.
    const other = await connect(port);
    expect(await other.request({ id: 1, op: 'get', jobId: 'x' })).toMatchObject({ ok: true });
    expect(handler.calls.filter((c) => c.op === 'queues')).toHaveLength(4);

    release.resolve();
    const rest = await client.take(5);
    expect(rest.map((r) => r.id).sort()).toEqual([0, 1, 2, 3, 6]);
    expect(rest.every((r) => r.ok)).toBe(true);
  });

  it('answers a plain handler exception as INTERNAL, keeping its message with a ref the log line carries, and keeps serving', async () => {
    const handler = new FakeHandler();
    const boom = new TypeError('cannot read properties of undefined');
    handler.behaviour = async (request) => {
      if (request.op === 'get' && request.jobId === 'boom') throw boom;
      if (request.op === 'get' && request.jobId === 'sync') return (() => { throw new Error('thrown synchronously'); })();
      if (request.op === 'get' && request.jobId === 'weird') throw 'a string'; // eslint-disable-line no-throw-literal
      return { job: null };
    };
    const logged: { op: string; outcome: string; internal: InternalFailure | undefined }[] = [];
    const client = await connect(await start(handler, { onRequest: (op, outcome, _ms, internal) => logged.push({ op, outcome, internal }) }));
    const answer = await client.request({ id: 1, op: 'get', jobId: 'boom' });
    expect(answer).toEqual({
      id: 1,
      ok: false,
      error: { code: 'INTERNAL', message: expect.stringMatching(/^cannot read properties of undefined \(ref c\d+\.1\)$/), retryable: false },
    });
    const ref = /\(ref (c\d+\.1)\)/.exec(answer.ok ? '' : answer.error.message)![1];
    expect(logged[0]).toEqual({ op: 'get', outcome: 'INTERNAL', internal: { ref, error: boom } });
    expect(await client.request({ id: 2, op: 'get', jobId: 'sync' })).toMatchObject({ ok: false, error: { code: 'INTERNAL', message: expect.stringMatching(/^thrown synchronously \(ref c\d+\.2\)$/) } });
    expect(await client.request({ id: 3, op: 'get', jobId: 'weird' })).toMatchObject({ ok: false, error: { code: 'INTERNAL', message: expect.stringMatching(/^a string \(ref c\d+\.3\)$/) } });
    expect(await client.request({ id: 4, op: 'get', jobId: 'fine' })).toEqual({ id: 4, ok: true, result: { job: null } });
    expect(logged.map((l) => [l.outcome, l.internal?.ref ?? null])).toEqual([
      ['INTERNAL', ref],
      ['INTERNAL', expect.stringMatching(/^c\d+\.2$/)],
      ['INTERNAL', expect.stringMatching(/^c\d+\.3$/)],
      ['OK', null],
    ]);
  });

  it('a handler that throws synchronously (not async) is caught too', async () => {
    const handler: RequestHandler = {
      handle: () => {
        throw new Error('not even a promise');
      },
    };
    const client = await connect(await start(handler));
    expect(await client.request({ id: 1, op: 'queues' })).toMatchObject({ ok: false, error: { code: 'INTERNAL', message: expect.stringMatching(/^not even a promise \(ref /) } });
    expect(await client.request({ id: 2, op: 'queues' })).toMatchObject({ ok: false, error: { code: 'INTERNAL' } });
  });

  it('passes a RaftqError through as its wire error, leader hint included', async () => {
    const handler = new FakeHandler();
    handler.behaviour = async () => {
      throw new RaftqError('NO_LEADER', 'election in progress', { leader: '127.0.0.1:7002' });
    };
    const client = await connect(await start(handler));
    expect(await client.request({ id: 1, op: 'queues' })).toEqual({
      id: 1,
      ok: false,
      error: { code: 'NO_LEADER', message: 'election in progress', retryable: true, leader: '127.0.0.1:7002' },
    });
  });

  it('answers INTERNAL when a result cannot be framed', async () => {
    const handler = new FakeHandler();
    handler.behaviour = async () => ({ blob: 'x'.repeat(2000) });
    const client = await connect(await start(handler, { frameBytesMax: 1000 }));
    expect(await client.request({ id: 1, op: 'queues' })).toMatchObject({ id: 1, ok: false, error: { code: 'INTERNAL' } });
  });

  it('hands the handler the validated request and a connection whose signal aborts on disconnect', async () => {
    const handler = new FakeHandler();
    const seen = gate<ConnectionInfo>();
    handler.behaviour = (_request, conn) => {
      seen.resolve(conn);
      return new Promise(() => undefined); // a long poll that never ends by itself
    };
    const client = await connect(await start(handler));
    client.send({ id: 9, op: 'lease', clientId: 'c', seq: 3, queues: ['q'], max: 2, workerId: 'w', waitMs: 1000 });
    const conn = await seen.promise;
    expect(handler.calls[0]).toEqual({
      kind: 'command',
      id: 9,
      op: 'lease',
      waitMs: 1000,
      sizeBytes: 256,
      envelope: { clientId: 'c', seq: 3, cmd: { op: 'lease', queues: ['q'], max: 2, workerId: 'w' } },
    });
    expect(conn.signal.aborted).toBe(false);
    const aborted = new Promise((resolve) => conn.signal.addEventListener('abort', resolve));
    client.close();
    await aborted;
  });

  it('counts connections and close() ends them all', async () => {
    const port = await start(new FakeHandler());
    const a = await connect(port);
    const b = await connect(port);
    await a.request({ id: 1, op: 'queues' });
    await b.request({ id: 1, op: 'queues' });
    expect(server!.connectionCount).toBe(2);
    await server!.close();
    await Promise.all([a.closed, b.closed]);
    expect(server!.connectionCount).toBe(0);
  });

  it('reports every answered request to onRequest with its outcome and duration', async () => {
    const outcomes: [string, RequestOutcome, number][] = [];
    const handler = new FakeHandler();
    handler.behaviour = async (request) => {
      if (request.op === 'cancel') throw new RaftqError('NOT_FOUND', 'no such job');
      return {};
    };
    const client = await connect(await start(handler, { onRequest: (op, outcome, durationMs) => outcomes.push([op, outcome, durationMs]) }));
    await client.request({ id: 1, op: 'stats', queue: 'q' });
    await client.request({ id: 2, op: 'cancel', clientId: 'c', seq: 1, jobId: 'j' });
    await client.request({ id: 3, op: 'stats', queue: 'bad queue' });
    expect(outcomes.map(([op, outcome]) => [op, outcome])).toEqual([['stats', 'OK'], ['cancel', 'NOT_FOUND'], ['stats', 'BAD_REQUEST']]);
    expect(outcomes.every(([, , durationMs]) => durationMs >= 0)).toBe(true);
  });
});
