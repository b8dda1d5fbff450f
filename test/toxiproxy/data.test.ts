// Real bytes through the proxy to an echo upstream: what each toxic does to a connection, and
// that toxics added or removed while a connection is open act on it (a partition must cut links
// that are already connected). Time is asserted only as a lower bound, never an upper one.

import { performance } from 'node:perf_hooks';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Bandwidth, ICreateToxicBody, Latency, Proxy, Slicer, Timeout } from 'toxiproxy-node-client';
import {
  api,
  Cleanup,
  EchoServer,
  echoRoundTrip,
  patternBytes,
  scriptedRandom,
  startHarness,
  TestClient,
  type Harness,
} from './helpers.js';

const cleanup = new Cleanup();
let harness: Harness;
let echo: EchoServer;
let proxy: Proxy;

beforeEach(async () => {
  harness = await startHarness(cleanup);
  echo = await EchoServer.start(cleanup);
  proxy = await harness.toxiproxy.createProxy({ name: 'peer', listen: '127.0.0.1:0', upstream: echo.address });
});

afterEach(async () => {
  await cleanup.run();
});

const portOf = (listen: string): number => Number(listen.slice(listen.lastIndexOf(':') + 1));
const connect = (): Promise<TestClient> => TestClient.connect(cleanup, portOf(proxy.listen));

function toxic<T>(type: string, stream: 'upstream' | 'downstream', attributes: T, name?: string): ICreateToxicBody<T> {
  return { name: name ?? `${type}_${stream}`, type, stream, toxicity: 1, attributes } as ICreateToxicBody<T>;
}

describe('a clean proxy', () => {
  it('passes a byte stream both ways intact', async () => {
    const client = await connect();
    expect(await echoRoundTrip(client, 'hello through the proxy')).toBe('hello through the proxy');
  });

  it('passes 5 MB intact and in order', async () => {
    const client = await connect();
    const payload = patternBytes(5 * 1024 * 1024, 42);
    client.write(payload);
    const echoed = await client.read(payload.length);
    expect(echoed.equals(payload)).toBe(true);
  });

  it('passes a half-close on and still delivers the answer', async () => {
    const client = await connect();
    client.socket.end('last words');
    const { data, result } = await client.readUntilClose();
    expect(data.toString()).toBe('last words');
    expect(result.error).toBeUndefined();
  });
});

describe('latency', () => {
  it('delays every chunk by at least the latency, each way it is set', async () => {
    await proxy.addToxic(toxic<Latency>('latency', 'downstream', { latency: 150, jitter: 0 }));
    await proxy.addToxic(toxic<Latency>('latency', 'upstream', { latency: 100, jitter: 0 }));
    const client = await connect();
    const startMs = performance.now();
    expect(await echoRoundTrip(client, 'ping')).toBe('ping');
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(250);
  });

  it('keeps order under jitter', async () => {
    await proxy.addToxic(toxic<Latency>('latency', 'downstream', { latency: 20, jitter: 15 }));
    const client = await connect();
    const messages = Array.from({ length: 50 }, (_, index) => `m${index};`);
    for (const message of messages) client.write(message);
    const expected = messages.join('');
    expect((await client.read(expected.length)).toString()).toBe(expected);
  });

  it('applies to a connection already open when added, and stops applying when removed', async () => {
    const client = await connect();
    expect(await echoRoundTrip(client, 'before')).toBe('before');

    const slow = await proxy.addToxic(toxic<Latency>('latency', 'downstream', { latency: 200, jitter: 0 }));
    const startMs = performance.now();
    expect(await echoRoundTrip(client, 'during')).toBe('during');
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(200);

    await slow.remove();
    expect(await echoRoundTrip(client, 'after')).toBe('after');
  });

  it('hands on the data it holds when removed, without losing or reordering it', async () => {
    await proxy.addToxic(toxic<Latency>('latency', 'downstream', { latency: 60_000, jitter: 0 }));
    const client = await connect();
    client.write('held');
    await echo.waitForReceived(4);
    await api(harness.server, 'DELETE', '/proxies/peer/toxics/latency_downstream');
    client.write(' then more');
    expect((await client.read('held then more'.length)).toString()).toBe('held then more');
  });
});

