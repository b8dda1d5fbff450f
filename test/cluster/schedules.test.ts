// Repeatable jobs end to end on a one-node cluster in this process: set through the SDK, fired by
// the leader's own tick timer (no client asks for it), handed to a worker, listed and removed; the
// HTTP face takes the same schedule as JSON.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { observabilityExtension } from '../../cluster/observability.js';
import { Client } from '../../src/client/client.js';
import { Worker } from '../../src/client/worker.js';
import { encodeValue } from '../../src/protocol/values.js';
import { until } from '../observability/process-cluster.js';
import { startSoloNode, type SoloNode } from './solo-node.js';

let solo: SoloNode;
let client: Client;

describe('schedules on a running node', () => {
  beforeAll(async () => {
    // With the HTTP face, as run-node gives it.
    solo = await startSoloNode('raftq-schedules-', (logger) => observabilityExtension(logger));
    client = new Client({ nodes: [solo.node.config.listen] });
  });

  afterAll(async () => {
    await client.close();
    await solo.stop();
  });

  it('fires an interval schedule on its own, and its jobs reach a worker with their payload', async () => {
    const set = await client.schedules.set('pings', 'every-second', { everyMs: 1000, job: { payload: { ping: true }, priority: 'high' } });
    expect(set.created).toBe(true);
    const seen: { payload: unknown; priority: number }[] = [];
    const worker = new Worker({ nodes: [solo.node.config.listen], queues: ['pings'], handleSignals: false, handler: async (job) => void seen.push({ payload: job.payload, priority: job.priority }) });
    worker.on('error', () => undefined);
    worker.start();
    try {
      await until('two firings handled', () => seen.length >= 2, 10_000);
    } finally {
      await worker.close({ graceMs: 1000 });
    }
    expect(seen[0]).toEqual({ payload: { ping: true }, priority: 8 });
    const [listed] = await client.schedules.list('pings');
    expect(listed).toMatchObject({ queue: 'pings', scheduleId: 'every-second', everyMs: 1000, cron: null, job: { priority: 8 }, payloadBytes: encodeValue({ ping: true }).byteLength, refused: 0 });
    expect(listed!.runs).toBeGreaterThanOrEqual(2);
    expect((await client.schedules.get('pings', 'every-second'))?.job).toEqual({ payload: { ping: true }, priority: 8 });
    expect(await client.schedules.get('pings', 'no-such')).toBeNull();
    expect(await client.schedules.remove('pings', 'every-second')).toBe(true);
    expect(await client.schedules.list()).toEqual([]);
  });

  it('takes a cron schedule over HTTP, with its payload as JSON, and refuses a bad expression', async () => {
    const base = `http://${solo.node.config.http}/v1/queues/reports/schedules`;
    const put = await fetch(`${base}/nightly`, { method: 'PUT', body: JSON.stringify({ cron: '0 3 * * *', job: { payload: { report: 'daily' } } }) });
    expect(put.status).toBe(200);
    const { nextRunAtMs } = (await put.json()) as { nextRunAtMs: number };
    expect(new Date(nextRunAtMs).toISOString()).toMatch(/T03:00:00\.000Z$/);
    const listed = (await (await fetch(base)).json()) as { schedules: { scheduleId: string; payloadBytes: number }[] };
    expect(listed.schedules.map((s) => [s.scheduleId, s.payloadBytes])).toEqual([['nightly', encodeValue({ report: 'daily' }).byteLength]]);
    const one = (await (await fetch(`${base}/nightly`)).json()) as { job: { payload: unknown } };
    expect(one.job.payload).toEqual({ report: 'daily' });
    expect((await fetch(`${base}/none`)).status).toBe(404);
    const bad = await fetch(`${base}/broken`, { method: 'PUT', body: JSON.stringify({ cron: '0 3 * *' }) });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: { field: string } }).error.field).toBe('cron');
    expect((await fetch(`${base}/nightly`, { method: 'DELETE' })).status).toBe(200);
  });
});
