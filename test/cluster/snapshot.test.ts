// Snapshots between nodes: a wiped follower that rejoins long after the leader compacted its log
// catches up by InstallSnapshot. And a benchmark figure: how long a node with 100k jobs takes to
// come back after kill -9, from its log and from a snapshot (printed, never asserted).

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../jepsen-lite/processes.js';
import type { Client } from '../../src/client/client.js';
import { describeHashes, distinctHashes, lostOrUnfinished, readJobs, report, testClient, useClusters } from './load.js';

const startCluster = useClusters();
const SNAPSHOT_EVERY = 500;
const JOBS_WHILE_AWAY = 3_000;
/** 600 entries while the follower is away: past SNAPSHOT_EVERY, so the others snapshot on their own. */
const JOBS_PER_ENTRY = 5;
const BENCH_JOBS = 100_000;

/** Submits `count` jobs in requests of `perRequest`, one request at a time: one log entry each. */
async function submitInEntries(client: Client, queue: string, count: number, perRequest: number): Promise<string[]> {
  const ids: string[] = [];
  for (let n = 0; n < count; n += perRequest) {
    const jobs = Array.from({ length: Math.min(perRequest, count - n) }, (_, k) => ({ id: `${queue}-${n + k}`, payload: { n: n + k } }));
    ids.push(...(await client.submitMany(queue, jobs)));
  }
  return ids;
}

describe('snapshot catch-up', () => {
  it('a wiped follower re-added after the leader compacted its log catches up by InstallSnapshot', async () => {
    const cluster = await startCluster({
      size: 3,
      nodeArgs: ['--snapshot-every', String(SNAPSHOT_EVERY)],
      // Info level: the rejoining node logs how it caught up.
      logLevel: 'info',
    });
    const leader = await cluster.waitForLeader();
    const [away, other] = cluster.memberIds().filter((id) => id !== leader) as [string, string];
    const client = testClient(cluster.clientAddresses());
    try {
      await cluster.kill(away, 'SIGKILL');
      const ids = await submitInEntries(client, 'snap', JOBS_WHILE_AWAY, JOBS_PER_ENTRY);
      const { commitIndex } = (await cluster.status(leader)).nodes.find((n) => n.id === leader)!;
      expect(commitIndex, 'enough entries for automatic snapshots').toBeGreaterThan(SNAPSHOT_EVERY);

      // Its data is gone for good: take it out of the configuration before it comes back empty.
      await cluster.removeNode(away);
      // A leader that ran all along still holds the last few thousand entries in memory and would
      // catch the newcomer up with AppendEntries alone; restarted, each node's log starts after its snapshot.
      for (const id of [other, leader]) {
        await cluster.kill(id, 'SIGTERM');
        await cluster.restart(id);
        await cluster.waitForLeader(20_000);
      }
      await cluster.startJoining(away);
      await cluster.addNode(away);

      const hashes = await cluster.stateHashes(30_000);
      expect([...hashes.keys()].sort()).toEqual(cluster.memberIds());
      expect(distinctHashes(hashes), describeHashes(hashes)).toHaveLength(1);
      const log = fs.readFileSync(cluster.node(away).logFile, 'utf8');
      expect(log, `${away} installed a snapshot from the leader`).toContain('installed snapshot from leader');
      expect(lostOrUnfinished(ids, await readJobs(client, ids), ['waiting'])).toEqual([]);
      report('snapshot-catch-up', { jobs: ids.length, commitIndex, appliedIndex: hashes.get(away)!.appliedIndex });
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await client.close();
    }
  }, 120_000);
});

describe('snapshots by bytes', () => {
  it('batched entries are compacted once their bytes pass --snapshot-every-bytes, however few the entries', async () => {
    const cluster = await startCluster({ size: 3, nodeArgs: ['--snapshot-every-bytes', String(1024 * 1024)], logLevel: 'info' });
    const leader = await cluster.waitForLeader();
    const client = testClient(cluster.clientAddresses());
    try {
      // 40 entries of 1,000 jobs (~100 KB each): far below --snapshot-every (20,000 entries), ~4 MB of log.
      const pad = 'x'.repeat(80);
      const ids: string[] = [];
      for (let batch = 0; batch < 40; batch++) {
        ids.push(...(await client.submitMany('bytes', Array.from({ length: 1000 }, (_, k) => ({ payload: { n: batch * 1000 + k, pad } })))));
      }
      const hashes = await cluster.stateHashes(30_000);
      expect(distinctHashes(hashes), describeHashes(hashes)).toHaveLength(1);
      for (const id of cluster.memberIds()) {
        const taken = fs.readFileSync(cluster.node(id).logFile, 'utf8').match(/took snapshot and compacted the log/g) ?? [];
        expect(taken.length, `${id} snapshots by bytes`).toBeGreaterThanOrEqual(2);
      }
      // The leader restarts from its snapshot plus the log after it, and serves every job's payload.
      await cluster.kill(leader, 'SIGKILL');
      await cluster.restart(leader);
      await cluster.waitForLeader(20_000);
      const after = await cluster.stateHashes(30_000);
      expect(distinctHashes(after), describeHashes(after)).toHaveLength(1);
      expect((await client.get(ids[0]!))?.payload).toEqual({ n: 0, pad });
      expect((await client.get(ids[ids.length - 1]!))?.payload).toEqual({ n: ids.length - 1, pad });
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await client.close();
    }
  }, 120_000);
});

describe('restart time with 100k jobs (benchmark: printed, never asserted)', () => {
  it('restarts a node holding 100k jobs from its log and from a snapshot', async () => {
    const cluster = await startCluster({ size: 1 });
    await cluster.waitForLeader();
    const client = testClient(cluster.clientAddresses());
    try {
      const loadStartMs = Date.now();
      const jobs = Array.from({ length: BENCH_JOBS }, (_, n) => ({ payload: { n, to: `user${n}@example.com` } }));
      const ids = await client.submitMany('bench', jobs);
      expect(ids).toHaveLength(BENCH_JOBS);
      const loadMs = Date.now() - loadStartMs;
      const before = (await cluster.stateHashes()).get('n1')!;

      /** kill -9, start, and time until the node serves /health and until its state is all back. */
      const restart = async (): Promise<{ upMs: number; restoredMs: number }> => {
        await cluster.kill('n1', 'SIGKILL');
        const t0 = Date.now();
        await cluster.restart('n1');
        const upMs = Date.now() - t0;
        await waitUntil('n1 to apply everything again', 60_000, async () => (await cluster.call('n1', 'stateHash', {})).appliedIndex >= before.appliedIndex);
        const restoredMs = Date.now() - t0;
        await cluster.waitForLeader();
        expect((await client.stats('bench')).counts.waiting).toBe(BENCH_JOBS);
        return { upMs, restoredMs };
      };
      console.log(`[cluster:restart-100k] ${BENCH_JOBS} jobs submitted in ${loadMs} ms (${before.appliedIndex} entries); restarting from the log`);
      const fromLog = await restart();
      const { index } = await cluster.call('n1', 'snapshot', {}, 60_000);
      expect(index).toBeGreaterThanOrEqual(before.appliedIndex);
      const fromSnapshot = await restart();
      report('restart-100k', {
        jobs: BENCH_JOBS,
        submitManyMs: loadMs,
        logEntries: before.appliedIndex,
        fromLogUpMs: fromLog.upMs,
        fromLogRestoredMs: fromLog.restoredMs,
        fromSnapshotUpMs: fromSnapshot.upMs,
        fromSnapshotRestoredMs: fromSnapshot.restoredMs,
      });
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await client.close();
    }
  }, 150_000);
});
