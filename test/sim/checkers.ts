// Raft's safety properties, checked incrementally after every step of a simulated run.
//
// Every check costs O(1) per persisted or applied entry, per message, or per election (plus one
// scan over the terms seen, per election). The checker keeps, per node, a mirror of its durable
// log as chain hashes (chain(i) = H(chain(i-1), term, kind, data)): two equal chains at an index
// mean equal entries AND equal prefixes, so "log matching" and "this leader holds every committed
// entry" become single comparisons instead of log scans.
//
// Globally it keeps: (index, term) → chain for every entry ever persisted anywhere; index → chain of
// the committed entry (first applied anywhere); index → application digest after applying it;
// term → leader; (node, term) → vote. A hand-made history drives it the same way the cluster does,
// which is how checkers.test.ts shows that each check fires.

import type { Entry, HardState, Message, NodeId } from '../../raft/types.js';
import { chainHash, hashBytes, mix } from './hash.js';

export const Invariant = {
  electionSafety: 'election safety',
  logMatching: 'log matching',
  leaderAppendOnly: 'leader append-only',
  leaderCompleteness: 'leader completeness',
  stateMachineSafety: 'state machine safety',
  committedNeverChange: 'committed entries never change',
  voteOncePerTerm: 'one vote per term',
  durableState: 'durable state',
  applyInOrder: 'apply exactly once, in order',
  readIndex: 'ReadIndex linearizability',
  liveness: 'liveness',
  coreError: 'core threw',
} as const;
export type InvariantName = (typeof Invariant)[keyof typeof Invariant];

export interface ViolationInfo {
  seed: number;
  nodes: number;
  invariant: string;
  tick: number;
  detail: string;
  trace: string[];
  replay: string;
}

/** A broken invariant in a simulated run: everything a person needs to reproduce it. */
export class SimViolation extends Error {
  readonly seed: number;
  readonly nodes: number;
  readonly invariant: string;
  readonly tick: number;
  readonly detail: string;
  readonly trace: string[];
  readonly replay: string;

  constructor(info: ViolationInfo) {
    super(formatViolation(info));
    this.name = 'SimViolation';
    this.seed = info.seed;
    this.nodes = info.nodes;
    this.invariant = info.invariant;
    this.tick = info.tick;
    this.detail = info.detail;
    this.trace = info.trace;
    this.replay = info.replay;
  }

  info(): ViolationInfo {
    return { seed: this.seed, nodes: this.nodes, invariant: this.invariant, tick: this.tick, detail: this.detail, trace: this.trace, replay: this.replay };
  }
}

export function formatViolation(v: ViolationInfo): string {
  const lines = [
    `${v.invariant} violated — seed ${v.seed}, ${v.nodes} nodes, tick ${v.tick}`,
    `  ${v.detail}`,
    `  replay: ${v.replay}`,
  ];
  for (const l of v.trace) lines.push(l.startsWith('--') ? `  ${l}` : `    ${l}`);
  return lines.join('\n');
}

/** Raises a violation; never returns. The cluster's version adds seed, tick and trace. */
export type Fail = (invariant: InvariantName, detail: string) => never;

/** A checker with no run around it (unit tests): raises SimViolation with seed 0. */
export function bareFail(invariant: InvariantName, detail: string): never {
  throw new SimViolation({ seed: 0, nodes: 0, invariant, tick: 0, detail, trace: [], replay: '(hand-made history)' });
}

/** One node's durable log, as the checker saw it written. */
class LogMirror {
  baseIndex = 0;
  baseTerm = 0;
  baseChain = 0;
  /** terms[k], chains[k] describe the entry at baseIndex + 1 + k. */
  terms: number[] = [];
  chains: number[] = [];
  hsTerm = 0;
  hsVote: NodeId | null = null;
  hsCommit = 0;
  /** Last index applied in this lifetime of the node. */
  applied = 0;
  /** Term this node is leader of, or 0. */
  leaderTerm = 0;

  lastIndex(): number {
    return this.baseIndex + this.chains.length;
  }

  /** Term at index, or -1 when compacted or beyond the log. */
  termAt(index: number): number {
    if (index === this.baseIndex) return this.baseTerm;
    const k = index - this.baseIndex - 1;
    return k >= 0 && k < this.terms.length ? this.terms[k]! : -1;
  }

  /** Chain at index, or undefined when compacted or beyond the log. */
  chainAt(index: number): number | undefined {
    if (index === this.baseIndex) return this.baseChain;
    const k = index - this.baseIndex - 1;
    return k >= 0 && k < this.chains.length ? this.chains[k] : undefined;
  }
}

