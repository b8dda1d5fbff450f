// A leader resends a snapshot a follower has not answered after snapshotTimeoutTicks. A large image
// can take longer than that to travel: the runtime reports each chunk it sends
// (reportSnapshotProgress), and the timeout starts over, so the leader does not send it again
// while it is still on its way; once the reports stop, it does.

import { describe, expect, it } from 'vitest';
import type { Message } from '../../raft/types.js';
import { TinyCluster } from './tiny-cluster.js';

const SNAPSHOT_TIMEOUT_TICKS = 30;

/** n3 misses entries 2..21 while cut off; the leader snapshots at 21 and compacts its log away. */
function followerNeedingSnapshot(): TinyCluster {
  const c = new TinyCluster();
  const ids = ['n1', 'n2', 'n3'];
  // Nothing kept below a snapshot: n3 can only catch up by one.
  for (const id of ids) c.boot(id, ids, { compactTrailingEntries: 0, snapshotTimeoutTicks: SNAPSHOT_TIMEOUT_TICKS });
  c.nodes.get('n1')!.campaign();
  c.settle();
  c.isolated.add('n3');
  const leader = c.nodes.get('n1')!;
  for (let i = 0; i < 20; i++) {
    const res = leader.propose(Uint8Array.of(i));
    if (!res.ok) throw new Error(`proposal refused: ${res.reason}`);
    c.settle();
  }
  leader.createSnapshot(Uint8Array.of(42));
  c.holdTypes.add('snapshot');
  c.isolated.delete('n3');
  return c;
}

const snapshotsTo = (held: Message[], to: string): number => held.filter((m) => m.type === 'snapshot' && m.to === to).length;

describe('snapshot delivery progress', () => {
  it('is not sent again while the runtime reports its chunks going out, and is once they stop', () => {
    const c = followerNeedingSnapshot();
    const leader = c.nodes.get('n1')!;
    for (let t = 0; t < 5 && snapshotsTo(c.held, 'n3') === 0; t++) c.tick();
    expect(snapshotsTo(c.held, 'n3')).toBe(1);

    for (let t = 0; t < 3 * SNAPSHOT_TIMEOUT_TICKS; t++) {
      leader.reportSnapshotProgress('n3');
      c.tick();
    }
    expect(snapshotsTo(c.held, 'n3')).toBe(1);

    for (let t = 0; t < SNAPSHOT_TIMEOUT_TICKS + 5; t++) c.tick();
    expect(snapshotsTo(c.held, 'n3')).toBe(2);
  });
});
