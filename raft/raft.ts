import { assert } from './assert.js';
import { applyConfigChange, configChangeProblem, decodeConfigChange, encodeConfigChange, quorumMatch, quorumSize } from './config.js';
import { RaftLog } from './log.js';
import { Progress } from './progress.js';
import type {
  AppendRequest,
  AppendResponse,
  ClusterConfig,
  ConfigChange,
  Entry,
  HardState,
  HeartbeatRequest,
  HeartbeatResponse,
  Message,
  NodeId,
  ProposeResult,
  RaftFaults,
  RaftInitialState,
  RaftOptions,
  RaftStatus,
  ReadState,
  Ready,
  Role,
  Snapshot,
  SnapshotRequest,
  SoftState,
  VoteRequest,
  VoteResponse,
} from './types.js';
import { entryDataBytes, RELEASED_SNAPSHOT_DATA } from './types.js';

const COMPACT_TRAILING_ENTRIES_DEFAULT = 1024;
/** Committed entries handed out per Ready, so one Ready never makes the runtime apply for too long. */
const COMMITTED_PER_READY_MAX = 4096;

interface PendingRead {
  ctx: number;
  index: number;
  acks: Set<NodeId>;
}

/**
 * A pure Raft core in the style of etcd's raft: no I/O, no timers, no clocks, randomness injected.
 * The runtime drives it with tick/step/propose and drains it with ready/advance.
 *
 * Membership changes take effect when their entry is applied (advance), one at a time, and only
 * after the leader has committed an entry of its own term (the fix for single-server changes
 * described on raft-dev in 2015): pendingConfIndex enforces both.
 */
export class RaftNode {
  readonly id: NodeId;
  private readonly opts: RaftOptions;
  private readonly faults: RaftFaults;
  private readonly log: RaftLog;

  private term: number;
  private vote: NodeId | null;
  private role: Role = 'follower';
  private leader: NodeId | null = null;
  private config: ClusterConfig;
  /** Log index of the entry (or snapshot) the current config comes from. */
  private configIndex = 0;

  private electionElapsed = 0;
  private heartbeatElapsed = 0;
  private randomizedElectionTicks = 0;

  private progress = new Map<NodeId, Progress>();
  private votes = new Map<NodeId, boolean>();
  private leadTransferee: NodeId | null = null;
  private transferElapsed = 0;
  private pendingConfIndex = 0;
  /** Index of the no-op this leader appended on election; reads and config changes wait for it to commit. */
  private leaderStartIndex = 0;
  private pendingReads: PendingRead[] = [];
  private readsWaitingForCommit: number[] = [];

  private snapshot: Snapshot | null;
  private pendingSnapshot: Snapshot | null = null;
  private msgs: Message[] = [];
  private readStates: ReadState[] = [];
  private prevSoft: SoftState;
  private prevHard: HardState;
  private applyPaused = false;
  /** Fault (c): the vote that has been sent but will only reach disk with the next Ready. */
  private voteNotYetPersisted = false;

  constructor(options: RaftOptions, initial: RaftInitialState) {
    assert(options.heartbeatTicks > 0 && options.heartbeatTicks < options.electionTicks, 'heartbeatTicks < electionTicks');
    this.id = options.id;
    this.opts = options;
    this.faults = options.faults ?? {};
    const snap = initial.snapshot;
    const base = snap ? { index: snap.meta.index, term: snap.meta.term } : { index: 0, term: 0 };
    this.log = new RaftLog(base, initial.entries, initial.hardState.commit, initial.applied);
    this.snapshot = snap;
    this.term = initial.hardState.term;
    this.vote = initial.hardState.vote;
    this.config = snap ? cloneConfig(snap.meta.config) : cloneConfig(initial.bootstrapConfig);
    this.configIndex = snap ? snap.meta.index : 0;
    // Config entries already applied before the restart take effect again (they are not re-applied).
    for (let i = this.log.firstIndex(); i <= this.log.applied; i++) {
      const e = this.log.entry(i);
      if (e && e.kind === 'config' && e.index > this.configIndex) {
        this.config = applyConfigChange(this.config, decodeConfigChange(e.data));
        this.configIndex = e.index;
      }
    }
    this.prevHard = { term: this.term, vote: this.vote, commit: this.log.committed };
    if (isFreshBootstrap(initial)) this.writeBootstrapEntries(initial.bootstrapConfig);
    this.prevSoft = { role: this.role, leader: this.leader, term: this.term };
    this.resetRandomizedElectionTicks();
  }

