// Regression for the first bug the simulator found (raft/raft.ts, before the bootstrap entries):
// a node added later boots with an empty config and, if the leader had not compacted its log,
// replays it from index 1. The founding voters were not in the log, so the joiner's config became
// {itself} after applying its own "add": a one-node majority, and it elected itself leader while the
// real leader kept committing — election safety, log matching, leader completeness all broke
// (first seen on seeds 2, 9, 10, 12, 18, 19, 23 of the first simulator version).
//
// This drives real cores over a perfect in-memory network, step by step.

import { describe, expect, it } from 'vitest';
import { RaftNode } from '../../raft/raft.js';
import type { Message, NodeId, RaftOptions } from '../../raft/types.js';
import { Rng } from './rng.js';

class TinyCluster {
  readonly nodes = new Map<NodeId, RaftNode>();
  private readonly queue: Message[] = [];
  private readonly rng = new Rng(7);
  /** Nodes whose messages, both ways, are dropped. */
  readonly isolated = new Set<NodeId>();

  boot(id: NodeId, voters: NodeId[]): RaftNode {
    const r = this.rng.fork();
    const opts: RaftOptions = {
      id,
      electionTicks: 10,
      heartbeatTicks: 1,
      random: () => r.float(),
      preVote: true,
      checkQuorum: true,
      maxInflightMsgs: 4,
      maxInflightBytes: 65536,
      maxMsgBytes: 1024,
      maxUncommittedEntries: 64,
    };
    const node = new RaftNode(opts, { hardState: { term: 0, vote: null, commit: 0 }, snapshot: null, entries: [], bootstrapConfig: { voters }, applied: 0 });
    this.nodes.set(id, node);
    return node;
  }

  /** Drains every Ready and delivers every message until the cluster is quiet. */
  settle(): void {
    for (let rounds = 0; rounds < 10_000; rounds++) {
      let busy = false;
      for (const node of this.nodes.values()) {
        while (node.hasReady()) {
          busy = true;
          const rd = node.ready();
          for (const m of rd.messages) if (!this.isolated.has(m.from) && !this.isolated.has(m.to)) this.queue.push(m);
          node.advance(rd);
        }
      }
      const m = this.queue.shift();
      if (m !== undefined) {
        busy = true;
        this.nodes.get(m.to)?.step(m);
      }
      if (!busy) return;
    }
    throw new Error('the cluster did not settle');
  }

  tick(): void {
    for (const node of this.nodes.values()) node.tick();
    this.settle();
  }
}

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
