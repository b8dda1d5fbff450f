// One row per node, each from that node's own answer to GET /v1/cluster (a follower knows its own
// term, commit and applied index exactly; only the leader knows replication lag and last contact).
// The node serving the dashboard asks its peers, so the browser never needs to reach them itself
// (in containers it cannot resolve their advertised names) and no CORS is involved.

import type { ClusterStatus, NodeAddresses, NodeRole } from '../../protocol/messages.js';

export interface ClusterNodeView extends NodeAddresses {
  /** The node's own role; 'unreachable' when it did not answer. */
  role: NodeRole | 'unreachable';
  term: number | null;
  commitIndex: number | null;
  appliedIndex: number | null;
  /** From the leader: entries the node's log trails the leader's by (0 for the leader). */
  lagEntries: number | null;
  /** From the leader: since it last heard from the node (null for the leader itself). */
  lastContactMs: number | null;
  /** Whether the node answered the serving node just now. */
  reachable: boolean;
  /** The leader this node believes in. */
  leader: string | null;
}

export interface ClusterView {
  servedBy: string;
  leader: string | null;
  term: number;
  nodes: ClusterNodeView[];
}

/**
 * Merges the serving node's status with its peers' (null: did not answer). The leader is the one
 * claimed in the highest term, so a node that missed an election does not decide it.
 */
export function mergeClusterViews(self: ClusterStatus, peers: ReadonlyMap<string, ClusterStatus | null>): ClusterView {
  const answers = new Map<string, ClusterStatus>([[self.nodeId, self]]);
  for (const [id, status] of peers) if (status !== null && id !== self.nodeId) answers.set(id, status);
  let leader = self.leader;
  let term = self.term;
  for (const a of answers.values()) {
    if (a.term > term || (a.term === term && leader === null && a.leader !== null)) {
      term = a.term;
      leader = a.leader;
    }
  }
  const leaderStatus = leader === null ? undefined : answers.get(leader);
  const nodes = self.nodes.map((member): ClusterNodeView => {
    const own = answers.get(member.id);
    const ownRow = own?.nodes.find((n) => n.id === member.id);
    const leaderRow = leaderStatus?.nodes.find((n) => n.id === member.id);
    const known = own !== undefined && ownRow !== undefined;
    return {
      id: member.id,
      peerAddr: member.peerAddr,
      clientAddr: member.clientAddr,
      httpAddr: member.httpAddr,
      role: known ? ownRow.role : 'unreachable',
      term: known ? ownRow.term : null,
      commitIndex: known ? ownRow.commitIndex : null,
      appliedIndex: known ? ownRow.appliedIndex : null,
      lagEntries: leaderRow?.lagEntries ?? null,
      lastContactMs: member.id === leader ? null : (leaderRow?.lastContactMs ?? null),
      reachable: known,
      leader: own?.leader ?? null,
    };
  });
  return { servedBy: self.nodeId, leader, term, nodes };
}