export class SafetyChecker {
  private readonly logs: LogMirror[] = [];
  /**
   * index → [term, chain, term, chain, ...] for every entry persisted anywhere (log matching).
   * Rarely more than two terms per index; a flat list beats a Map keyed by non-small integers.
   */
  private readonly chainsAt: number[][] = [];
  /** index → chain / term of the committed entry, first seen applied. */
  private readonly committedChain: number[] = [0];
  private readonly committedTerm: number[] = [0];
  /** index → the node that applied it first (for reports). */
  private readonly committedBy: number[] = [-1];
  /**
   * index → an upper bound on the term in which the entry was committed: the smallest term an
   * applying node was in. Leader completeness only promises the entry to leaders of later terms.
   */
  private readonly commitTermBound: number[] = [0];
  /** commit term bound → the highest committed index with that bound. */
  private readonly maxIndexByBound: number[] = [];
  private maxCommittedIndex = 0;
  /** index → digest of the application after applying it. */
  private readonly appDigestAt: number[] = [0];
  private readonly leaderOfTerm = new Map<number, number>();
  private readonly votes: Map<number, NodeId>[] = [];
  /** Nodes currently leader (small). */
  private leaders: number[] = [];
  private readonly reads = new Map<number, { node: number; committedBefore: number }>();

  constructor(
    /** node index → node id, for messages; the cluster appends as nodes join. */
    private readonly names: string[],
    private readonly fail: Fail = bareFail,
  ) {}

  /** Highest index seen committed (applied) anywhere. */
  maxCommitted(): number {
    return this.maxCommittedIndex;
  }

  /** Term of the committed entry at index, or undefined if not known committed. */
  committedTermAt(index: number): number | undefined {
    return index <= this.maxCommittedIndex ? this.committedTerm[index] : undefined;
  }

  // ------------------------------------------------------------------ durable writes

  /** ready.snapshot was persisted: the log becomes the snapshot base (plus our suffix, if we hold its last entry). */
  persistSnapshot(node: number, index: number, term: number): void {
    const v = this.log(node);
    if (index < v.baseIndex) {
      this.fail(Invariant.durableState, `${this.name(node)} persisted a snapshot at ${term}:${index}, older than its snapshot at ${v.baseTerm}:${v.baseIndex}`);
    }
    let chain: number | undefined;
    if (v.termAt(index) === term) {
      chain = v.chainAt(index)!;
      this.dropThrough(v, index);
    } else {
      chain = this.knownChain(index, term);
      if (chain === undefined) {
        this.fail(Invariant.logMatching, `${this.name(node)} persisted a snapshot at ${term}:${index}, an entry no node ever held`);
      }
      v.terms = [];
      v.chains = [];
    }
    v.baseIndex = index;
    v.baseTerm = term;
    v.baseChain = chain;
    const committed = this.committedTermAt(index);
    if (committed !== undefined && this.committedChain[index] !== chain) {
      this.fail(
        Invariant.stateMachineSafety,
        `${this.name(node)} persisted a snapshot at ${term}:${index} but the entry committed at ${index} has term ${committed} (or a different history)`,
      );
    }
  }