describe('timeout', () => {
  it('with timeout 0 drops data on an open connection and keeps it open; removing it closes the connection', async () => {
    const client = await connect();
    expect(await echoRoundTrip(client, 'x')).toBe('x');

    const cut = await proxy.addToxic(toxic<Timeout>('timeout', 'downstream', { timeout: 0 }));
    let removed = false;
    const closed = client.closed.then((result) => ({ ...result, closedAfterRemoval: removed }));
    // The upstream direction still flows: the echo server receives every ping, so the
    // connection is open; its echoes are dropped by the toxic.
    for (const [index, ping] of ['ping1', 'ping2', 'ping3'].entries()) {
      client.write(ping);
      await echo.waitForReceived(1 + (index + 1) * 5);
    }
    removed = true;
    await cut.remove();

    const result = await closed;
    expect(result.closedAfterRemoval).toBe(true);
    expect(result.receivedBytes).toBe(1); // only the "x" from before: dropped data never arrives
  });

  it('with timeout 0 blackholes new connections too, and /reset closes them', async () => {
    await proxy.addToxic(toxic<Timeout>('timeout', 'downstream', { timeout: 0 }));
    const client = await connect();
    client.write('into the void');
    // The echo server got the bytes, so the connection's links exist, toxic included.
    await echo.waitForReceived('into the void'.length);
    await api(harness.server, 'POST', '/reset');
    const result = await client.closed;
    expect(result.receivedBytes).toBe(0);
  });

  it('with timeout > 0 closes the connection after at least that long', async () => {
    await proxy.addToxic(toxic<Timeout>('timeout', 'downstream', { timeout: 100 }));
    const startMs = performance.now();
    const client = await connect();
    client.write('ping');
    const result = await client.closed;
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(100);
    expect(result.receivedBytes).toBe(0);
  });
});

describe('enabled: false (down)', () => {
  it('closes open connections and refuses new ones; re-enabling listens again on the same address', async () => {
    const port = portOf(proxy.listen);
    const client = await connect();
    expect(await echoRoundTrip(client, 'up')).toBe('up');

    const down = await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    expect(down.enabled).toBe(false);
    await client.closed;
    expect((await TestClient.connectError(port)).code).toBe('ECONNREFUSED');

    const up = await down.update({ enabled: true, listen: down.listen, upstream: down.upstream });
    expect(up.listen).toBe(proxy.listen);
    const again = await connect();
    expect(await echoRoundTrip(again, 'up again')).toBe('up again');
  });

  it('a new listen address moves the proxy: the old address refuses, the new one serves', async () => {
    const oldPort = portOf(proxy.listen);
    const client = await connect();
    // Another loopback address, so the kernel cannot hand the old port back to this same socket address.
    const moved = await api(harness.server, 'PATCH', '/proxies/peer', { listen: '127.0.0.2:0' });
    const newListen = (moved.json as { listen: string }).listen;
    expect(newListen).toMatch(/^127\.0\.0\.2:\d+$/);
    await client.closed; // a restart drops the connections, as in Toxiproxy
    expect((await TestClient.connectError(oldPort)).code).toBe('ECONNREFUSED');
    const again = await TestClient.connect(cleanup, portOf(newListen), '127.0.0.2');
    expect(await echoRoundTrip(again, 'moved')).toBe('moved');
  });

  it('is undone by /reset', async () => {
    await proxy.update({ enabled: false, listen: proxy.listen, upstream: proxy.upstream });
    await harness.toxiproxy.reset();
    const client = await connect();
    expect(await echoRoundTrip(client, 'back')).toBe('back');
  });

  it('a deleted proxy refuses connections', async () => {
    const port = portOf(proxy.listen);
    const client = await connect();
    await proxy.remove();
    await client.closed;
    expect((await TestClient.connectError(port)).code).toBe('ECONNREFUSED');
  });
});

describe('reset_peer', () => {
  it('aborts the connection with RST: the client sees ECONNRESET', async () => {
    await proxy.addToxic(toxic<{ timeout: number }>('reset_peer', 'downstream', { timeout: 0 }));
    const client = await connect();
    client.write('ping');
    const result = await client.closed;
    expect(result.error?.code).toBe('ECONNRESET');
    expect(result.receivedBytes).toBe(0);
  });

  it('waits at least its timeout after the first data', async () => {
    await proxy.addToxic(toxic<{ timeout: number }>('reset_peer', 'upstream', { timeout: 100 }));
    const client = await connect();
    const startMs = performance.now();
    client.write('ping');
    const result = await client.closed;
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(100);
    expect(result.error?.code).toBe('ECONNRESET');
    expect(echo.receivedBytes).toBe(0);
  });
});

