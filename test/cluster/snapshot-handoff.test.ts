// A leader due for a snapshot that would pause its applies longer than --leader-snapshot-pause-max-ms
// hands leadership to a follower that already has a fresher snapshot, then takes its own as a
// follower: no client waits for a leader's image (2–3 s at a million jobs). The requests a leader
// holds when it steps down go on to the next leader instead of failing back to their clients.

import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { waitUntil } from '../../jepsen-lite/processes.js';
import { Client } from '../../src/client/client.js';
import { describeHashes, distinctHashes, lostOrUnfinished, readJobs, testClient, TEST_REQUEST_TIMEOUT_MS, useClusters } from './load.js';

const startCluster = useClusters();
const SNAPSHOT_EVERY = 100;
/** 1,000 queued jobs: a snapshot of them is estimated at ~3 ms, above the 1 ms a leader may pause. */
const QUEUED_JOBS = 1_000;
/** One entry each: four snapshot intervals, so leadership moves several times. */
const SINGLE_SUBMITS = 4 * SNAPSHOT_EVERY;

interface LogLine {
  msg?: string;
  asLeader?: boolean;
  to?: string;
}

function logLines(file: string): LogLine[] {
  return fs
    .readFileSync(file, 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as LogLine);
}

describe('snapshot handoff', () => {
  it('a leader hands leadership over before a costly snapshot; every snapshot is a follower\'s, and no request fails', async () => {
    const cluster = await startCluster({
      size: 3,
      nodeArgs: ['--snapshot-every', String(SNAPSHOT_EVERY), '--leader-snapshot-pause-max-ms', '1'],
      logLevel: 'info',
    });
    const firstLeader = await cluster.waitForLeader();
    const loader = testClient(cluster.clientAddresses());
    // Pinned to the first leader and never retried: a request it fails while leadership moves away
    // fails the submit, so every submit passing shows the node forwarded what it held.
    const pinned = new Client({ nodes: cluster.clientAddresses([firstLeader]), retry: { attempts: 1 }, requestTimeoutMs: TEST_REQUEST_TIMEOUT_MS });
    try {
      const ids = await loader.submitMany('handoff', Array.from({ length: QUEUED_JOBS }, (_, n) => ({ payload: { n } })));
      const failures: string[] = [];
      for (let n = 0; n < SINGLE_SUBMITS; n++) {
        try {
          ids.push(await pinned.submit('handoff', { single: n }));
        } catch (error) {
          failures.push(error instanceof Error ? error.message : String(error));
        }
      }
      for (const id of cluster.memberIds()) console.log(id, logLines(cluster.node(id).logFile).filter((l) => /leader|term|snapshot|elect/i.test(JSON.stringify(l))).map((l) => JSON.stringify(l)).join('\n'));
      expect(failures).toEqual([]);

      const taken = (id: string): LogLine[] => logLines(cluster.node(id).logFile).filter((l) => l.msg === 'took snapshot and compacted the log');
      await waitUntil('every node took a snapshot', 30_000, () => cluster.memberIds().every((id) => taken(id).length > 0));
      const handoffs = cluster.memberIds().flatMap((id) => logLines(cluster.node(id).logFile).filter((l) => l.msg === 'handing leadership over before taking a snapshot'));
      expect(handoffs.length, 'leaders handed over').toBeGreaterThanOrEqual(1);
      for (const id of cluster.memberIds()) {
        expect(taken(id).map((l) => l.asLeader), `${id}'s snapshots, taken as leader?`).not.toContain(true);
      }

      const hashes = await cluster.stateHashes(30_000);
      expect(distinctHashes(hashes), describeHashes(hashes)).toHaveLength(1);
      expect(lostOrUnfinished(ids, await readJobs(loader, ids), ['waiting'])).toEqual([]);
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await pinned.close();
      await loader.close();
    }
  }, 120_000);
});
