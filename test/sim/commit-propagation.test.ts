// A leader does not send a message only to move its followers' commit index: the new commit rides
// on the next AppendEntries or heartbeat. At low rates every entry used to cost each follower a
// second append and a second answer (two wake-ups each, ~100-250 µs of CPU apiece on our 2-vCPU
// machines); followers only apply later, which nothing waits for: reads and answers are the
// leader's, and a new leader learns the commit index from its own no-op.

import { describe, expect, it } from 'vitest';
import { TinyCluster } from './tiny-cluster.js';

function threeNodesWithLeader(): TinyCluster {
  const c = new TinyCluster();
  const ids = ['n1', 'n2', 'n3'];
  for (const id of ids) c.boot(id, ids);
  c.settle();
  c.nodes.get('n1')!.campaign();
  c.settle();
  expect(c.nodes.get('n1')!.status().role).toBe('leader');
  return c;
}

describe('commit propagation', () => {
  it('costs one append and one answer per follower per entry; the commit follows on the next message', () => {
    const c = threeNodesWithLeader();
    const leader = c.nodes.get('n1')!;
    const before = c.delivered.length;
    const res = leader.propose(new Uint8Array([1, 2, 3]));
    if (!res.ok) throw new Error(`proposal refused: ${res.reason}`);
    c.settle();
    const sent = c.delivered.slice(before);
    expect(sent.map((m) => `${m.type} ${m.from}->${m.to}`).sort()).toEqual([
      'append n1->n2',
      'append n1->n3',
      'appendResp n2->n1',
      'appendResp n3->n1',
    ]);
    expect(leader.status().commit).toBe(res.index);
    for (const id of ['n2', 'n3']) expect(c.nodes.get(id)!.status().commit).toBeLessThan(res.index);

    // The next proposal carries it...
    const next = leader.propose(new Uint8Array([4]));
    if (!next.ok) throw new Error(`proposal refused: ${next.reason}`);
    c.settle();
    for (const id of ['n2', 'n3']) expect(c.nodes.get(id)!.status().commit).toBe(res.index);
    // ...and with nothing to send, the heartbeat does.
    c.tick();
    for (const id of ['n2', 'n3']) expect(c.nodes.get(id)!.status().commit).toBe(next.index);
  });
});
