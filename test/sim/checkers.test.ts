// Each checker of the simulator, on hand-made histories: it raises on the violation it exists
// for, and stays quiet on a valid history (including legal Raft situations that look suspicious).

import { describe, expect, it } from 'vitest';
import type { Entry, HardState, Message } from '../../raft/types.js';
import { Invariant, SafetyChecker, SimViolation, type InvariantName } from './checkers.js';
import { runSimulation } from './cluster.js';
import { AppState } from './disk.js';
import { hashBytes } from './hash.js';

const N1 = 0;
const N2 = 1;
const N3 = 2;

function e(index: number, term: number, text = `cmd ${index}.${term}`): Entry {
  return { index, term, kind: 'normal', data: new TextEncoder().encode(text) };
}

function hs(term: number, vote: string | null, commit: number): HardState {
  return { term, vote, commit };
}

/** A checker plus one application per node, so applied digests are computed as the cluster does. */
class History {
  readonly c = new SafetyChecker(['n1', 'n2', 'n3']);
  private readonly apps = [new AppState(), new AppState(), new AppState()];
  private readonly snapshots: (Uint8Array | undefined)[] = [];

  persist(node: number, entries: Entry[], hard?: HardState): this {
    this.c.persistEntries(node, entries);
    if (hard) this.c.persistHardState(node, hard);
    return this;
  }

  apply(node: number, entries: Entry[], nodeTerm: number): this {
    for (const x of entries) {
      const h = hashBytes(x.data);
      this.apps[node]!.applyCommand(x.index, h);
      this.c.applied(node, x.index, x.term, false, h, this.apps[node]!.digest(), nodeTerm);
    }
    return this;
  }

  /** The node took a snapshot of its application and compacted its log. */
  snapshot(node: number): this {
    this.c.snapshotCreated(node, this.apps[node]!.index, this.apps[node]!.digest());
    this.snapshots[node] = this.apps[node]!.encode();
    return this;
  }

  /** Crash and restart: the application comes back from the node's snapshot. */
  restart(node: number): this {
    this.c.nodeRestarted(node);
    const snap = this.snapshots[node];
    this.apps[node] = snap === undefined ? new AppState() : AppState.decode(snap);
    return this;
  }

  appDigest(node: number): number {
    return this.apps[node]!.digest();
  }
}

function expectViolation(invariant: InvariantName, f: () => void): SimViolation {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(SimViolation);
    expect((err as SimViolation).invariant).toBe(invariant);
    return err as SimViolation;
  }
  throw new Error(`expected a ${invariant} violation, but the history passed`);
}

const append = (from: string, to: string, term: number): Message => ({
  type: 'append',
  from,
  to,
  term,
  prevIndex: 0,
  prevTerm: 0,
  entries: [],
  commit: 0,
});
const voteResp = (from: string, to: string, term: number, pre = false): Message => ({ type: 'voteResp', from, to, term, pre, granted: true });

describe('election safety: at most one leader per term', () => {
  it('raises when a second node becomes leader of the same term', () => {
    const h = new History();
    h.c.becameLeader(N1, 2);
    expectViolation(Invariant.electionSafety, () => h.c.becameLeader(N2, 2));
  });

  it('raises when a node sends leader-only messages in a term another node leads', () => {
    const h = new History();
    h.c.becameLeader(N1, 2);
    expectViolation(Invariant.electionSafety, () => h.c.messageSent(N3, append('n3', 'n2', 2)));
  });

  it('stays quiet for leaders of different terms, and for a leader re-announcing its own term', () => {
    const h = new History();
    h.c.becameLeader(N1, 2);
    h.c.messageSent(N1, append('n1', 'n2', 2));
    h.c.becameLeader(N2, 3);
    h.c.messageSent(N3, append('n3', 'n1', 4)); // first evidence of term 4's leader
    h.c.becameLeader(N3, 4);
  });
});

describe('log matching: same (index, term) means same entry and same prefix', () => {
  it('raises on the same (index, term) with different data', () => {
    const h = new History().persist(N1, [e(1, 1, 'a')]);
    expectViolation(Invariant.logMatching, () => h.persist(N2, [e(1, 1, 'b')]));
  });

  it('raises on the same entry over a different prefix', () => {
    const h = new History().persist(N1, [e(1, 1, 'a'), e(2, 1, 'b')]);
    h.persist(N2, [e(1, 2, 'x')]);
    expectViolation(Invariant.logMatching, () => h.persist(N2, [e(2, 1, 'b')]));
  });

  it('raises on a hole in a log (entries written past its end)', () => {
    const h = new History().persist(N1, [e(1, 1)]);
    expectViolation(Invariant.logMatching, () => h.persist(N1, [e(3, 1)]));
  });

  it('stays quiet when a follower overwrites an uncommitted conflicting suffix with the leader\'s', () => {
    const h = new History();
    h.persist(N1, [e(1, 1), e(2, 2), e(3, 2)]);
    h.persist(N2, [e(1, 1), e(2, 3, 'other')]);
    h.persist(N1, [e(2, 3, 'other'), e(3, 3)]);
    h.persist(N2, [e(3, 3)]);
  });
});

