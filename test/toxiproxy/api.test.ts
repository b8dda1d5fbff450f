// The HTTP API of our Toxiproxy-compatible server, driven through toxiproxy-node-client (what
// jepsen-lite uses) and raw HTTP for the status codes and error bodies the client hides.

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Toxiproxy, type ICreateToxicBody, type Latency } from 'toxiproxy-node-client';
import { api, Cleanup, EchoServer, startHarness, type Harness } from './helpers.js';

const cleanup = new Cleanup();
let harness: Harness;
let echo: EchoServer;

beforeEach(async () => {
  harness = await startHarness(cleanup);
  echo = await EchoServer.start(cleanup);
});

afterEach(async () => {
  await cleanup.run();
});

const latencyToxic = (latency: number): ICreateToxicBody<Latency> =>
  ({ type: 'latency', attributes: { latency, jitter: 0 } }) as ICreateToxicBody<Latency>;

describe('version', () => {
  it('answers JSON with a version, as Toxiproxy 2.7+ does', async () => {
    const text = await harness.toxiproxy.getVersion();
    expect(JSON.parse(text)).toMatchObject({ version: '2.12.0' });
  });
});

describe('proxies', () => {
  it('creates a proxy with 201 and reports the port actually bound for port 0', async () => {
    const created = await api(harness.server, 'POST', '/proxies', { name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ name: 'n1', upstream: echo.address, enabled: true, toxics: [] });
    const listen = (created.json as { listen: string }).listen;
    expect(listen).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(listen).not.toBe('127.0.0.1:0');
  });

  it('lists, gets, updates and deletes proxies through the client', async () => {
    const proxy = await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    await harness.toxiproxy.createProxy({ name: 'n2', listen: '127.0.0.1:0', upstream: echo.address, enabled: false });

    const all = await harness.toxiproxy.getAll();
    expect(Object.keys(all).sort()).toEqual(['n1', 'n2']);
    expect(all.n2!.enabled).toBe(false);

    const fetched = await harness.toxiproxy.get('n1');
    expect(fetched.listen).toBe(proxy.listen);

    const disabled = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    expect(disabled.enabled).toBe(false);
    expect(disabled.listen).toBe(proxy.listen);

    await proxy.remove();
    await expect(harness.toxiproxy.get('n1')).rejects.toThrow(/404/);
    expect(Object.keys(await harness.toxiproxy.getAll())).toEqual(['n2']);
  });

  it('updates with PATCH, changing only the fields given', async () => {
    await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    const patched = await api(harness.server, 'PATCH', '/proxies/n1', { enabled: false });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ name: 'n1', upstream: echo.address, enabled: false });

    const moved = await api(harness.server, 'PATCH', '/proxies/n1', { upstream: '127.0.0.1:1' });
    expect(moved.json).toMatchObject({ upstream: '127.0.0.1:1', enabled: false });
  });

  it('deletes with 204', async () => {
    await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    const deleted = await api(harness.server, 'DELETE', '/proxies/n1');
    expect(deleted.status).toBe(204);
    expect(deleted.text).toBe('');
  });

  it('refuses a second proxy of the same name with 409', async () => {
    await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    const again = await api(harness.server, 'POST', '/proxies', { name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    expect(again.status).toBe(409);
    expect(again.json).toEqual({ error: 'proxy already exists: n1', status: 409 });
  });

  it('populates: creates new proxies, leaves unchanged ones listening where they were, updates changed ones', async () => {
    const first = await harness.toxiproxy.populate([
      { name: 'a', listen: '127.0.0.1:0', upstream: echo.address },
      { name: 'b', listen: '127.0.0.1:0', upstream: echo.address },
    ]);
    expect(Object.keys(first).sort()).toEqual(['a', 'b']);

    const second = await api(harness.server, 'POST', '/populate', [
      { name: 'a', listen: first.a!.listen, upstream: echo.address },
      { name: 'b', listen: first.b!.listen, upstream: '127.0.0.1:1', enabled: false },
      { name: 'c', listen: '127.0.0.1:0', upstream: echo.address },
    ]);
    expect(second.status).toBe(201);
    const proxies = (second.json as { proxies: Array<{ name: string; listen: string; upstream: string; enabled: boolean }> }).proxies;
    expect(proxies.map((proxy) => proxy.name)).toEqual(['a', 'b', 'c']);
    expect(proxies[0]).toMatchObject({ listen: first.a!.listen, enabled: true });
    expect(proxies[1]).toMatchObject({ upstream: '127.0.0.1:1', enabled: false });
    expect(proxies[2]!.enabled).toBe(true);
  });

  it('answers a populate that fails part-way with the error and the proxies it did create', async () => {
    const taken = await harness.toxiproxy.createProxy({ name: 'taken', listen: '127.0.0.1:0', upstream: echo.address });
    const response = await api(harness.server, 'POST', '/populate', [
      { name: 'first', listen: '127.0.0.1:0', upstream: echo.address },
      { name: 'clash', listen: taken.listen, upstream: echo.address },
    ]);
    expect(response.status).toBe(500);
    const json = response.json as { error: string; status: number; proxies: Array<{ name: string }> };
    expect(json.error).toMatch(/EADDRINUSE/);
    expect(json.proxies.map((proxy) => proxy.name)).toEqual(['first']);
  });

  it('rejects a populate with one bad proxy without creating any', async () => {
    const response = await api(harness.server, 'POST', '/populate', [
      { name: 'good', listen: '127.0.0.1:0', upstream: echo.address },
      { name: 'bad', listen: '127.0.0.1:0' },
    ]);
    expect(response.status).toBe(400);
    expect(response.json).toEqual({ error: 'proxy 2: missing required field: upstream', status: 400 });
    expect(await harness.toxiproxy.getAll()).toEqual({});
  });
});

