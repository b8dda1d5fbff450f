// Lease claims: a lease on its way through Raft claims the jobs it may take, so a second lease that
// arrives before it applies waits on the leader instead of being proposed for jobs the first one
// takes (it would apply to nothing, and the next job submitted would need a lease entry of its
// own: two commits from submit to handler). Driven through the Broker with a fake driver, so the
// test decides when each entry applies.

import { setImmediate as turn } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { Broker, decodeBatch } from '../../cluster/broker.js';
import { Members } from '../../cluster/members.js';
import type { RaftDriver } from '../../cluster/raft-driver.js';
import type { Entry } from '../../raft/types.js';
import type { Envelope, Outcome } from '../../src/jobs/types.js';

const TERM = 1;

interface Leader {
  broker: Broker;
  proposed: Entry[];
  applyAll(): void;
  opsOf(e: Entry): string[];
  /** Enqueues one job on each of `queues` (one entry), applies it, and answers their ids. */
  queued(...queues: string[]): Promise<string[]>;
}

/** A leader whose proposals wait in `proposed` until the test applies them. */
function leader(): Leader {
  const broker = new Broker('n1', new Members(), () => 1_000_000);
  const proposed: Entry[] = [];
  let applied = 0;
  const driver = {
    propose(data: Uint8Array) {
      const index = proposed.length + 1;
      proposed.push({ index, term: TERM, kind: 'normal', data });
      return { ok: true, index, term: TERM };
    },
  };
  broker.driver = driver as unknown as RaftDriver;
  broker.onSoftState({ role: 'leader', leader: 'n1', term: TERM });
  return {
    broker,
    proposed,
    applyAll() {
      broker.applyEntries(proposed.slice(applied));
      applied = proposed.length;
    },
    opsOf: (e) => decodeBatch(e.data).envelopes.map((env) => env.cmd.op).filter((op) => op !== 'tick'),
    async queued(...queues) {
      const submitted = queues.map((queue) => broker.submit(enqueue(queue), 64));
      await turn();
      this.applyAll();
      return (await Promise.all(submitted)).map(enqueuedId);
    },
  };
}

let seq = 0;
function enqueue(queue: string): Envelope {
  return { clientId: 'producer', seq: ++seq, cmd: { op: 'enqueue', jobs: [{ queue, payload: Uint8Array.of(0x90) }] } };
}

function lease(workerId: string, queue: string, max: number): Envelope & { cmd: { op: 'lease'; queues: string[]; max: number } } {
  return { clientId: workerId, seq: ++seq, cmd: { op: 'lease', workerId, queues: [queue], max, leaseMs: 30_000 } };
}

function leasedIds(outcome: Outcome | null): string[] {
  if (outcome === null || !outcome.ok) throw new Error(`no lease: ${JSON.stringify(outcome)}`);
  return (outcome.value as { jobs: { id: string }[] }).jobs.map((j) => j.id);
}

function enqueuedId(outcome: Outcome): string {
  if (!outcome.ok) throw new Error(`not enqueued: ${JSON.stringify(outcome)}`);
  return (outcome.value as { ids: string[] }).ids[0]!;
}

describe('lease claims on the leader', () => {
  it('holds a lease whose jobs a lease in flight claims, and sends it with the next enqueue', async () => {
    const cluster = leader();
    const { broker, proposed, applyAll, opsOf } = cluster;
    const [jobA] = await cluster.queued('q');

    // Job A is waiting: lease 1 is proposed at once, and claims it until it applies.
    const lease1 = broker.leaseWhenAvailable(lease('w1', 'q', 4), 64, 10_000);
    await turn();
    expect(proposed.map(opsOf).slice(-1)).toEqual([['lease']]);
    // Lease 2 finds job A claimed: it waits.
    const lease2 = broker.leaseWhenAvailable(lease('w2', 'q', 4), 64, 10_000);
    await turn();
    expect(broker.waitingLeases).toBe(1);
    expect(proposed).toHaveLength(2);

    // A short poll cannot wait for the claim to settle: it is proposed for what is queued.
    const shortPoll = broker.leaseWhenAvailable(lease('w3', 'q', 1), 64, 0);
    await turn();
    expect(proposed.map(opsOf).slice(-1)).toEqual([['lease']]);
    expect(proposed).toHaveLength(3);

    // Job B arrives: lease 2 rides in its entry.
    const second = broker.submit(enqueue('q'), 64);
    await turn();
    expect(proposed.map(opsOf).slice(-1)).toEqual([['enqueue', 'lease']]);
    applyAll();
    const jobB = enqueuedId(await second);
    expect(leasedIds(await lease1)).toEqual([jobA]);
    expect(leasedIds(await shortPoll)).toEqual([]);
    expect(leasedIds(await lease2)).toEqual([jobB]);
    broker.close();
  });

  it('proposes a waiting lease once the lease holding the claim applies and leaves jobs over', async () => {
    const cluster = leader();
    const { broker, proposed, applyAll, opsOf } = cluster;
    const [jobA, jobB] = await cluster.queued('r', 'r');

    // Two jobs waiting, lease 1 asks for 2: lease 2 (for 1) has nothing unclaimed and waits.
    const lease1 = broker.leaseWhenAvailable(lease('w1', 'r', 2), 64, 10_000);
    await turn();
    const lease2 = broker.leaseWhenAvailable(lease('w2', 'r', 1), 64, 10_000);
    await turn();
    expect(broker.waitingLeases).toBe(1);
    // A third job is enqueued without any lease applying in between: lease 2 rides with it.
    const third = broker.submit(enqueue('r'), 64);
    await turn();
    expect(proposed.map(opsOf).slice(-2)).toEqual([['lease'], ['enqueue', 'lease']]);
    applyAll();
    expect(leasedIds(await lease1)).toEqual([jobA, jobB]);
    expect(leasedIds(await lease2)).toEqual([enqueuedId(await third)]);

    // A lease asking for more than is left claims only until it applies: afterwards the job it
    // could not take is unclaimed, and a waiting lease is proposed for it.
    const [jobC, jobD] = await cluster.queued('s', 's');
    const lease3 = broker.leaseWhenAvailable(lease('w3', 's', 1), 64, 10_000);
    await turn();
    const lease4 = broker.leaseWhenAvailable(lease('w4', 's', 1), 64, 10_000);
    await turn();
    // Job D is unclaimed (lease 3 claims one of two): lease 4 goes at once.
    expect(broker.waitingLeases).toBe(0);
    applyAll();
    expect(leasedIds(await lease3)).toEqual([jobC]);
    expect(leasedIds(await lease4)).toEqual([jobD]);
    broker.close();
  });

  it('releases the claims of leases that fail with the leadership', async () => {
    const cluster = leader();
    const { broker } = cluster;
    await cluster.queued('t');
    const lost = broker.leaseWhenAvailable(lease('w1', 't', 8), 64, 10_000);
    await turn();
    broker.onSoftState({ role: 'follower', leader: null, term: TERM + 1 });
    await expect(lost).rejects.toMatchObject({ code: 'NO_LEADER' });

    // Leading again, the job is unclaimed: a lease for it is proposed at once, not held.
    broker.onSoftState({ role: 'leader', leader: 'n1', term: TERM + 2 });
    void broker.leaseWhenAvailable(lease('w2', 't', 1), 64, 10_000).catch(() => undefined);
    await turn();
    expect(broker.waitingLeases).toBe(0);
    broker.close();
  });
});