describe('leader completeness: a new leader holds every entry committed in earlier terms', () => {
  it('raises when a leader is elected without a committed entry', () => {
    const h = new History();
    h.persist(N1, [e(1, 1), e(2, 1)], hs(1, 'n1', 2)).apply(N1, [e(1, 1), e(2, 1)], 1);
    h.persist(N2, [e(1, 1)]);
    expectViolation(Invariant.leaderCompleteness, () => h.c.becameLeader(N2, 2));
  });

  it('raises when the leader holds a different entry at the committed index', () => {
    const h = new History();
    h.persist(N1, [e(1, 1), e(2, 1)], hs(1, 'n1', 2)).apply(N1, [e(1, 1), e(2, 1)], 1);
    h.persist(N2, [e(1, 1), e(2, 2, 'figure 8')]);
    expectViolation(Invariant.leaderCompleteness, () => h.c.becameLeader(N2, 3));
  });

  it('stays quiet for a stale leader of a lower term than the commit (legal in Raft)', () => {
    const h = new History();
    h.persist(N1, [e(1, 5)], hs(5, 'n1', 1)).apply(N1, [e(1, 5)], 5); // committed in term 5
    h.c.becameLeader(N2, 4); // a leader of term 4 elected by nodes that never heard of term 5
  });

  it('stays quiet when the leader holds the committed entries only through its snapshot', () => {
    const h = new History();
    const log = [e(1, 1), e(2, 1), e(3, 1)];
    h.persist(N2, log).apply(N2, log, 1).snapshot(N2);
    h.c.becameLeader(N2, 2);
  });
});

describe('state machine safety: no two nodes apply different entries at one index', () => {
  it('raises when two nodes apply different entries at the same index', () => {
    const h = new History();
    h.persist(N1, [e(1, 1)]).apply(N1, [e(1, 1)], 1);
    h.persist(N2, [e(1, 2)]);
    expectViolation(Invariant.stateMachineSafety, () => h.apply(N2, [e(1, 2)], 2));
  });

  it('raises when a node applies an entry it never persisted', () => {
    const h = new History();
    expectViolation(Invariant.stateMachineSafety, () => h.apply(N1, [e(1, 1)], 1));
  });

  it('raises when an installed snapshot carries a different application state', () => {
    const h = new History();
    h.persist(N1, [e(1, 1)]).apply(N1, [e(1, 1)], 1).snapshot(N1);
    h.c.persistSnapshot(N2, 1, 1);
    expectViolation(Invariant.stateMachineSafety, () => h.c.snapshotInstalled(N2, 1, h.appDigest(N1) ^ 1));
  });

  it('stays quiet when every node applies the same entries, some through a snapshot', () => {
    const h = new History();
    const log = [e(1, 1), e(2, 1), e(3, 1)];
    for (const n of [N1, N2]) h.persist(n, log).apply(n, log, 1);
    h.snapshot(N1);
    h.c.persistSnapshot(N3, 3, 1);
    h.c.snapshotInstalled(N3, 3, h.appDigest(N1));
    h.persist(N3, [e(4, 2)]);
  });
});

describe('committed entries never change', () => {
  it('raises when a node overwrites an entry at or below its durable commit index', () => {
    const h = new History().persist(N1, [e(1, 1), e(2, 1)], hs(1, null, 2));
    expectViolation(Invariant.committedNeverChange, () => h.persist(N1, [e(2, 2)]));
  });

  it('raises when a node truncates entries at or below its durable commit index', () => {
    const h = new History().persist(N1, [e(1, 1), e(2, 1), e(3, 1)], hs(1, null, 3));
    expectViolation(Invariant.committedNeverChange, () => h.persist(N1, [e(2, 1)]));
  });

  it('raises when an entry commits that a leader of a later term does not hold', () => {
    const h = new History();
    h.persist(N2, [e(1, 1), e(2, 2)]);
    h.c.becameLeader(N2, 3); // nothing known committed yet: fine so far
    h.persist(N1, [e(1, 1), e(2, 1)], hs(1, 'n1', 2)).apply(N1, [e(1, 1)], 1);
    expectViolation(Invariant.committedNeverChange, () => h.apply(N1, [e(2, 1)], 1));
  });

  it('stays quiet when identical entries are written again at committed indexes', () => {
    const h = new History().persist(N1, [e(1, 1), e(2, 1)], hs(1, null, 2));
    h.persist(N1, [e(2, 1), e(3, 2)]);
  });
});

describe('leader append-only', () => {
  it('raises when a leader overwrites its own log', () => {
    const h = new History().persist(N1, [e(1, 1), e(2, 1)]);
    h.c.becameLeader(N1, 2);
    expectViolation(Invariant.leaderAppendOnly, () => h.persist(N1, [e(2, 2)]));
  });

  it('stays quiet when the leader appends entries of its term', () => {
    const h = new History().persist(N1, [e(1, 1)]);
    h.c.becameLeader(N1, 2);
    h.persist(N1, [e(2, 2), e(3, 2)]);
  });
});

