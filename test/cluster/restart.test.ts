// Restart safety (issue 3 item 7): jobs in every state survive SIGKILL of every node and a
// restart, each in the state it had. Half of them are in a snapshot and half in the log after it,
// so a restart exercises both halves of recovery (log-only restarts: failover and benchmark tests).

import { describe, expect, it } from 'vitest';
import type { ProcessCluster } from '../../jepsen-lite/processes.js';
import type { Client } from '../../src/client/client.js';
import { Transport } from '../../src/client/transport.js';
import type { Job, JobState, WireLeasedJob as LeasedJob } from '../../src/jobs/types.js';
import { encodeValue } from '../../src/protocol/values.js';
import { describeHashes, distinctHashes, readJobs, testClient, TEST_RETRY, useClusters } from './load.js';

const startCluster = useClusters();
/** Per state: enough jobs to catch an off-by-one, few enough to stay quick. */
const JOBS_PER_STATE = 4;
const HOUR_MS = 60 * 60 * 1000;
/** Leases that cannot expire during the test, so active jobs stay active across the restart. */
const LEASE_MS = 10 * 60 * 1000;

interface Fixture {
  ids: Map<JobState, string[]>;
  /** The held leases of the active jobs: their tokens must still work after the restart. */
  held: LeasedJob[];
}

async function leaseAll(transport: Transport, queue: string, count: number): Promise<LeasedJob[]> {
  const { jobs } = await transport.call('lease', { queues: [queue], max: count, leaseMs: LEASE_MS, waitMs: 0, workerId: 'restart-test' });
  expect(jobs).toHaveLength(count);
  return jobs;
}

/** Puts JOBS_PER_STATE jobs in each of the seven states, one queue per state. */
async function jobsInEveryState(client: Client, transport: Transport, prefix: string): Promise<Fixture> {
  const submit = (queue: string, options: Parameters<Client['submit']>[2] = {}): Promise<string[]> =>
    Promise.all(Array.from({ length: JOBS_PER_STATE }, (_, i) => client.submit(`${prefix}-${queue}`, { i }, options)));
  const ids = new Map<JobState, string[]>();
  ids.set('waiting', await submit('waiting'));
  ids.set('delayed', await submit('delayed', { delayMs: HOUR_MS }));
  ids.set('cancelled', await submit('cancelled'));
  for (const id of ids.get('cancelled')!) await client.cancel(id);

  ids.set('active', await submit('active'));
  const held = await leaseAll(transport, `${prefix}-active`, JOBS_PER_STATE);

  ids.set('completed', await submit('completed'));
  for (const job of await leaseAll(transport, `${prefix}-completed`, JOBS_PER_STATE)) {
    await transport.call('ack', { jobId: job.id, token: job.token, result: encodeValue({ ok: job.id }) });
  }
  // Failed = a retry is pending: an hour of backoff keeps it there.
  ids.set('failed', await submit('failed', { maxAttempts: 5, backoff: { baseMs: HOUR_MS, capMs: HOUR_MS, jitter: 0 } }));
  for (const job of await leaseAll(transport, `${prefix}-failed`, JOBS_PER_STATE)) {
    await transport.call('fail', { jobId: job.id, token: job.token, error: 'try again later', retryable: true });
  }
  ids.set('dead', await submit('dead', { maxAttempts: 1 }));
  for (const job of await leaseAll(transport, `${prefix}-dead`, JOBS_PER_STATE)) {
    await transport.call('fail', { jobId: job.id, token: job.token, error: 'no more tries', retryable: true });
  }
  return { ids, held };
}

async function snapshotEveryNode(cluster: ProcessCluster): Promise<void> {
  for (const id of cluster.liveMembers()) {
    const { index } = await cluster.call(id, 'snapshot', {}, 10_000);
    expect(index, `${id} took a snapshot`).toBeGreaterThan(0);
  }
}

async function restartSafety(size: number): Promise<void> {
  const cluster = await startCluster({ size });
  await cluster.waitForLeader();
  const client = testClient(cluster.clientAddresses());
  const transport = new Transport({ nodes: cluster.clientAddresses(), retry: TEST_RETRY });
  try {
    // Half the jobs in a snapshot, half in the log after it: a restart loads the one and replays the other.
    const before = await jobsInEveryState(client, transport, 'a');
    await snapshotEveryNode(cluster);
    const after = await jobsInEveryState(client, transport, 'b');
    for (const [state, ids] of after.ids) before.ids.get(state)!.push(...ids);
    before.held.push(...after.held);
    const allIds = [...before.ids.values()].flat();
    const jobsBefore = await readJobs(client, allIds);
    for (const [state, ids] of before.ids) for (const id of ids) expect(jobsBefore.get(id)?.state, `${id} before the restart`).toBe(state);
    if (size > 1) await cluster.stateHashes();

    await Promise.all(cluster.memberIds().map((id) => cluster.kill(id, 'SIGKILL')));
    await Promise.all(cluster.memberIds().map((id) => cluster.restart(id)));
    await cluster.waitForLeader(20_000);

    const jobsAfter = await readJobs(client, allIds);
    const changed: string[] = [];
    for (const id of allIds) {
      const a = jobsBefore.get(id) as Job;
      const b = jobsAfter.get(id);
      if (JSON.stringify(b) !== JSON.stringify(a)) changed.push(`${id}: ${a.state} -> ${b ? b.state : 'missing'}`);
    }
    expect(changed).toEqual([]);
    // The fencing tokens of leases held across the restart still complete their jobs.
    for (const job of before.held) await transport.call('ack', { jobId: job.id, token: job.token, result: encodeValue('after restart') });
    expect((await client.get(before.held[0]!.id))?.state).toBe('completed');
    if (size > 1) {
      const hashes = await cluster.stateHashes();
      expect(distinctHashes(hashes), describeHashes(hashes)).toHaveLength(1);
    }
    expect(cluster.unexpectedExits()).toEqual([]);
  } finally {
    await client.close();
    await transport.close();
  }
}

describe('restart safety: jobs in every state survive SIGKILL of every node', () => {
  it('1 node: rebuilt from its snapshot and the log after it, every job as it was', () => restartSafety(1), 60_000);
  it('3 nodes: rebuilt from their snapshots and logs, every job as it was, the same state everywhere', () => restartSafety(3), 60_000);
});
