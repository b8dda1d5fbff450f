// Failover under load: the leader is killed with SIGKILL while producers submit and workers ack,
// then restarted. Nothing acknowledged is lost, no job is completed twice, and every node ends
// with the same state.

import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../jepsen-lite/processes.js';
import { Client } from '../../src/client/client.js';
import { describeHashes, distinctHashes, lostOrUnfinished, Producers, readJobs, report, rotated, testClient, useClusters, waitDrained, WorkerPool } from './load.js';

const startCluster = useClusters();
const QUEUE = 'failover';

describe('failover under load', () => {
  it('loses no acknowledged job, completes each once, and converges after the leader is killed and restarted', async () => {
    const cluster = await startCluster({ size: 3 });
    const leader = await cluster.waitForLeader();
    const addrs = cluster.clientAddresses();
    // Each SDK instance lists every node but starts at a different one.
    const clients = [0, 1, 2].map((i) => testClient(rotated(addrs, i)));
    const producers = new Producers(clients.slice(0, 2), { queue: QUEUE, prefix: 'fo', inflight: 3, pauseMs: 5 }).start();
    const workers = new WorkerPool([rotated(addrs, 1), rotated(addrs, 2)], { queue: QUEUE, concurrency: 10, leaseMs: 4_000 }).start();
    const reader = clients[2]!;
    try {
      await waitUntil('300 acknowledged submits before the kill', 30_000, () => producers.acked.size >= 300);
      const killAtMs = Date.now();
      await cluster.kill(leader, 'SIGKILL');
      const newLeader = await cluster.waitForLeader(20_000, { excluding: leader });
      await waitUntil('200 acknowledged submits sent after the kill', 30_000, () => producers.ackedSentSince(killAtMs) >= 200);
      const firstAfterKill = producers.firstAckSentSince(killAtMs)!;

      await cluster.restart(leader);
      const restartAtMs = Date.now();
      await waitUntil('200 acknowledged submits after the restart', 30_000, () => producers.ackedSentSince(restartAtMs) >= 200);
      await producers.stop();

      await waitDrained(cluster, reader, QUEUE, 45_000);
      const jobs = await readJobs(reader, producers.acked.keys());
      await workers.close();
      const hashes = await cluster.stateHashes(20_000);

      report('failover', {
        killed: leader,
        newLeader,
        jobsAcked: producers.acked.size,
        submitsUnknown: producers.unknown.length,
        firstSubmitAfterKillMs: firstAfterKill.ackAtMs - killAtMs,
        submitLatencyMsMax: producers.latencyMsMax(),
        handlerRuns: [...workers.runs.values()].reduce((a, b) => a + b, 0),
        redeliveries: workers.redeliveries(),
        leasesLost: workers.leasesLost,
        workerErrors: workers.errors.length,
        appliedIndex: [...hashes.values()][0]!.appliedIndex,
      });

      expect(lostOrUnfinished(producers.acked.keys(), jobs, ['completed'])).toEqual([]);
      expect(workers.doubleAcks()).toEqual([]);
      // Every acknowledged job was completed by an ack some worker saw accepted (or one whose answer was lost).
      const completedWithoutAck = [...producers.acked.keys()].filter((id) => !workers.acks.has(id));
      expect(completedWithoutAck.length).toBeLessThanOrEqual(workers.errors.length);
      expect(distinctHashes(hashes), describeHashes(hashes)).toHaveLength(1);
      expect(hashes.size).toBe(3);
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await producers.stop();
      await workers.close();
      await Promise.all(clients.map((c) => c.close()));
    }
  }, 150_000);

  it('a follower holds a request while its leader is gone and forwards it to the next one, instead of failing it back', async () => {
    const cluster = await startCluster({ size: 3 });
    const leader = await cluster.waitForLeader();
    const follower = cluster.memberIds().find((id) => id !== leader)!;
    await waitUntil(`${follower} to know the leader`, 10_000, async () => (await cluster.status(follower)).leader === leader);
    // Only the follower, and almost no retries: the submit must get through on the follower's own.
    // (Before, the follower forwarded to the dead leader, failed at once, and three tries spent
    // ~150 ms of backoff against an election that takes 0.5–1 s.)
    const client = new Client({ nodes: cluster.clientAddresses([follower]), retry: { attempts: 3, baseMs: 50, capMs: 100 }, requestTimeoutMs: 10_000 });
    try {
      await client.submit('hold', 'before');
      await cluster.kill(leader, 'SIGKILL');
      const killedAtMs = Date.now();
      const id = await client.submit('hold', 'after');
      const newLeader = await cluster.waitForLeader(20_000, { excluding: leader });
      report('follower holds through failover', { killed: leader, newLeader, submitAfterKillMs: Date.now() - killedAtMs });
      expect((await client.get(id))?.state).toBe('waiting');
    } finally {
      await client.close();
    }
  }, 60_000);
});