describe('one vote per term, across restarts', () => {
  it('raises when a node grants two candidates in one term (vote lost in a crash)', () => {
    const h = new History();
    h.c.messageSent(N1, voteResp('n1', 'n2', 3));
    h.c.nodeRestarted(N1);
    expectViolation(Invariant.voteOncePerTerm, () => h.c.messageSent(N1, voteResp('n1', 'n3', 3)));
  });

  it('raises when the durable vote changes within a term', () => {
    const h = new History();
    h.c.persistHardState(N1, hs(3, 'n1', 0));
    expectViolation(Invariant.voteOncePerTerm, () => h.c.persistHardState(N1, hs(3, 'n2', 0)));
  });

  it('stays quiet for repeated votes for the same candidate, and for pre-votes', () => {
    const h = new History();
    h.c.messageSent(N1, voteResp('n1', 'n2', 3, true));
    h.c.messageSent(N1, voteResp('n1', 'n3', 3, true));
    h.c.messageSent(N1, voteResp('n1', 'n2', 3));
    h.c.persistHardState(N1, hs(3, 'n2', 0));
    h.c.messageSent(N1, voteResp('n1', 'n2', 3));
    h.c.messageSent(N1, voteResp('n1', 'n3', 4));
  });
});

describe('durable state', () => {
  it('raises when the durable term goes back', () => {
    const h = new History();
    h.c.persistHardState(N1, hs(4, null, 0));
    expectViolation(Invariant.durableState, () => h.c.persistHardState(N1, hs(3, null, 0)));
  });

  it('raises when the durable commit index is beyond the durable log', () => {
    const h = new History().persist(N1, [e(1, 1)]);
    expectViolation(Invariant.durableState, () => h.c.persistHardState(N1, hs(1, null, 2)));
  });
});

describe('apply exactly once, in order', () => {
  it('raises when an index is skipped', () => {
    const h = new History().persist(N1, [e(1, 1), e(2, 1)]);
    expectViolation(Invariant.applyInOrder, () => h.apply(N1, [e(2, 1)], 1));
  });

  it('raises when an entry is applied twice in one lifetime', () => {
    const h = new History().persist(N1, [e(1, 1)]).apply(N1, [e(1, 1)], 1);
    expectViolation(Invariant.applyInOrder, () => h.apply(N1, [e(1, 1)], 1));
  });

  it('stays quiet when a restarted node re-applies from its snapshot', () => {
    const h = new History().persist(N1, [e(1, 1), e(2, 1)]).apply(N1, [e(1, 1)], 1).snapshot(N1).apply(N1, [e(2, 1)], 1);
    h.restart(N1);
    h.apply(N1, [e(2, 1)], 1); // committed entries come out again from the snapshot's index + 1
  });
});

describe('ReadIndex linearizability', () => {
  it('raises when a read is answered below an index committed before it was asked', () => {
    const h = new History();
    const log = [e(1, 1), e(2, 1)];
    h.persist(N1, log).apply(N1, log, 1);
    h.c.readRequested(N1, 7);
    expectViolation(Invariant.readIndex, () => h.c.readAnswered(N1, 7, 1));
  });

  it('stays quiet when the read index covers everything committed before the request', () => {
    const h = new History();
    const log = [e(1, 1), e(2, 1)];
    h.persist(N1, log).apply(N1, log, 1);
    h.c.readRequested(N1, 7);
    h.persist(N1, [e(3, 1)]).apply(N1, [e(3, 1)], 1); // committed after the request: not required
    h.c.readAnswered(N1, 7, 2);
  });
});

describe('liveness', () => {
  it('raises when no proposal commits everywhere within the bound after a heal', () => {
    // A bound of one tick cannot be met: the marker proposal needs a round trip.
    const err = expectViolation(Invariant.liveness, () => runSimulation({ seed: 3, nodes: 3, ticks: 400, livenessTicks: 1 }));
    expect(err.detail).toContain('no progress within');
  });

  it('stays quiet with the stated bound on the same seed', () => {
    const r = runSimulation({ seed: 3, nodes: 3, ticks: 400 });
    expect(r.stats.healCycles).toBeGreaterThan(0);
  });
});

describe('a violation carries what is needed to reproduce it', () => {
  it('names the invariant and the replay command in its message', () => {
    const err = new SimViolation({
      seed: 42,
      nodes: 5,
      invariant: Invariant.electionSafety,
      tick: 123,
      detail: 'n2 became leader of term 5, already led by n1',
      trace: ['t=122 n1→n2 vote t5 last=4:10', 't=123 n2 becomes leader term 5'],
      replay: 'npm run sim -- --seed 42 --nodes 5',
    });
    expect(err.message).toContain('election safety violated — seed 42, 5 nodes, tick 123');
    expect(err.message).toContain('replay: npm run sim -- --seed 42 --nodes 5');
    expect(err.message).toContain('t=123 n2 becomes leader term 5');
  });
});
