// Real Raft cores over a perfect in-memory network, driven step by step: for regression tests that
// need an exact sequence of events rather than the simulator's random schedules.

import { RaftNode } from '../../raft/raft.js';
import type { Message, NodeId, RaftOptions } from '../../raft/types.js';
import { Rng } from './rng.js';

export class TinyCluster {
  readonly nodes = new Map<NodeId, RaftNode>();
  private readonly queue: Message[] = [];
  private readonly rng = new Rng(7);
  /** Nodes whose messages, both ways, are dropped. */
  readonly isolated = new Set<NodeId>();
  /** Every message delivered, in order. */
  readonly delivered: Message[] = [];
  /** Message types held back, as if still in transit: they go to `held` instead of their node. */
  readonly holdTypes = new Set<Message['type']>();
  readonly held: Message[] = [];

  boot(id: NodeId, voters: NodeId[], overrides: Partial<Omit<RaftOptions, 'id' | 'random'>> = {}): RaftNode {
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
      ...overrides,
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
      if (m !== undefined && this.holdTypes.has(m.type)) {
        this.held.push(m);
        continue;
      }
      if (m !== undefined) {
        busy = true;
        this.delivered.push(m);
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
