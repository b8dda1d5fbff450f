// Membership and leadership changes while producers submit: a follower leaves and a fresh node
// joins and catches up; the leader removes itself and a new one takes over; leadership moves to
// a chosen follower. No acknowledged job is lost and every member ends with the same state.

import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../jepsen-lite/processes.js';
import { describeHashes, distinctHashes, lostOrUnfinished, Producers, readJobs, report, rotated, testClient, useClusters } from './load.js';

const startCluster = useClusters();

describe('membership under load', () => {
  it('removes a follower, adds a fresh node that catches up (and survives kill -9), then removes the leader: writes go on, nothing is lost', async () => {
    const cluster = await startCluster({ size: 3 });
    const firstLeader = await cluster.waitForLeader();
    const addrs = cluster.clientAddresses();
    const clients = [0, 1].map((i) => testClient(rotated(addrs, i)));
    const producers = new Producers(clients, { queue: 'members', prefix: 'mb', inflight: 2, pauseMs: 5 }).start();
    try {
      await waitUntil('100 acknowledged submits', 30_000, () => producers.acked.size >= 100);

      // A follower leaves; a fresh node joins in its place.
      const leaving = cluster.memberIds().find((id) => id !== firstLeader)!;
      await cluster.removeNode(leaving);
      await cluster.kill(leaving, 'SIGTERM');
      const joinedAtMs = Date.now();
      await cluster.startJoining('n4');
      await cluster.addNode('n4');
      expect(cluster.memberIds()).toContain('n4');
      expect(cluster.memberIds()).not.toContain(leaving);
      await waitUntil('100 acknowledged submits after n4 joined', 30_000, () => producers.ackedSentSince(joinedAtMs) >= 100);
      // The newcomer has every entry: same state as the others at the same applied index.
      const withNewcomer = await cluster.stateHashes(20_000);
      expect(withNewcomer.has('n4')).toBe(true);
      expect(distinctHashes(withNewcomer), describeHashes(withNewcomer)).toHaveLength(1);
      // A node that joined is a member like the others after a crash: it restarts from its own log.
      await cluster.kill('n4', 'SIGKILL');
      await cluster.restart('n4');

      // The leader removes itself: it steps down, the other two elect a leader, writes continue.
      const oldLeader = await cluster.waitForLeader();
      await cluster.removeNode(oldLeader);
      const removedAtMs = Date.now();
      const newLeader = await cluster.waitForLeader(20_000, { excluding: oldLeader });
      expect(cluster.memberIds()).not.toContain(oldLeader);
      await waitUntil('100 acknowledged submits after the leader left', 30_000, () => producers.ackedSentSince(removedAtMs) >= 100);
      await producers.stop();
      await cluster.kill(oldLeader, 'SIGTERM');

      const jobs = await readJobs(clients[1]!, producers.acked.keys());
      const hashes = await cluster.stateHashes(20_000);
      report('membership', {
        removedFollower: leaving,
        removedLeader: oldLeader,
        newLeader,
        members: cluster.memberIds().join('+'),
        jobsAcked: producers.acked.size,
        submitsUnknown: producers.unknown.length,
        firstSubmitAfterLeaderRemovalMs: producers.firstAckSentSince(removedAtMs)!.ackAtMs - removedAtMs,
      });
      expect(lostOrUnfinished(producers.acked.keys(), jobs, ['waiting'])).toEqual([]);
      expect([...hashes.keys()].sort()).toEqual(cluster.memberIds());
      expect(distinctHashes(hashes), describeHashes(hashes)).toHaveLength(1);
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await producers.stop();
      await Promise.all(clients.map((c) => c.close()));
    }
  }, 120_000);
});

describe('leadership transfer under load', () => {
  it('moves leadership to the chosen follower while producers submit; no acknowledged job is lost', async () => {
    const cluster = await startCluster({ size: 3 });
    const leader = await cluster.waitForLeader();
    const target = cluster.memberIds().filter((id) => id !== leader).sort().at(-1)!;
    const addrs = cluster.clientAddresses();
    const clients = [0, 1].map((i) => testClient(rotated(addrs, i)));
    const producers = new Producers(clients, { queue: 'transfer', prefix: 'tl', inflight: 2, pauseMs: 5 }).start();
    try {
      await waitUntil('100 acknowledged submits', 30_000, () => producers.acked.size >= 100);
      const transferAtMs = Date.now();
      await cluster.transferLeader(target);
      expect(await cluster.waitForLeader()).toBe(target);
      await waitUntil('100 acknowledged submits after the transfer', 30_000, () => producers.ackedSentSince(transferAtMs) >= 100);
      await producers.stop();

      const jobs = await readJobs(clients[0]!, producers.acked.keys());
      const hashes = await cluster.stateHashes(20_000);
      report('transfer', {
        from: leader,
        to: target,
        jobsAcked: producers.acked.size,
        submitsUnknown: producers.unknown.length,
        submitLatencyMsMax: producers.latencyMsMax(),
      });
      expect(lostOrUnfinished(producers.acked.keys(), jobs, ['waiting'])).toEqual([]);
      expect(distinctHashes(hashes), describeHashes(hashes)).toHaveLength(1);
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await producers.stop();
      await Promise.all(clients.map((c) => c.close()));
    }
  }, 90_000);
});
