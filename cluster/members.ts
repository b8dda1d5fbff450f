// The address book: for every node, where its peers, clients and browsers reach it. Replicated:
// bootstrap members come from the command line of the first start, later ones from the context of
// the membership-change entry that added them, and the whole book rides along in every snapshot.

import type { ConfigChange, NodeId } from '../raft/types.js';

export interface MemberAddresses {
  peer: string;
  client: string;
  http: string;
}

export class Members {
  private readonly book = new Map<NodeId, MemberAddresses>();

  constructor(initial: Iterable<[NodeId, MemberAddresses]> = []) {
    for (const [id, addrs] of initial) this.book.set(id, { ...addrs });
  }

  get(id: NodeId): MemberAddresses | undefined {
    return this.book.get(id);
  }

  ids(): NodeId[] {
    return [...this.book.keys()].sort();
  }

  /** Sorted by id, so two nodes with the same book produce the same snapshot bytes. */
  entries(): [NodeId, MemberAddresses][] {
    return this.ids().map((id) => [id, { ...this.book.get(id)! }]);
  }

  set(id: NodeId, addrs: MemberAddresses): void {
    this.book.set(id, { ...addrs });
  }

  /** Adopts a snapshot's book, keeping addresses we know better (learned from the node itself). */
  merge(entries: [NodeId, MemberAddresses][]): void {
    for (const [id, addrs] of entries) {
      const known = this.book.get(id);
      this.book.set(id, { peer: addrs.peer || known?.peer || '', client: known?.client || addrs.client, http: known?.http || addrs.http });
    }
  }

  applyChange(change: ConfigChange): void {
    if (change.type === 'remove') {
      this.book.delete(change.id);
      return;
    }
    if (change.context) this.book.set(change.id, decodeMemberContext(change.context));
  }
}

export function encodeMemberContext(addrs: MemberAddresses): string {
  return JSON.stringify({ peer: addrs.peer, client: addrs.client, http: addrs.http });
}

export function decodeMemberContext(context: string): MemberAddresses {
  const parsed = JSON.parse(context) as Partial<MemberAddresses>;
  return { peer: String(parsed.peer ?? ''), client: String(parsed.client ?? ''), http: String(parsed.http ?? '') };
}
