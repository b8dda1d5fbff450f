// Direct dispatch: a lease long-polling on the leader rides in the same Raft entry as the enqueue
// that brings it a job, so submit → handler start costs one commit, not two. Checked on a one-node
// cluster in this process, by the entries the node applies.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningNode } from '../../cluster/node.js';
import { Client } from '../../src/client/client.js';
import { Transport } from '../../src/client/transport.js';
import type { EntryBatch } from '../../src/jobs/types.js';
import { until } from '../observability/process-cluster.js';
import { startSoloNode, type SoloNode } from './solo-node.js';

let solo: SoloNode;
let node: RunningNode;
let client: Client;
const applied: EntryBatch[] = [];

/** The ops of every applied entry since `from`, ticks left out (they come on the leader's timer). */
function opsSince(from: number): string[][] {
  return applied.slice(from).map((b) => b.envelopes.map((e) => e.cmd.op).filter((op) => op !== 'tick')).filter((ops) => ops.length > 0);
}

function longPoll(transport: Transport, queue: string, max: number, waitMs = 10_000) {
  return transport.call('lease', { queues: [queue], max, waitMs, workerId: 'w' }, { longPollMs: waitMs });
}

describe('direct dispatch of waiting leases', () => {
  beforeAll(async () => {
    solo = await startSoloNode('raftq-dispatch-', () => ({ onApplied: (batch) => applied.push(batch) }));
    node = solo.node;
    client = new Client({ nodes: [node.config.listen] });
  });

  afterAll(async () => {
    await client.close();
    await solo.stop();
  });

  it('hands a new job to a waiting lease in the entry that enqueues it', async () => {
    const worker = new Transport({ nodes: [node.config.listen] });
    try {
      const leasing = longPoll(worker, 'direct', 1);
      await until('the lease to wait on the leader', () => node.broker.waitingLeases === 1);
      const from = applied.length;
      const id = await client.submit('direct', { n: 1 });
      const { jobs } = await leasing;
      expect(jobs.map((j) => j.id)).toEqual([id]);
      expect(opsSince(from)).toEqual([['enqueue', 'lease']]);
    } finally {
      await worker.close();
    }
  });

  it('takes along no more waiting leases than there are new jobs, longest waiting first', async () => {
    const first = new Transport({ nodes: [node.config.listen] });
    const second = new Transport({ nodes: [node.config.listen] });
    try {
      const firstLease = longPoll(first, 'fair', 5);
      await until('the first lease to wait', () => node.broker.waitingLeases === 1);
      const secondLease = longPoll(second, 'fair', 5);
      await until('both leases to wait', () => node.broker.waitingLeases === 2);
      const from = applied.length;
      const [a, b] = await client.submitMany('fair', [{ payload: 1 }, { payload: 2 }]);
      expect((await firstLease).jobs.map((j) => j.id)).toEqual([a, b]);
      expect(opsSince(from)).toEqual([['enqueue', 'lease']]);
      expect(node.broker.waitingLeases).toBe(1);
      const c = await client.submit('fair', 3);
      expect((await secondLease).jobs.map((j) => j.id)).toEqual([c]);
      expect(opsSince(from)).toEqual([['enqueue', 'lease'], ['enqueue', 'lease']]);
    } finally {
      await Promise.all([first.close(), second.close()]);
    }
  });

  it('does not take a waiting lease along for a delayed job or a paused queue', async () => {
    const worker = new Transport({ nodes: [node.config.listen] });
    try {
      const leasing = longPoll(worker, 'later', 1);
      await until('the lease to wait', () => node.broker.waitingLeases === 1);
      const from = applied.length;
      const delayed = await client.submit('later', 'soon', { delayMs: 300 });
      expect(opsSince(from)).toEqual([['enqueue']]);
      // The leader's tick promotes the job; the waiter is proposed after that entry applies.
      expect((await leasing).jobs.map((j) => j.id)).toEqual([delayed]);
      expect(opsSince(from).slice(-1)).toEqual([['lease']]);

      await client.pause('later');
      const paused = longPoll(worker, 'later', 1, 500);
      await until('the lease to wait', () => node.broker.waitingLeases === 1);
      const pausedFrom = applied.length;
      await client.submit('later', 'held');
      expect(opsSince(pausedFrom)).toEqual([['enqueue']]);
      expect((await paused).jobs).toEqual([]);
    } finally {
      await worker.close();
    }
  });

  it('writes no lease when the waiting client leaves', async () => {
    const worker = new Transport({ nodes: [node.config.listen] });
    const leasing = longPoll(worker, 'gone', 1).catch((error: unknown) => error);
    await until('the lease to wait', () => node.broker.waitingLeases === 1);
    await worker.close();
    await leasing;
    await until('the node to drop the waiter', () => node.broker.waitingLeases === 0);
    const from = applied.length;
    await client.submit('gone', 'nobody waits');
    expect(opsSince(from)).toEqual([['enqueue']]);
    expect((await client.stats('gone')).counts.waiting).toBe(1);
  });
});