  /**
   * A brand-new cluster writes its founding voters into the log as config entries 1..n of term 1,
   * committed, identically on every founding node (as etcd does). A node added later replicates
   * them like any entry, so it learns the whole membership — not only the change that added it.
   */
  private writeBootstrapEntries(config: ClusterConfig): void {
    const voters = [...config.voters].sort();
    this.term = 1;
    for (const id of voters) this.appendEntryUnchecked('config', encodeConfigChange({ type: 'add', id }));
    this.log.commitTo(voters.length);
    this.config = cloneConfig(config);
    this.configIndex = voters.length;
  }

  // ---------------------------------------------------------------- inputs

  tick(): void {
    if (this.role === 'leader') this.tickLeader();
    else this.tickElection();
  }

  /** Whether `snapshot` waits to be installed (handed out by the next Ready): a runtime's check that a snapshot it stepped was taken. */
  holdsPendingSnapshot(snapshot: Snapshot): boolean {
    return this.pendingSnapshot === snapshot;
  }

  step(m: Message): void {
    if (m.to !== this.id) return;
    if (m.term > this.term) {
      if (!this.stepHigherTerm(m)) return;
    } else if (m.term < this.term) {
      this.stepLowerTerm(m);
      return;
    }
    if (m.type === 'vote') {
      this.handleVoteRequest(m);
      return;
    }
    switch (this.role) {
      case 'leader':
        this.stepLeader(m);
        break;
      case 'candidate':
      case 'precandidate':
        this.stepCandidate(m);
        break;
      case 'follower':
        this.stepFollower(m);
        break;
    }
  }

  propose(data: Uint8Array): ProposeResult {
    const refused = this.proposalRefusal();
    if (refused) return refused;
    return this.appendAsLeader('normal', data);
  }

  proposeConfigChange(change: ConfigChange): ProposeResult {
    const refused = this.proposalRefusal();
    if (refused) return refused;
    if (this.pendingConfIndex > this.log.applied) return { ok: false, reason: 'config_pending', leader: this.id };
    if (configChangeProblem(this.config, change)) return { ok: false, reason: 'invalid_config_change', leader: this.id };
    const result = this.appendAsLeader('config', encodeConfigChange(change));
    if (result.ok) this.pendingConfIndex = result.index;
    return result;
  }

  transferLeader(to: NodeId): boolean {
    if (this.role !== 'leader' || to === this.id || !this.config.voters.includes(to)) return false;
    if (this.leadTransferee === to) return true;
    this.leadTransferee = to;
    this.transferElapsed = 0;
    const pr = this.progress.get(to)!;
    if (pr.match === this.log.lastIndex()) this.send({ type: 'timeoutNow', from: this.id, to, term: this.term });
    else this.maybeSendAppend(to, true);
    return true;
  }

  /** ReadIndex (dissertation §6.4): the answer arrives as a ReadState once a quorum confirms leadership. */
  readIndex(ctx: number): boolean {
    if (this.role !== 'leader') return false;
    if (this.log.term(this.log.committed) !== this.term) {
      // The commit index is only known to be current once an entry of this term commits.
      this.readsWaitingForCommit.push(ctx);
      return true;
    }
    this.startRead(ctx);
    return true;
  }

  campaign(): void {
    if (this.role === 'leader') return;
    this.startCampaign(this.opts.preVote, false);
  }

