// A follower serves clients by forwarding to the leader; a node that lost its quorum answers
// NO_LEADER (retryable) instead of hanging, and keeps running.

import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../jepsen-lite/processes.js';
import { Transport } from '../../src/client/transport.js';
import { RaftqError } from '../../src/errors.js';
import { WireClient } from '../protocol/wire-client.js';
import { report, testClient, useClusters, WorkerPool } from './load.js';

const startCluster = useClusters();

/** One request, no retries: what the node itself answers. */
async function answerOf(transport: Transport): Promise<{ error: RaftqError | null; elapsedMs: number }> {
  const startedMs = Date.now();
  try {
    await transport.call('enqueue', { jobs: [{ queue: 'fwd' }] });
    return { error: null, elapsedMs: Date.now() - startedMs };
  } catch (error) {
    if (!(error instanceof RaftqError)) throw error;
    return { error, elapsedMs: Date.now() - startedMs };
  }
}

describe('follower forwarding and NO_LEADER', () => {
  it('serves submits, reads and a worker through a follower; answers NO_LEADER without a quorum and survives', async () => {
    const cluster = await startCluster({ size: 3 });
    const leader = await cluster.waitForLeader();
    const [survivor, other] = cluster.memberIds().filter((id) => id !== leader) as [string, string];
    // Only the follower's address: the SDK cannot go around it, every request is forwarded.
    const viaFollower = testClient(cluster.clientAddresses([survivor]));
    const workers = new WorkerPool([cluster.clientAddresses([survivor])], { queue: 'fwd', concurrency: 4, leaseMs: 5_000 });
    const raw = new Transport({ nodes: cluster.clientAddresses([survivor]), retry: { attempts: 1 }, requestTimeoutMs: 15_000 });
    try {
      // waitForLeader returns once the leader knows; the follower learns it with the next heartbeat.
      await waitUntil(`${survivor} to know the leader`, 10_000, async () => (await cluster.status(survivor)).leader === leader);
      // A follower's answers name the leader (a client that can reach it goes there); the leader's do not.
      const portOf = (id: string): number => Number(cluster.clientAddresses([id])[0]!.split(':').pop());
      for (const [id, named] of [[survivor, leader], [leader, undefined]] as const) {
        const wire = await WireClient.connect(portOf(id));
        const answer = await wire.request({ id: 1, op: 'queues' });
        wire.close();
        expect(answer.ok, JSON.stringify(answer)).toBe(true);
        expect(answer.ok ? answer.leader : 'error').toBe(named);
      }
      const ids = await Promise.all(Array.from({ length: 20 }, (_, i) => viaFollower.submit('fwd', { i })));
      expect(new Set(ids).size).toBe(20);
      expect((await viaFollower.get(ids[0]!))?.state).toBe('waiting');
      expect((await viaFollower.stats('fwd')).counts.waiting).toBe(20);
      workers.start();
      const done = await viaFollower.waitForResult(ids[19]!, { timeoutMs: 20_000 });
      expect(done.state).toBe('completed');
      await waitUntil('every job completed through the follower', 20_000, async () => (await viaFollower.stats('fwd')).counts.completed === 20);
      await workers.close();
      expect(workers.doubleAcks()).toEqual([]);

      // Quorum lost: the leader and the other follower die.
      await Promise.all([cluster.kill(leader, 'SIGKILL'), cluster.kill(other, 'SIGKILL')]);
      const right = await answerOf(raw);
      expect(right.error?.code).toBe('NO_LEADER');
      expect(right.error?.retryable).toBe(true);
      // Once the survivor knows no leader, it waits about an election timeout, then answers.
      await waitUntil(`${survivor} to drop the dead leader`, 20_000, async () => (await cluster.status(survivor)).leader === null);
      const later = await answerOf(raw);
      expect(later.error?.code).toBe('NO_LEADER');
      expect(later.error?.retryable).toBe(true);
      // A burst of requests without a leader does not bring the node down.
      const burst = await Promise.all(Array.from({ length: 50 }, () => answerOf(raw)));
      expect(burst.map((b) => b.error?.code)).toEqual(Array(50).fill('NO_LEADER'));
      expect(cluster.node(survivor).state).toBe('running');
      expect((await cluster.status(survivor)).nodeId).toBe(survivor);
      report('no-leader', { rightAfterKillMs: right.elapsedMs, withoutLeaderMs: later.elapsedMs, burst: burst.length });

      // A quorum again: the survivor serves writes.
      await cluster.restart(other);
      await cluster.waitForLeader(20_000);
      const id = await viaFollower.submit('fwd', { after: 'recovery' });
      expect((await viaFollower.get(id))?.state).toBe('waiting');
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await workers.close();
      await viaFollower.close();
      await raw.close();
    }
  }, 90_000);

  it('moves a request forwarded to a leader that dies on to the next leader as soon as the link drops, not at the forward timeout', async () => {
    const cluster = await startCluster({ size: 3 });
    const leader = await cluster.waitForLeader();
    const follower = cluster.memberIds().find((id) => id !== leader)!;
    const raw = new Transport({ nodes: cluster.clientAddresses([follower]), retry: { attempts: 1 }, requestTimeoutMs: 30_000 });
    try {
      await raw.call('enqueue', { jobs: [{ queue: 'other' }] });
      // A long poll on an empty queue, forwarded: it waits on the leader.
      const waitMs = 2_000;
      const lease = raw
        .call('lease', { queues: ['empty'], max: 1, waitMs, workerId: 'w' }, { longPollMs: waitMs })
        .then(() => null, (error: unknown) => error as RaftqError);
      // Forwarded next on the same peer link: once it is answered, the leader holds the lease request.
      await raw.call('stats', { queue: 'other' });
      const killAtMs = Date.now();
      await cluster.kill(leader, 'SIGKILL');
      const error = await lease;
      report('forward-to-dead-leader', { answeredAfterKillMs: Date.now() - killAtMs, code: error?.code ?? 'ok' });
      // The follower knows at once that the leader's link is gone, and the request was never
      // answered: it forwards it again (same session seq, so safe) once the next leader is known, and
      // the long poll ends empty there; or, if no leader is known within an election timeout, the
      // client gets NO_LEADER to retry. TIMEOUT here means it sat out the node's whole forward timeout
      // (10 s plus the long poll) although a new leader was elected in about a second.
      expect(error === null || (error.code === 'NO_LEADER' && error.retryable), `answered ${error?.code ?? 'ok'}`).toBe(true);
    } finally {
      await raw.close();
    }
  }, 60_000);
});