describe('toxics', () => {
  it('adds a toxic with 200 and Toxiproxy defaults: downstream, toxicity 1, name <type>_<stream>', async () => {
    await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    const response = await api(harness.server, 'POST', '/proxies/n1/toxics', { type: 'latency', attributes: { latency: 50 } });
    expect(response.status).toBe(200);
    expect(response.json).toEqual({
      name: 'latency_downstream',
      type: 'latency',
      stream: 'downstream',
      toxicity: 1,
      attributes: { latency: 50, jitter: 0 },
    });
  });

  it('gets, lists, updates and removes toxics through the client', async () => {
    const proxy = await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    const toxic = await proxy.addToxic(latencyToxic(100));
    expect(toxic.name).toBe('latency_downstream');
    await proxy.addToxic({ name: 'cut', type: 'timeout', stream: 'upstream', toxicity: 1, attributes: { timeout: 0 } });

    const fetched = await proxy.getToxic<Latency>('latency_downstream');
    expect(fetched.attributes).toEqual({ latency: 100, jitter: 0 });

    const updated = await toxic.update({ ...toxic.toJson(), attributes: { latency: 250, jitter: 10 } });
    expect(updated.attributes).toEqual({ latency: 250, jitter: 10 });

    const listed = await api(harness.server, 'GET', '/proxies/n1/toxics');
    // Toxiproxy lists the upstream chain first, then the downstream chain.
    expect((listed.json as Array<{ name: string }>).map((t) => t.name)).toEqual(['cut', 'latency_downstream']);
    const shown = await harness.toxiproxy.get('n1');
    expect(shown.toJson().name).toBe('n1');

    await updated.remove();
    const afterRemove = await api(harness.server, 'GET', '/proxies/n1');
    expect((afterRemove.json as { toxics: Array<{ name: string }> }).toxics.map((t) => t.name)).toEqual(['cut']);
  });

  it('merges a PATCH of some attributes into the others, and deletes with 204', async () => {
    await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    await api(harness.server, 'POST', '/proxies/n1/toxics', { name: 'slow', type: 'latency', attributes: { latency: 40, jitter: 4 } });
    const patched = await api(harness.server, 'PATCH', '/proxies/n1/toxics/slow', { attributes: { jitter: 9 }, toxicity: 0.5 });
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ toxicity: 0.5, attributes: { latency: 40, jitter: 9 } });
    expect((await api(harness.server, 'DELETE', '/proxies/n1/toxics/slow')).status).toBe(204);
    expect((await api(harness.server, 'GET', '/proxies/n1/toxics/slow')).status).toBe(404);
  });

  it('refuses a second toxic of the same name with 409, whatever its stream', async () => {
    await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    await api(harness.server, 'POST', '/proxies/n1/toxics', { name: 'x', type: 'latency', attributes: { latency: 1 } });
    const again = await api(harness.server, 'POST', '/proxies/n1/toxics', { name: 'x', type: 'timeout', stream: 'upstream' });
    expect(again.status).toBe(409);
    expect(again.json).toEqual({ error: 'toxic already exists: x', status: 409 });
  });

  it('accepts every toxic type with its attributes', async () => {
    const proxy = await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
    const bodies = [
      { type: 'latency', attributes: { latency: 10, jitter: 2 } },
      { type: 'bandwidth', attributes: { rate: 100 } },
      { type: 'slow_close', attributes: { delay: 10 } },
      { type: 'timeout', attributes: { timeout: 10 } },
      { type: 'reset_peer', attributes: { timeout: 10 } },
      { type: 'slicer', attributes: { average_size: 10, size_variation: 5, delay: 100 } },
      { type: 'limit_data', attributes: { bytes: 10 } },
    ] as const;
    for (const body of bodies) {
      const toxic = await proxy.addToxic({ ...body, stream: 'upstream' } as unknown as ICreateToxicBody<unknown>);
      expect(toxic.toJson()).toMatchObject({ name: `${body.type}_upstream`, attributes: body.attributes });
    }
  });
});