  /**
   * ready.entries were persisted (after ready.snapshot, before ready.hardState): they replace the
   * stored suffix from entries[0].index on, and stored entries past the new last index go away.
   */
  persistEntries(node: number, entries: readonly Entry[]): void {
    if (entries.length === 0) return;
    const v = this.log(node);
    const first = entries[0]!.index;
    const oldLast = v.lastIndex();
    if (first <= v.baseIndex) {
      this.fail(Invariant.durableState, `${this.name(node)} persisted entries from ${first}, at or below its snapshot at ${v.baseIndex}`);
    }
    if (first > oldLast + 1) {
      this.fail(Invariant.logMatching, `${this.name(node)} persisted entries from ${first} but its log ends at ${oldLast}: a hole, so its prefix differs from the leader's`);
    }
    if (v.leaderTerm > 0 && first <= oldLast) {
      this.fail(Invariant.leaderAppendOnly, `${this.name(node)}, leader of term ${v.leaderTerm}, overwrote its log from ${first} (last ${oldLast})`);
    }
    let prevChain = v.chainAt(first - 1)!;
    let prevTerm = v.termAt(first - 1);
    const oldLen = v.chains.length;
    for (let k = 0; k < entries.length; k++) {
      const e = entries[k]!;
      if (e.index !== first + k) this.fail(Invariant.durableState, `${this.name(node)} persisted non-contiguous entries (${first + k} expected, got ${e.index})`);
      if (v.leaderTerm > 0 && e.term !== v.leaderTerm) {
        this.fail(Invariant.leaderAppendOnly, `${this.name(node)}, leader of term ${v.leaderTerm}, appended an entry of term ${e.term} at ${e.index}`);
      }
      const chain = chainHash(prevChain, e.term, e.kind === 'config', hashBytes(e.data));
      const slot = e.index - v.baseIndex - 1;
      // Overwritten in place, so the old value is still there to compare with.
      if (slot < oldLen && e.index <= v.hsCommit && v.chains[slot] !== chain) {
        this.fail(
          Invariant.committedNeverChange,
          `${this.name(node)} overwrote ${v.terms[slot]}:${e.index} with ${e.term}:${e.index} although its durable commit index is ${v.hsCommit}`,
        );
      }
      const known = this.knownChain(e.index, e.term);
      if (known === undefined) {
        const list = this.chainsAt[e.index];
        if (list === undefined) this.chainsAt[e.index] = [e.term, chain];
        else list.push(e.term, chain);
      } else if (known !== chain) {
        this.fail(
          Invariant.logMatching,
          `${this.name(node)} holds entry ${e.term}:${e.index} with a different history (or data) than another node holding ${e.term}:${e.index}`,
        );
      }
      if (e.term < prevTerm) this.fail(Invariant.logMatching, `${this.name(node)} log terms decrease at ${e.index}: ${prevTerm} then ${e.term}`);
      v.chains[slot] = chain;
      v.terms[slot] = e.term;
      prevChain = chain;
      prevTerm = e.term;
    }
    const newLast = first + entries.length - 1;
    if (newLast < oldLast && newLast < v.hsCommit) {
      this.fail(Invariant.committedNeverChange, `${this.name(node)} deleted entries ${newLast + 1}..${oldLast} although its durable commit index is ${v.hsCommit}`);
    }
    v.chains.length = newLast - v.baseIndex;
    v.terms.length = newLast - v.baseIndex;
  }

  /** ready.hardState was persisted (after the entries of the same Ready). */
  persistHardState(node: number, hs: HardState): void {
    const v = this.log(node);
    if (hs.term < v.hsTerm) this.fail(Invariant.durableState, `${this.name(node)} durable term went back from ${v.hsTerm} to ${hs.term}`);
    if (hs.commit < v.hsCommit) this.fail(Invariant.durableState, `${this.name(node)} durable commit went back from ${v.hsCommit} to ${hs.commit}`);
    if (hs.commit > v.lastIndex()) {
      this.fail(Invariant.durableState, `${this.name(node)} persisted commit ${hs.commit} beyond its durable log (last ${v.lastIndex()})`);
    }
    if (hs.vote !== null) this.recordVote(node, hs.term, hs.vote, 'persisted');
    v.hsTerm = hs.term;
    v.hsVote = hs.vote;
    v.hsCommit = hs.commit;
  }

  /** The node took a snapshot of its application at `index` (its applied index) and compacted its log. */
  snapshotCreated(node: number, index: number, appDigest: number): void {
    const v = this.log(node);
    if (index !== v.applied) this.fail(Invariant.stateMachineSafety, `${this.name(node)} took a snapshot at ${index} but has applied ${v.applied}`);
    this.checkAppDigest(node, index, appDigest, 'its own snapshot');
    if (index <= v.baseIndex) return;
    const term = v.termAt(index);
    const chain = v.chainAt(index);
    if (chain === undefined) this.fail(Invariant.stateMachineSafety, `${this.name(node)} took a snapshot at ${index}, outside its durable log`);
    this.dropThrough(v, index);
    v.baseIndex = index;
    v.baseTerm = term;
    v.baseChain = chain;
  }

  // ------------------------------------------------------------------ roles, messages

  becameLeader(node: number, term: number): void {
    const v = this.log(node);
    const other = this.leaderOfTerm.get(term);
    if (other !== undefined && other !== node) {
      this.fail(Invariant.electionSafety, `${this.name(node)} became leader of term ${term}, already led by ${this.name(other)}`);
    }
    this.leaderOfTerm.set(term, node);
    // Every entry committed in an earlier term must be in this leader's log. By log matching it is
    // enough to look at the highest such index: the chain there covers the whole prefix.
    const index = this.maxIndexCommittedBefore(term);
    if (index > 0 && !this.holdsCommitted(v, index)) {
      this.fail(
        Invariant.leaderCompleteness,
        `${this.name(node)} became leader of term ${term} without ${this.committedText(index)} ` +
          `(it holds ${v.termAt(index) < 0 ? 'nothing' : `term ${v.termAt(index)}`} there; log ${v.baseIndex + 1}..${v.lastIndex()})`,
      );
    }
    if (v.leaderTerm === 0) this.leaders.push(node);
    v.leaderTerm = term;
  }