describe('limit_data', () => {
  it('passes the first N bytes, then closes the connection', async () => {
    await proxy.addToxic(toxic<{ bytes: number }>('limit_data', 'downstream', { bytes: 10 }));
    const client = await connect();
    const payload = patternBytes(100, 7);
    client.write(payload);
    const { data, result } = await client.readUntilClose();
    expect(data.equals(payload.subarray(0, 10))).toBe(true);
    expect(result.error).toBeUndefined();
  });

  it('counts across chunks', async () => {
    await proxy.addToxic(toxic<{ bytes: number }>('limit_data', 'downstream', { bytes: 7 }));
    const client = await connect();
    expect(await echoRoundTrip(client, 'abcd')).toBe('abcd');
    client.write('efghij');
    const { data } = await client.readUntilClose();
    expect(data.toString()).toBe('efg');
  });
});

describe('bandwidth', () => {
  it('takes at least bytes / rate to deliver', async () => {
    await proxy.addToxic(toxic<Bandwidth>('bandwidth', 'downstream', { rate: 100 })); // 100 KB/s = 100 bytes/ms
    const client = await connect();
    const payload = patternBytes(50_000, 3);
    const startMs = performance.now();
    client.write(payload);
    const echoed = await client.read(payload.length);
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(500);
    expect(echoed.equals(payload)).toBe(true);
  });

  it('applies to a connection already open when added', async () => {
    const client = await connect();
    expect(await echoRoundTrip(client, 'warm')).toBe('warm');
    await proxy.addToxic(toxic<Bandwidth>('bandwidth', 'upstream', { rate: 50 }));
    const payload = patternBytes(20_000, 5);
    const startMs = performance.now();
    client.write(payload);
    expect((await client.read(payload.length)).equals(payload)).toBe(true);
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(400);
  });
});

describe('slicer', () => {
  it('delivers every byte intact and in order', async () => {
    await proxy.addToxic(toxic<Slicer>('slicer', 'downstream', { average_size: 64, size_variation: 32, delay: 10 }));
    await proxy.addToxic(toxic<Slicer>('slicer', 'upstream', { average_size: 1000, size_variation: 999, delay: 0 }));
    const client = await connect();
    const payload = patternBytes(200_000, 11);
    client.write(payload);
    expect((await client.read(payload.length)).equals(payload)).toBe(true);
  });
});

describe('slow_close', () => {
  it('holds the close back by at least its delay, after the data', async () => {
    await proxy.addToxic(toxic<{ delay: number }>('slow_close', 'downstream', { delay: 150 }));
    const client = await connect();
    const startMs = performance.now();
    client.socket.end('bye');
    const { data } = await client.readUntilClose();
    expect(data.toString()).toBe('bye');
    expect(performance.now() - startMs).toBeGreaterThanOrEqual(150);
  });
});

describe('toxicity', () => {
  it('is drawn once per connection when it opens, from the injected random source', async () => {
    const local = new Cleanup();
    try {
      // Draws for the one downstream toxic: 0.9 for the first connection, 0.1 for the second.
      const scripted = await startHarness(local, { random: scriptedRandom([0.9, 0.1]) });
      const half = await scripted.toxiproxy.createProxy({ name: 'half', listen: '127.0.0.1:0', upstream: echo.address });
      const cut = await half.addToxic({ name: 'cut', type: 'timeout', stream: 'downstream', toxicity: 0.5, attributes: { timeout: 0 } });
      // One connection at a time: a round trip proves the first drew before the second opens.
      const spared = await TestClient.connect(local, portOf(half.listen));
      expect(await echoRoundTrip(spared, 'spared')).toBe('spared');
      const struck = await TestClient.connect(local, portOf(half.listen));
      struck.write('struck');
      await echo.waitForReceived('spared'.length + 'struck'.length);

      // Removing the timeout closes only the connection it was active on.
      await cut.remove();
      expect((await struck.closed).receivedBytes).toBe(0);
      expect(await echoRoundTrip(spared, 'still here')).toBe('still here');
    } finally {
      await local.run();
    }
  });

  it('0 leaves every connection alone', async () => {
    await proxy.addToxic({ name: 'never', type: 'timeout', stream: 'downstream', toxicity: 0, attributes: { timeout: 0 } });
    const client = await connect();
    expect(await echoRoundTrip(client, 'untouched')).toBe('untouched');
  });
});

describe('upstream failures', () => {
  it('closes the client when the upstream refuses', async () => {
    const refusing = await harness.toxiproxy.createProxy({ name: 'refusing', listen: '127.0.0.1:0', upstream: '127.0.0.1:1' });
    const client = await TestClient.connect(cleanup, portOf(refusing.listen));
    const result = await client.closed;
    expect(result.receivedBytes).toBe(0);
  });
});