describe('reset', () => {
  it('enables every proxy and removes every toxic, keeping the proxies', async () => {
    const a = await harness.toxiproxy.createProxy({ name: 'a', listen: '127.0.0.1:0', upstream: echo.address });
    await a.addToxic(latencyToxic(100));
    await harness.toxiproxy.createProxy({ name: 'b', listen: '127.0.0.1:0', upstream: echo.address, enabled: false });

    const reset = await api(harness.server, 'POST', '/reset');
    expect(reset.status).toBe(204);
    await harness.toxiproxy.reset(); // the client's POST without a body works too

    const all = await api(harness.server, 'GET', '/proxies');
    expect(all.json).toMatchObject({ a: { enabled: true, toxics: [] }, b: { enabled: true, toxics: [] } });
    expect((all.json as { a: { listen: string } }).a.listen).toBe(a.listen);
  });
});

describe('errors', () => {
  beforeEach(async () => {
    await harness.toxiproxy.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address });
  });

  it.each([
    ['GET', '/proxies/nope'],
    ['POST', '/proxies/nope'],
    ['PATCH', '/proxies/nope'],
    ['DELETE', '/proxies/nope'],
    ['GET', '/proxies/nope/toxics'],
    ['POST', '/proxies/nope/toxics'],
    ['GET', '/proxies/nope/toxics/t'],
  ])('%s %s answers 404 proxy not found', async (method, path) => {
    const body = method === 'POST' || method === 'PATCH' ? { enabled: true } : undefined;
    const response = await api(harness.server, method, path, body);
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ error: 'proxy not found: nope', status: 404 });
  });

  it.each([
    ['GET', '/proxies/n1/toxics/nope'],
    ['POST', '/proxies/n1/toxics/nope'],
    ['PATCH', '/proxies/n1/toxics/nope'],
    ['DELETE', '/proxies/n1/toxics/nope'],
  ])('%s %s answers 404 toxic not found', async (method, path) => {
    const body = method === 'POST' || method === 'PATCH' ? { toxicity: 1 } : undefined;
    const response = await api(harness.server, method, path, body);
    expect(response.status).toBe(404);
    expect(response.json).toEqual({ error: 'toxic not found: nope (proxy n1)', status: 404 });
  });

  it('answers 404 for an unknown endpoint and 405 for a known one with the wrong method', async () => {
    expect((await api(harness.server, 'GET', '/nothing/here')).json).toEqual({ error: 'no such endpoint: /nothing/here', status: 404 });
    const wrongMethod = await api(harness.server, 'DELETE', '/proxies');
    expect(wrongMethod.status).toBe(405);
  });

  it.each([
    ['not JSON', '/proxies', '{"name": '],
    ['empty body', '/proxies', ''],
    ['an array', '/proxies', []],
    ['no name', '/proxies', { listen: '127.0.0.1:0', upstream: '127.0.0.1:1' }],
    ['a slash in the name', '/proxies', { name: 'a/b', listen: '127.0.0.1:0', upstream: '127.0.0.1:1' }],
    ['no upstream', '/proxies', { name: 'x', listen: '127.0.0.1:0' }],
    ['upstream port 0', '/proxies', { name: 'x', listen: '127.0.0.1:0', upstream: '127.0.0.1:0' }],
    ['a listen without port', '/proxies', { name: 'x', listen: '127.0.0.1', upstream: '127.0.0.1:1' }],
    ['an unbracketed IPv6 listen', '/proxies', { name: 'x', listen: '::1:80', upstream: '127.0.0.1:1' }],
    ['a port above 65535', '/proxies', { name: 'x', listen: '127.0.0.1:70000', upstream: '127.0.0.1:1' }],
    ['enabled as a string', '/proxies', { name: 'x', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', enabled: 'yes' }],
    ['an unknown field', '/proxies', { name: 'x', listen: '127.0.0.1:0', upstream: '127.0.0.1:1', enable: false }],
    ['populate with an object', '/populate', { name: 'x' }],
    ['populate with a name twice', '/populate', [{ name: 'x', upstream: '127.0.0.1:1' }, { name: 'x', upstream: '127.0.0.1:2' }]],
    ['a rename', '/proxies/n1', { name: 'n2' }],
    ['an unknown toxic type', '/proxies/n1/toxics', { type: 'gremlin' }],
    ['a bad stream', '/proxies/n1/toxics', { type: 'latency', stream: 'sideways' }],
    ['toxicity above 1', '/proxies/n1/toxics', { type: 'latency', toxicity: 1.5 }],
    ['a negative latency', '/proxies/n1/toxics', { type: 'latency', attributes: { latency: -1 } }],
    ['a fractional rate', '/proxies/n1/toxics', { type: 'bandwidth', attributes: { rate: 1.5 } }],
    ['a latency as a string', '/proxies/n1/toxics', { type: 'latency', attributes: { latency: '100' } }],
    ['an unknown attribute', '/proxies/n1/toxics', { type: 'latency', attributes: { latancy: 100 } }],
    ['a latency beyond a day', '/proxies/n1/toxics', { type: 'latency', attributes: { latency: 86_400_001 } }],
    ['a slicer without average_size', '/proxies/n1/toxics', { type: 'slicer', attributes: { delay: 1 } }],
    ['a slicer variation not below its average', '/proxies/n1/toxics', { type: 'slicer', attributes: { average_size: 4, size_variation: 4 } }],
  ])('answers 400 with a reason for %s', async (_what, path, body) => {
    const response = await api(harness.server, 'POST', path, body);
    expect(response.status).toBe(400);
    const json = response.json as { error: string; status: number };
    expect(json.status).toBe(400);
    expect(json.error.length).toBeGreaterThan(10);
  });

  it('refuses to change a toxic type or stream on update, with 400', async () => {
    await api(harness.server, 'POST', '/proxies/n1/toxics', { name: 't', type: 'latency', attributes: { latency: 1 } });
    const typeChange = await api(harness.server, 'PATCH', '/proxies/n1/toxics/t', { type: 'timeout' });
    expect(typeChange.status).toBe(400);
    const streamChange = await api(harness.server, 'POST', '/proxies/n1/toxics/t', { stream: 'upstream' });
    expect(streamChange.status).toBe(400);
  });

  it('answers 413 for a body above the limit and keeps serving on the same server', async () => {
    const huge = JSON.stringify({ name: 'x', upstream: '127.0.0.1:1', pad: 'x'.repeat(1024 * 1024) });
    const response = await api(harness.server, 'POST', '/proxies', huge);
    expect(response.status).toBe(413);
    expect((await api(harness.server, 'GET', '/version')).status).toBe(200);
  });

  it('answers 400 when a toxic would exceed the per-proxy limit', async () => {
    for (let index = 0; index < 32; index += 1) {
      const created = await api(harness.server, 'POST', '/proxies/n1/toxics', { name: `t${index}`, type: 'latency' });
      expect(created.status).toBe(200);
    }
    const extra = await api(harness.server, 'POST', '/proxies/n1/toxics', { name: 'one-more', type: 'latency' });
    expect(extra.status).toBe(400);
    expect((extra.json as { error: string }).error).toMatch(/limit is 32/);
  });

  it('answers 500 with the reason when the listen address is taken', async () => {
    const n1 = await harness.toxiproxy.get('n1');
    const response = await api(harness.server, 'POST', '/proxies', { name: 'clash', listen: n1.listen, upstream: echo.address });
    expect(response.status).toBe(500);
    expect((response.json as { error: string }).error).toMatch(/EADDRINUSE/);
    expect((await api(harness.server, 'GET', '/proxies/clash')).status).toBe(404);
  });

  it('refuses browsers with 403, as Toxiproxy does against cross-site requests', async () => {
    const response = await api(harness.server, 'GET', '/proxies', undefined, { 'user-agent': 'Mozilla/5.0' });
    expect(response.status).toBe(403);
  });

  it('surfaces errors through the client as rejections', async () => {
    const client = new Toxiproxy(harness.server.url);
    await expect(client.createProxy({ name: 'n1', listen: '127.0.0.1:0', upstream: echo.address })).rejects.toThrow(/409/);
  });
});