  /** The node is no longer leader (stepped down, crashed, removed). */
  notLeader(node: number): void {
    const v = this.log(node);
    if (v.leaderTerm === 0) return;
    v.leaderTerm = 0;
    this.leaders = this.leaders.filter((n) => n !== node);
  }

  /** A message left the node (after its Ready was persisted). */
  messageSent(node: number, m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
      case 'timeoutNow': {
        // Only a leader sends these: they are evidence of leadership even if no Ready showed it.
        const other = this.leaderOfTerm.get(m.term);
        if (other === undefined) this.leaderOfTerm.set(m.term, node);
        else if (other !== node) {
          this.fail(Invariant.electionSafety, `${this.name(node)} sent ${m.type} as leader of term ${m.term}, already led by ${this.name(other)}`);
        }
        return;
      }
      case 'voteResp':
        if (m.granted && !m.pre) this.recordVote(node, m.term, m.to, 'sent');
        return;
      default:
        return;
    }
  }

  // ------------------------------------------------------------------ application

  /**
   * The node applied a committed entry. `nodeTerm` is its term when it learned the commit: the
   * entry was committed in that term or earlier.
   */
  applied(node: number, index: number, term: number, isConfig: boolean, dataHash: number, appDigest: number, nodeTerm: number): void {
    const v = this.log(node);
    if (index !== v.applied + 1) this.fail(Invariant.applyInOrder, `${this.name(node)} applied ${index} after ${v.applied}`);
    v.applied = index;
    const held = v.chainAt(index);
    if (index <= v.baseIndex || held === undefined || v.termAt(index) !== term) {
      this.fail(Invariant.stateMachineSafety, `${this.name(node)} applied ${term}:${index}, which is not in its durable log (${v.baseIndex + 1}..${v.lastIndex()})`);
    }
    const chain = chainHash(v.chainAt(index - 1)!, term, isConfig, dataHash);
    if (chain !== held) this.fail(Invariant.stateMachineSafety, `${this.name(node)} applied ${term}:${index} with data other than it persisted`);
    if (index > this.maxCommittedIndex) {
      this.firstCommit(node, index, term, chain, nodeTerm);
    } else if (this.committedChain[index] !== chain) {
      this.fail(
        Invariant.stateMachineSafety,
        `${this.name(node)} applied ${term}:${index} but ${this.committedText(index)} was applied before (or the histories differ)`,
      );
    } else if (nodeTerm < this.commitTermBound[index]!) {
      this.setBound(index, nodeTerm);
      this.checkLeadersHold(index);
    }
    this.checkAppDigest(node, index, appDigest, 'applying');
  }

  /** ready.snapshot replaced the node's application (after persistSnapshot). */
  snapshotInstalled(node: number, index: number, appDigest: number): void {
    const v = this.log(node);
    if (index < v.applied) this.fail(Invariant.applyInOrder, `${this.name(node)} installed a snapshot at ${index} after applying ${v.applied}: its state went back`);
    v.applied = index;
    this.checkAppDigest(node, index, appDigest, 'an installed snapshot');
  }

  /** A fresh RaftNode was built from the disk: its application restarts from the snapshot. */
  nodeRestarted(node: number): void {
    const v = this.log(node);
    v.applied = v.baseIndex;
    this.notLeader(node);
  }

  // ------------------------------------------------------------------ reads

  readRequested(node: number, ctx: number): void {
    this.reads.set(ctx, { node, committedBefore: this.maxCommittedIndex });
  }

  readDropped(ctx: number): void {
    this.reads.delete(ctx);
  }

  /** A ReadState came out of the node: its index must cover everything committed before the request. */
  readAnswered(node: number, ctx: number, index: number): void {
    const req = this.reads.get(ctx);
    if (req === undefined) this.fail(Invariant.readIndex, `${this.name(node)} answered read #${ctx}, which is not pending`);
    if (req.node !== node) this.fail(Invariant.readIndex, `${this.name(node)} answered read #${ctx}, asked of ${this.name(req.node)}`);
    if (index < req.committedBefore) {
      this.fail(Invariant.readIndex, `${this.name(node)} answered read #${ctx} at index ${index}, but ${req.committedBefore} was committed before the read was asked`);
    }
    this.reads.delete(ctx);
  }

  // ------------------------------------------------------------------ internals

  private log(node: number): LogMirror {
    let v = this.logs[node];
    if (v === undefined) {
      v = new LogMirror();
      this.logs[node] = v;
      this.votes[node] = new Map();
    }
    return v;
  }

  private name(node: number): string {
    return this.names[node] ?? `#${node}`;
  }

  private committedText(index: number): string {
    return `committed entry ${this.committedTerm[index]}:${index} (first applied by ${this.name(this.committedBy[index]!)})`;
  }

  private knownChain(index: number, term: number): number | undefined {
    const list = this.chainsAt[index];
    if (list === undefined) return undefined;
    for (let i = 0; i < list.length; i += 2) if (list[i] === term) return list[i + 1];
    return undefined;
  }

  private dropThrough(v: LogMirror, index: number): void {
    const k = index - v.baseIndex;
    if (k <= 0) return;
    v.terms.splice(0, k);
    v.chains.splice(0, k);
  }

  private recordVote(node: number, term: number, candidate: NodeId, how: string): void {
    this.log(node); // creates the node's records on first sight
    const votes = this.votes[node]!;
    const prior = votes.get(term);
    if (prior === undefined) votes.set(term, candidate);
    else if (prior !== candidate) {
      this.fail(Invariant.voteOncePerTerm, `${this.name(node)} ${how} a vote for ${candidate} in term ${term}, having voted for ${prior} in that term`);
    }
  }

  private firstCommit(node: number, index: number, term: number, chain: number, nodeTerm: number): void {
    // Entries commit in index order, and a node applies in order: the first applier of `index`
    // has applied every index below it, so the committed arrays stay dense.
    if (index !== this.maxCommittedIndex + 1) {
      this.fail(Invariant.applyInOrder, `index ${index} applied before any node applied ${index - 1}`);
    }
    this.committedChain[index] = chain;
    this.committedTerm[index] = term;
    this.committedBy[index] = node;
    this.commitTermBound[index] = Number.MAX_SAFE_INTEGER;
    this.maxCommittedIndex = index;
    this.setBound(index, nodeTerm);
    this.checkLeadersHold(index);
  }

  private setBound(index: number, bound: number): void {
    this.commitTermBound[index] = bound;
    const cur = this.maxIndexByBound[bound];
    if (cur === undefined || cur < index) this.maxIndexByBound[bound] = index;
  }

  /** The highest committed index whose commit term is known to be below `term`. */
  private maxIndexCommittedBefore(term: number): number {
    let best = 0;
    const top = Math.min(term, this.maxIndexByBound.length);
    for (let b = 0; b < top; b++) {
      const i = this.maxIndexByBound[b];
      if (i !== undefined && i > best) best = i;
    }
    return best;
  }

  /** Committed entries never change: every current leader of a later term holds the entry. */
  private checkLeadersHold(index: number): void {
    const bound = this.commitTermBound[index]!;
    for (const n of this.leaders) {
      const v = this.logs[n]!;
      if (v.leaderTerm > bound && !this.holdsCommitted(v, index)) {
        this.fail(
          Invariant.committedNeverChange,
          `${this.name(n)}, leader of term ${v.leaderTerm}, lacks ${this.committedText(index)}, committed by term ${bound} (it holds term ${v.termAt(index)} there)`,
        );
      }
    }
  }

  private holdsCommitted(v: LogMirror, index: number): boolean {
    if (index <= v.baseIndex) {
      // Compacted: the node's snapshot covers it; the snapshot's own entry must be the committed one.
      const c = this.committedChain[v.baseIndex];
      return v.baseIndex > this.maxCommittedIndex || c === undefined || c === v.baseChain;
    }
    return v.chainAt(index) === this.committedChain[index];
  }

  private checkAppDigest(node: number, index: number, digest: number, how: string): void {
    const known = this.appDigestAt[index];
    if (known === undefined) this.appDigestAt[index] = digest;
    else if (known !== digest) this.fail(Invariant.stateMachineSafety, `${this.name(node)} application state after ${how} at ${index} differs from another node's`);
  }
}

/** Folds an application's contents into one digest (exported for tests). */
export function appDigest(index: number, count: number, hash: number): number {
  return mix(mix(hash, count), index);
}
