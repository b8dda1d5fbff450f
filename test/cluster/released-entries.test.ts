// Entries whose data a node dropped from memory (applied, durable, held by every follower) are
// read back from disk when a follower needs them: here a follower that was down catches up from a
// new leader that had released the whole backlog, entry by entry rather than by a snapshot.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeHashes, distinctHashes, lostOrUnfinished, readJobs, testClient, useClusters } from './load.js';

const startCluster = useClusters();

describe('released log entries', () => {
  it('a follower that was down catches up from a leader that holds the backlog on disk only', async () => {
    const cluster = await startCluster({ size: 3, logLevel: 'info' });
    const leader = await cluster.waitForLeader();
    const [away, next] = cluster.memberIds().filter((id) => id !== leader) as [string, string];
    const client = testClient(cluster.clientAddresses());
    try {
      await cluster.kill(away, 'SIGKILL');
      // 30 entries of 500 jobs (~20 MB of log), far below any snapshot trigger.
      const pad = 'p'.repeat(1000);
      const ids: string[] = [];
      for (let batch = 0; batch < 30; batch++) {
        ids.push(...(await client.submitMany('released', Array.from({ length: 500 }, (_, k) => ({ payload: { n: batch * 500 + k, pad } })))));
      }
      // `next` applied all of it and, as a follower, kept none of its data in memory (1 MiB at most).
      await cluster.transferLeader(next);
      await cluster.restart(away);
      const hashes = await cluster.stateHashes(30_000);
      expect(distinctHashes(hashes), describeHashes(hashes)).toHaveLength(1);
      expect(fs.readFileSync(cluster.node(away).logFile, 'utf8')).not.toContain('installed snapshot from leader');
      expect(lostOrUnfinished(ids, await readJobs(client, ids), ['waiting'])).toEqual([]);
      expect((await client.get(ids[0]!))?.payload).toEqual({ n: 0, pad });
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await client.close();
    }
  }, 120_000);
});
