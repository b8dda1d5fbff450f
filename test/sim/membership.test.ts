// Regression for the first bug the simulator found (raft/raft.ts, before the bootstrap entries):
// a node added later boots with an empty config and, if the leader had not compacted its log,
// replays it from index 1. The founding voters were not in the log, so the joiner's config became
// {itself} after applying its own "add": a one-node majority, and it elected itself leader while the
// real leader kept committing — election safety, log matching, leader completeness all broke
// (first seen on seeds 2, 9, 10, 12, 18, 19, 23 of the first simulator version).
//
// This drives real cores over a perfect in-memory network, step by step (TinyCluster).

import { describe, expect, it } from 'vitest';
import type { RaftNode } from '../../raft/raft.js';
import { TinyCluster } from './tiny-cluster.js';

function addedNode(): { c: TinyCluster; joiner: RaftNode; addIndex: number } {
  const c = new TinyCluster();
  const founders = ['n1', 'n2', 'n3'];
  for (const id of founders) c.boot(id, founders);
  c.settle();
  const leader = c.nodes.get('n1')!;
  leader.campaign();
  c.settle();
  expect(leader.status().role).toBe('leader');
  for (let i = 0; i < 3; i++) expect(leader.propose(new Uint8Array([i + 1])).ok).toBe(true);
  c.settle();
  const joiner = c.boot('n4', []); // a node that will be added: empty config, empty log
  const res = leader.proposeConfigChange({ type: 'add', id: 'n4' });
  if (!res.ok) throw new Error(`add refused: ${res.reason}`);
  for (let i = 0; i < 5; i++) c.tick();
  return { c, joiner, addIndex: res.index };
}

describe('a node added to a running cluster', () => {
  it('learns the whole membership from the log, not only its own addition', () => {
    const { joiner, addIndex } = addedNode();
    const s = joiner.status();
    expect(s.applied).toBeGreaterThanOrEqual(addIndex);
    expect(s.config.voters).toEqual(['n1', 'n2', 'n3', 'n4']);
  });

  it('never elects itself alone when cut off from the founders', () => {
    const { c, joiner } = addedNode();
    c.isolated.add('n4');
    for (let i = 0; i < 200; i++) {
      c.tick();
      expect(joiner.status().role).not.toBe('leader');
    }
  });
});