  /**
   * The runtime is still delivering the snapshot to `to` (a chunk went out): its timeout starts
   * over, so a large image on a slow link is not sent again while it is still on its way.
   */
  reportSnapshotProgress(to: NodeId): void {
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr && pr.state === 'snapshot') pr.snapshotTicks = 0;
  }

  /** The transport could not deliver a snapshot: probe again instead of waiting for the timeout. */
  reportSnapshotFailure(to: NodeId): void {
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr && pr.state === 'snapshot') pr.becomeProbe();
  }

  /** Snapshot of the application's state at the applied index; compacts the in-memory log. */
  createSnapshot(data: Uint8Array): Snapshot {
    assert(this.pendingSnapshot === null, 'no snapshot is being installed');
    const index = this.log.applied;
    const term = this.log.term(index);
    assert(term >= 0, 'the applied entry is still in the log');
    const snap: Snapshot = { meta: { index, term, config: cloneConfig(this.config) }, data };
    this.snapshot = snap;
    const trailing = this.opts.compactTrailingEntries ?? COMPACT_TRAILING_ENTRIES_DEFAULT;
    // Storage drops the entries the snapshot covers: released ones, whose data is nowhere else now,
    // leave memory too (a follower that needs them gets the snapshot).
    const compactTo = Math.max(this.log.trailingBase(index, trailing, this.opts.compactTrailingBytes ?? Number.POSITIVE_INFINITY), Math.min(this.log.releasedTo, index));
    if (compactTo > this.log.firstIndex() - 1) this.log.compactTo(compactTo);
    return snap;
  }

  /**
   * Drops from memory the data of entries that are applied and durable here, but the newest
   * `keepBytes` of them (what a follower a little behind asks for next). Their index and term stay
   * (Log Matching needs them); an AppendEntries that carries one holds ReleasedEntryData, which
   * the runtime reads back from storage before sending: a follower further behind (down, or
   * slow) costs disk reads, never memory. Without this every node would hold the log since its
   * last snapshot (a backlog of batched jobs) in memory, and a leader more while a follower is down.
   */
  releaseEntryData(keepBytes: number): void {
    const upTo = this.log.keepNewestFrom(keepBytes);
    // Entries kept below the latest snapshot are in memory only (storage dropped them with it).
    const floor = this.snapshot?.meta.index ?? 0;
    if (upTo > this.log.releasedTo && upTo > floor) this.log.releaseData(upTo, floor);
  }

  /** The runtime could not send an AppendEntries (its data could not be read back): probe again. */
  reportAppendFailure(to: NodeId): void {
    const pr = this.progress.get(to);
    if (this.role === 'leader' && pr && pr.state === 'replicate') pr.becomeProbe();
  }

  /**
   * The runtime made the latest snapshot durable: the core keeps its metadata only, and a snapshot
   * it sends from now on carries RELEASED_SNAPSHOT_DATA, for the runtime to read back from storage.
   * Without this the whole state image would stay in memory beside the state itself.
   */
  releaseSnapshotData(): void {
    const snap = this.snapshot;
    if (snap === null || snap.data === RELEASED_SNAPSHOT_DATA || this.pendingSnapshot === snap) return;
    this.snapshot = { meta: snap.meta, data: RELEASED_SNAPSHOT_DATA };
  }

  // ---------------------------------------------------------------- outputs

  /**
   * While paused, Readies carry no committed entries (they wait in the log, and the applied index
   * stays put): the runtime is reading the application's state for a snapshot at that index and
   * must not change it meanwhile. Everything else (persisting, messages) goes on.
   */
  pauseApply(paused: boolean): void {
    this.applyPaused = paused;
  }

  hasReady(): boolean {
    return (
      this.msgs.length > 0 ||
      this.readStates.length > 0 ||
      this.pendingSnapshot !== null ||
      this.log.hasUnstable() ||
      (!this.applyPaused && this.log.hasCommittedToApply()) ||
      this.voteNotYetPersisted ||
      this.hardStateChanged() ||
      this.softStateChanged()
    );
  }

  ready(): Ready {
    const snapshot = this.pendingSnapshot;
    const entries = this.log.takeUnstable();
    const softState = this.softStateChanged() ? this.currentSoft() : null;
    const hardState = this.takeHardState(entries.length > 0 || snapshot !== null);
    const committed = this.applyPaused ? [] : this.log.takeCommitted(COMMITTED_PER_READY_MAX);
    const rd: Ready = { softState, hardState, snapshot, entries, messages: this.msgs, committed, readStates: this.readStates };
    this.msgs = [];
    this.readStates = [];
    if (snapshot) this.pendingSnapshot = null;
    if (softState) this.prevSoft = softState;
    return rd;
  }

  advance(rd: Ready): void {
    this.log.persisted(rd.entries);
    for (const e of rd.committed) {
      this.log.appliedTo(e.index);
      // A snapshot installed meanwhile already carries the config as of its index.
      if (e.kind === 'config' && e.index > this.configIndex) this.applyConfigEntry(e);
    }
    if (this.role === 'leader') {
      this.progress.get(this.id)?.maybeUpdate(this.log.persistedTo);
      this.maybeCommit();
    }
  }

  /** Cheap, unlike status(). */
  get isLeader(): boolean {
    return this.role === 'leader';
  }

  /** A leadership transfer is under way (proposals are refused until it ends or times out). */
  get transferring(): boolean {
    return this.leadTransferee !== null;
  }

  /** The applied index alone: status() builds per-follower progress, too much for a hot loop. */
  get appliedIndex(): number {
    return this.log.applied;
  }

  status(): RaftStatus {
    const progress: RaftStatus['progress'] = {};
    if (this.role === 'leader') {
      for (const [id, pr] of this.progress) {
        progress[id] = {
          match: pr.match,
          next: pr.next,
          state: pr.state,
          recentActive: pr.recentActive,
          lastContactTicks: pr.ticksSinceContact,
          snapshotIndex: pr.snapshotIndex,
          applyPaused: pr.applyPaused,
        };
      }
    }
    return {
      id: this.id,
      role: this.role,
      term: this.term,
      vote: this.vote,
      leader: this.leader,
      commit: this.log.committed,
      applied: this.log.applied,
      firstIndex: this.log.firstIndex(),
      lastIndex: this.log.lastIndex(),
      lastTerm: this.log.lastTerm(),
      config: cloneConfig(this.config),
      progress,
      ticksSinceLeaderContact: this.role === 'leader' ? 0 : this.electionElapsed,
    };
  }

  // ---------------------------------------------------------------- roles

  private becomeFollower(term: number, leader: NodeId | null): void {
    if (term !== this.term) {
      this.term = term;
      this.vote = null;
    }
    this.role = 'follower';
    this.leader = leader;
    this.leadTransferee = null;
    // The runtime fails reads still waiting when it sees the role change (softState).
    this.pendingReads = [];
    this.readsWaitingForCommit = [];
    this.resetTimers();
  }

  private becomePreCandidate(): void {
    // A pre-candidate changes neither term nor vote (dissertation §9.6): a partitioned node
    // cannot inflate the term and disrupt a healthy leader when it rejoins.
    this.role = 'precandidate';
    this.leader = null;
    this.votes.clear();
  }

  private becomeCandidate(): void {
    assert(this.role !== 'leader', 'a leader does not become a candidate');
    this.role = 'candidate';
    this.term += 1;
    this.vote = this.id;
    this.leader = null;
    this.votes.clear();
    this.resetTimers();
  }

  private becomeLeader(): void {
    assert(this.role === 'candidate', 'only a candidate becomes leader');
    this.role = 'leader';
    this.leader = this.id;
    this.resetTimers();
    this.leadTransferee = null;
    this.pendingReads = [];
    this.readsWaitingForCommit = [];
    this.progress.clear();
    const next = this.log.lastIndex() + 1;
    for (const id of this.config.voters) this.progress.set(id, this.newProgress(next));
    const self = this.progress.get(this.id);
    if (self) {
      self.match = this.log.persistedTo;
      self.becomeReplicate();
    }
    // The no-op entry: the commit rule only counts replicas of current-term entries, so an empty
    // entry of this term is what lets earlier-term entries commit (Raft §5.4.2, §8).
    const noop = this.appendEntryUnchecked('normal', new Uint8Array(0));
    this.leaderStartIndex = noop.index;
    // No config change until everything up to our no-op is applied.
    this.pendingConfIndex = noop.index;
    this.bcastAppend();
  }

  private newProgress(next: number): Progress {
    return new Progress(next, this.opts.maxInflightMsgs, this.opts.maxInflightBytes);
  }

  private resetTimers(): void {
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTicks();
  }

  private resetRandomizedElectionTicks(): void {
    const r = this.opts.random();
    this.randomizedElectionTicks = this.opts.electionTicks + Math.floor(r * this.opts.electionTicks);
  }

  private promotable(): boolean {
    return this.config.voters.includes(this.id);
  }

  // ---------------------------------------------------------------- time

  private tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.electionElapsed >= this.randomizedElectionTicks) {
      this.electionElapsed = 0;
      this.startCampaign(this.opts.preVote, false);
    }
  }

  private tickLeader(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      pr.ticksSinceContact++;
      if (pr.state === 'snapshot' && ++pr.snapshotTicks > (this.opts.snapshotTimeoutTicks ?? 5 * this.opts.electionTicks)) pr.becomeProbe();
    }
    if (this.electionElapsed >= this.opts.electionTicks) {
      this.electionElapsed = 0;
      if (this.opts.checkQuorum && !this.quorumActive()) {
        this.becomeFollower(this.term, null);
        return;
      }
    }
    if (this.leadTransferee !== null && ++this.transferElapsed >= this.opts.electionTicks) {
      this.leadTransferee = null; // the transfer did not finish within an election timeout: give up
    }
    if (this.heartbeatElapsed >= this.opts.heartbeatTicks) {
      this.heartbeatElapsed = 0;
      this.bcastHeartbeat(null);
    }
  }

  /** Check-quorum: a leader that heard from no majority in an election timeout steps down. */
  private quorumActive(): boolean {
    let active = 0;
    for (const id of this.config.voters) {
      const pr = this.progress.get(id);
      if (id === this.id || (pr && pr.recentActive)) active++;
      if (pr && id !== this.id) pr.recentActive = false;
    }
    return active >= quorumSize(this.config);
  }

  // ---------------------------------------------------------------- elections

  private startCampaign(pre: boolean, transfer: boolean): void {
    if (!this.promotable()) return;
    if (pre) this.becomePreCandidate();
    else this.becomeCandidate();
    const voteTerm = pre ? this.term + 1 : this.term;
    this.votes.set(this.id, true);
    if (this.electionWon()) {
      if (pre) this.startCampaign(false, transfer);
      else this.becomeLeader();
      return;
    }
    for (const to of this.config.voters) {
      if (to === this.id) continue;
      this.send({ type: 'vote', from: this.id, to, term: voteTerm, pre, lastIndex: this.log.lastIndex(), lastTerm: this.log.lastTerm(), transfer });
    }
  }

  private electionWon(): boolean {
    let granted = 0;
    for (const id of this.config.voters) if (this.votes.get(id) === true) granted++;
    return granted >= quorumSize(this.config);
  }

  private electionLost(): boolean {
    let rejected = 0;
    for (const id of this.config.voters) if (this.votes.get(id) === false) rejected++;
    return rejected >= quorumSize(this.config);
  }

  /** Returns whether the message should still be processed after the term bump. */
  private stepHigherTerm(m: Message): boolean {
    if (m.type === 'vote') {
      // Leader lease (check-quorum): while we hear from a live leader, ignore disruptive votes,
      // e.g. from a removed or partitioned node, unless a leadership transfer asked for them.
      const inLease = this.opts.checkQuorum && this.leader !== null && this.electionElapsed < this.opts.electionTicks;
      if (!m.transfer && inLease) return false;
      if (m.pre) return true; // a pre-vote never changes our term
      this.becomeFollower(m.term, null);
      return true;
    }
    if (m.type === 'voteResp' && m.pre && m.granted) return true; // our own future term, echoed back
    const leader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' ? m.from : null;
    this.becomeFollower(m.term, leader);
    return true;
  }

  private stepLowerTerm(m: Message): void {
    if ((this.opts.checkQuorum || this.opts.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
      // A stale leader (e.g. back from a partition) learns the new term from our answer and steps down.
      this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, success: false, index: 0, hintIndex: 0, hintTerm: 0 });
    } else if (m.type === 'vote' && m.pre) {
      this.send({ type: 'voteResp', from: this.id, to: m.from, term: this.term, pre: true, granted: false });
    }
  }

  private handleVoteRequest(m: VoteRequest): void {
    const canVote = this.vote === m.from || (this.vote === null && this.leader === null) || (m.pre && m.term > this.term);
    const logOk = this.faults.voteWithoutLogCheck === true || this.log.isUpToDate(m.lastIndex, m.lastTerm);
    if (canVote && logOk) {
      this.send({ type: 'voteResp', from: this.id, to: m.from, term: m.term, pre: m.pre, granted: true });
      if (!m.pre) {
        this.electionElapsed = 0;
        this.vote = m.from;
        if (this.faults.sendVoteBeforePersist === true) this.voteNotYetPersisted = true;
      }
    } else {
      this.send({ type: 'voteResp', from: this.id, to: m.from, term: this.term, pre: m.pre, granted: false });
    }
  }

  private stepCandidate(m: Message): void {
    switch (m.type) {
      case 'append':
      case 'heartbeat':
      case 'snapshot':
        this.becomeFollower(m.term, m.from);
        this.stepFollower(m);
        return;
      case 'voteResp':
        this.handleVoteResponse(m);
        return;
      default:
        return;
    }
  }

  private handleVoteResponse(m: VoteResponse): void {
    if (m.pre !== (this.role === 'precandidate')) return;
    this.votes.set(m.from, m.granted);
    if (this.electionWon()) {
      if (this.role === 'precandidate') this.startCampaign(false, false);
      else this.becomeLeader();
    } else if (this.electionLost()) {
      this.becomeFollower(this.term, null);
    }
  }

  // ---------------------------------------------------------------- follower

  private stepFollower(m: Message): void {
    switch (m.type) {
      case 'append':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleAppend(m);
        return;
      case 'heartbeat':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleHeartbeat(m);
        return;
      case 'snapshot':
        this.electionElapsed = 0;
        this.leader = m.from;
        this.handleSnapshot(m);
        return;
      case 'timeoutNow':
        // Leadership transfer: skip pre-vote, the old leader asked for this election.
        if (this.promotable()) this.startCampaign(false, true);
        return;
      default:
        return;
    }
  }

  private handleAppend(m: AppendRequest): void {
    const reply = (success: boolean, index: number, hintIndex = 0, hintTerm = 0): void =>
      this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, success, index, hintIndex, hintTerm });
    if (m.prevIndex < this.log.committed) {
      reply(true, this.log.committed);
      return;
    }
    const prevOk =
      this.log.matchTerm(m.prevIndex, m.prevTerm) || (this.faults.appendWithoutPrevCheck === true && m.prevIndex <= this.log.lastIndex());
    if (prevOk) {
      const lastNew = m.entries.length === 0 ? m.prevIndex : this.log.mergeFrom(m.entries);
      this.log.commitTo(Math.min(m.commit, lastNew));
      reply(true, lastNew);
      return;
    }
    // Fast backtracking: tell the leader the last index we hold whose term is <= its prevTerm.
    const hintIndex = this.log.findConflictByTerm(Math.min(m.prevIndex, this.log.lastIndex()), m.prevTerm);
    reply(false, m.prevIndex, hintIndex, Math.max(this.log.term(hintIndex), 0));
  }

  private handleHeartbeat(m: HeartbeatRequest): void {
    // The leader sends min(match, commit): a commit beyond our log means we lost entries we
    // acknowledged as durable (damaged storage). Serving on would stall the cluster or worse.
    assert(m.commit <= this.log.lastIndex(), `${this.id} lost acknowledged entries: the leader's commit for us is ${m.commit} but our log ends at ${this.log.lastIndex()} (storage damaged?)`);
    this.log.commitTo(m.commit);
    this.send({
      type: 'heartbeatResp',
      from: this.id,
      to: m.from,
      term: this.term,
      readCtx: m.readCtx,
      snapshotIndex: this.snapshot?.meta.index ?? 0,
      applyPaused: this.applyPaused,
    });
  }

  private handleSnapshot(m: SnapshotRequest): void {
    const meta = m.snapshot.meta;
    const reply = (index: number): void =>
      this.send({ type: 'appendResp', from: this.id, to: m.from, term: this.term, success: true, index, hintIndex: 0, hintTerm: 0 });
    if (meta.index <= this.log.committed) {
      reply(this.log.committed);
      return;
    }
    if (this.log.matchTerm(meta.index, meta.term)) {
      // We already hold the snapshot's last entry: fast-forward the commit instead of discarding the log.
      this.log.commitTo(meta.index);
      reply(this.log.committed);
      return;
    }
    this.log.restore(meta);
    this.config = cloneConfig(meta.config);
    this.configIndex = meta.index;
    this.snapshot = m.snapshot;
    this.pendingSnapshot = m.snapshot;
    reply(meta.index);
  }

  // ---------------------------------------------------------------- leader

  private stepLeader(m: Message): void {
    switch (m.type) {
      case 'appendResp':
        this.handleAppendResponse(m);
        return;
      case 'heartbeatResp':
        this.handleHeartbeatResponse(m);
        return;
      default:
        return; // a vote request was handled before; another leader's append in our term cannot exist
    }
  }

  private handleAppendResponse(m: AppendResponse): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.ticksSinceContact = 0;
    if (!m.success) {
      if (m.index === 0) return; // an answer to a stale-term message, already handled by the term
      const hint = m.hintTerm > 0 ? this.log.findConflictByTerm(m.hintIndex, m.hintTerm) : m.hintIndex;
      if (pr.maybeDecrTo(m.index, hint)) {
        if (pr.state === 'replicate') pr.becomeProbe();
        this.maybeSendAppend(m.from, true);
      }
      return;
    }
    const wasPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;
    if (pr.state === 'probe') pr.becomeReplicate();
    else if (pr.state === 'snapshot' && pr.match >= pr.pendingSnapshot) {
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === 'replicate') pr.inflights.freeLE(m.index);
    // A new commit index is not sent on its own: it rides on the next append or heartbeat
    // (followers only apply with it; answers are the leader's), saving a message each way per entry.
    this.maybeCommit();
    if (wasPaused) this.maybeSendAppend(m.from, true);
    while (this.maybeSendAppend(m.from, false)) {
      // pipelining: keep the window full while there is something to send
    }
    if (m.from === this.leadTransferee && pr.match === this.log.lastIndex()) {
      this.send({ type: 'timeoutNow', from: this.id, to: m.from, term: this.term });
    }
  }

  private handleHeartbeatResponse(m: HeartbeatResponse): void {
    const pr = this.progress.get(m.from);
    if (!pr) return;
    pr.recentActive = true;
    pr.ticksSinceContact = 0;
    pr.probeSent = false;
    // Older nodes do not send these (a mixed-version cluster during an upgrade): they count as unknown.
    pr.snapshotIndex = m.snapshotIndex ?? 0;
    pr.applyPaused = m.applyPaused ?? false;
    // Appends may have been lost: free a slot so a full window cannot stall replication forever.
    if (pr.state === 'replicate' && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.log.lastIndex()) this.maybeSendAppend(m.from, true);
    if (m.readCtx !== null) this.ackRead(m.readCtx, m.from);
  }

  private proposalRefusal(): ProposeResult | null {
    if (this.role !== 'leader') return { ok: false, reason: 'not_leader', leader: this.leader };
    if (this.leadTransferee !== null) return { ok: false, reason: 'transferring', leader: this.id };
    if (this.log.lastIndex() - this.log.committed >= this.opts.maxUncommittedEntries) {
      return { ok: false, reason: 'too_many_uncommitted', leader: this.id };
    }
    return null;
  }

  private appendAsLeader(kind: Entry['kind'], data: Uint8Array): ProposeResult {
    const e = this.appendEntryUnchecked(kind, data);
    for (const id of this.config.voters) if (id !== this.id) this.maybeSendAppend(id, false);
    return { ok: true, index: e.index, term: e.term };
  }

  private appendEntryUnchecked(kind: Entry['kind'], data: Uint8Array): Entry {
    const e: Entry = { index: this.log.lastIndex() + 1, term: this.term, kind, data };
    this.log.append(e);
    return e;
  }

  /** Sends the next AppendEntries to `to` if its window allows. Returns whether something was sent. */
  private maybeSendAppend(to: NodeId, sendIfEmpty: boolean): boolean {
    const pr = this.progress.get(to);
    if (!pr || to === this.id || pr.isPaused()) return false;
    const prevIndex = pr.next - 1;
    const prevTerm = this.log.term(prevIndex);
    if (prevTerm < 0) return this.sendSnapshot(to, pr);
    const last = this.log.lastIndex();
    const entries = pr.next <= last ? this.log.slice(pr.next, last, this.opts.maxMsgBytes) : [];
    if (entries.length === 0 && !sendIfEmpty) return false;
    let sizeBytes = 0;
    for (const e of entries) sizeBytes += entryDataBytes(e);
    this.send({ type: 'append', from: this.id, to, term: this.term, prevIndex, prevTerm, entries, commit: this.log.committed });
    pr.sentEntries(entries.length, entries.length > 0 ? entries[entries.length - 1]!.index : prevIndex, sizeBytes);
    return true;
  }

  private sendSnapshot(to: NodeId, pr: Progress): boolean {
    const snap = this.snapshot;
    assert(snap !== null, `entries below ${this.log.firstIndex()} are compacted, so a snapshot exists`);
    pr.becomeSnapshot(snap.meta.index);
    this.send({ type: 'snapshot', from: this.id, to, term: this.term, snapshot: snap });
    return true;
  }

  private bcastAppend(): void {
    for (const id of this.progress.keys()) if (id !== this.id) this.maybeSendAppend(id, true);
  }

  private bcastHeartbeat(readCtx: number | null): void {
    for (const [id, pr] of this.progress) {
      if (id === this.id) continue;
      this.send({ type: 'heartbeat', from: this.id, to: id, term: this.term, commit: Math.min(pr.match, this.log.committed), readCtx });
    }
  }

  /** Raft §5.4.2: only an entry of the current term is committed by counting replicas. */
  private maybeCommit(): boolean {
    const index = quorumMatch(this.config, (id) => this.progress.get(id)?.match ?? 0);
    if (index <= this.log.committed) return false;
    if (this.log.term(index) !== this.term && this.faults.commitOldTermByCounting !== true) return false;
    this.log.commitTo(index);
    if (index >= this.leaderStartIndex && this.readsWaitingForCommit.length > 0) {
      const waiting = this.readsWaitingForCommit;
      this.readsWaitingForCommit = [];
      for (const ctx of waiting) this.startRead(ctx);
    }
    return true;
  }

  private applyConfigEntry(e: Entry): void {
    const change = decodeConfigChange(e.data);
    this.config = applyConfigChange(this.config, change);
    this.configIndex = e.index;
    if (this.role !== 'leader') return;
    if (change.type === 'add' && !this.progress.has(change.id)) {
      this.progress.set(change.id, this.newProgress(this.log.lastIndex() + 1));
    } else if (change.type === 'remove') {
      this.progress.delete(change.id);
      if (this.leadTransferee === change.id) this.leadTransferee = null;
    }
    if (!this.promotable()) {
      // The leader removed itself: step down; the others elect a new leader after a timeout.
      this.becomeFollower(this.term, null);
      return;
    }
    this.maybeCommit();
  }

  // ---------------------------------------------------------------- reads

  private startRead(ctx: number): void {
    if (this.config.voters.length === 1) {
      this.readStates.push({ ctx, index: this.log.committed });
      return;
    }
    this.pendingReads.push({ ctx, index: this.log.committed, acks: new Set([this.id]) });
    this.bcastHeartbeat(ctx);
  }

  private ackRead(ctx: number, from: NodeId): void {
    const at = this.pendingReads.findIndex((r) => r.ctx === ctx);
    if (at < 0) return;
    const read = this.pendingReads[at]!;
    read.acks.add(from);
    let acked = 0;
    for (const id of this.config.voters) if (read.acks.has(id)) acked++;
    if (acked < quorumSize(this.config)) return;
    // A quorum confirmed us as leader after every earlier read was registered: release them all.
    for (const r of this.pendingReads.splice(0, at + 1)) this.readStates.push({ ctx: r.ctx, index: r.index });
  }

  // ---------------------------------------------------------------- plumbing

  private send(m: Message): void {
    this.msgs.push(m);
  }

  private currentSoft(): SoftState {
    return { role: this.role, leader: this.leader, term: this.term };
  }

  private softStateChanged(): boolean {
    return this.prevSoft.role !== this.role || this.prevSoft.leader !== this.leader || this.prevSoft.term !== this.term;
  }

  private hardStateChanged(): boolean {
    // A commit-only change is written with the next entries: the commit index is not needed for
    // safety (it is relearned from the leader), and a separate fsync for it would halve throughput.
    return this.prevHard.term !== this.term || this.prevHard.vote !== this.vote;
  }

  private takeHardState(withEntries: boolean): HardState | null {
    const changed = this.hardStateChanged() || this.voteNotYetPersisted || (withEntries && this.prevHard.commit !== this.log.committed);
    if (!changed) return null;
    let vote = this.vote;
    if (this.voteNotYetPersisted) {
      // Fault (c): the vote goes out with this Ready's messages but reaches disk one Ready later
      // (hardStateChanged() stays true until then).
      vote = this.prevHard.term === this.term ? this.prevHard.vote : null;
      this.voteNotYetPersisted = false;
    }
    const hs: HardState = { term: this.term, vote, commit: this.log.committed };
    this.prevHard = hs;
    return hs;
  }
}

function isFreshBootstrap(initial: RaftInitialState): boolean {
  return initial.snapshot === null && initial.entries.length === 0 && initial.hardState.term === 0 && initial.bootstrapConfig.voters.length > 0;
}

function cloneConfig(config: ClusterConfig): ClusterConfig {
  return { voters: [...config.voters].sort() };
}
