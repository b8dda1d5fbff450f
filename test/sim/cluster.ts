// The deterministic cluster simulator: N Raft cores, a fake network, disks, clients and a
// nemesis, all driven by one seed. Time is a tick counter; nothing reads a clock.
//
// The runtime loop for one node follows the Ready contract of raft/types.ts: persist (snapshot,
// entries, hard state) THEN send THEN apply THEN advance — and at most one Ready per node per
// scheduler event (a delivery, a tick, a client call), so a crash can fall between two Readies.
// Half the profiles send a leader's own messages before the write, as cluster/raft-driver.ts does.
// The checkers see every durable write, every message sent, every entry applied.

import { decodeConfigChange } from '../../raft/config.js';
import { RaftNode } from '../../raft/raft.js';
import { isReleasedEntry, RELEASED_SNAPSHOT_DATA } from '../../raft/types.js';
import type { ClusterConfig, ConfigChange, Entry, Message, NodeId, RaftOptions, Ready, Role, SoftState, Snapshot } from '../../raft/types.js';
import { Invariant, SafetyChecker, SimViolation, type InvariantName } from './checkers.js';
import { AppState, SimDisk } from './disk.js';
import { hashBytes } from './hash.js';
import { chooseProfile, NEMESIS_ACTIONS, rollConditions, type FaultName, type NemesisAction, type Profile } from './nemesis.js';
import { CALM, cloneMessage, Network, NODE_SLOTS_MAX, Sent, type InFlight } from './network.js';
import { Rng } from './rng.js';
import { DropReason, Ev, roleCode, Trace } from './trace.js';

/** Mixed into the seed for the generator that picks releaseKeepBytes. */
const RELEASE_SEED_SALT = 0x5e1ea5e;

export const ELECTION_TICKS = 10;
/** After the nemesis heals everything, a proposal must commit and reach every live voter within this many election timeouts. */
export const LIVENESS_ELECTIONS_MAX = 20;
/**
 * Plus the time to ship the backlog at the slowest rate the core's tuning allows: one entry per
 * AppendEntries, maxInflightMsgs of them per round trip, a round trip of at most 4 ticks when calm.
 */
export const LIVENESS_TICKS_PER_ROUND_TRIP = 4;
export const TICKS_DEFAULT = 3000;
/** Events kept for a violation report. */
const TRACE_REPORT_EVENTS = 40;
const TRACE_MILESTONES = 25;
const MIN_VOTERS = 3;
/** Big payloads exceed maxMsgBytes (a message still carries one); this caps them. */
const PAYLOAD_BYTES_MAX = 4096;

export interface SimOptions {
  seed: number;
  /** Founding voters: 3 or 5. */
  nodes: number;
  /** Ticks of chaos (each chaos period ends with a heal and a liveness check, which add ticks). */
  ticks?: number;
  fault?: FaultName | null;
  /** When set, every event is printed as it happens. */
  trace?: ((line: string) => void) | null;
  /** Print heartbeat traffic too. */
  traceQuiet?: boolean;
  /**
   * Nemesis weights aimed at this fault's bug (default: `fault`). Set it without `fault` to run the
   * same kind of schedule against the correct core (the control of broken.test.ts).
   */
  scenario?: FaultName | null;
  /** Membership changes (add / remove voters) in the nemesis schedule; default true. */
  membership?: boolean;
  /** Overrides the liveness bound (ticks after a heal); only to show that the liveness check fires. */
  livenessTicks?: number;
}

export interface SimStats {
  ticks: number;
  messages: number;
  lost: number;
  blocked: number;
  duplicated: number;
  leaderships: number;
  committed: number;
  proposals: number;
  crashes: number;
  snapshotsInstalled: number;
  snapshotsTaken: number;
  configChanges: number;
  reads: number;
  transfers: number;
  healCycles: number;
  /** Ticks from each heal to liveness, the worst one. */
  recoveryTicksMax: number;
}

export interface SimResult {
  seed: number;
  nodes: number;
  traceHash: number;
  traceEvents: number;
  stats: SimStats;
}

export function replayCommand(o: SimOptions): string {
  let cmd = `npm run sim -- --seed ${o.seed} --nodes ${o.nodes}`;
  if (o.ticks !== undefined && o.ticks !== TICKS_DEFAULT) cmd += ` --ticks ${o.ticks}`;
  if (o.fault) cmd += ` --fault ${o.fault}`;
  if (o.scenario !== undefined && o.scenario !== (o.fault ?? null)) cmd += ` --scenario ${o.scenario ?? 'none'}`;
  if (o.membership === false) cmd += ' --no-membership';
  return cmd;
}

/** Runs one seed to the end; throws SimViolation on the first broken invariant. */
export function runSimulation(opts: SimOptions): SimResult {
  return new Simulation(opts).run();
}

const CrashKind = { plain: 0, afterVote: 1, midReady: 2, afterCommit: 3, beforeWrite: 4 } as const;

/** Messages only a leader sends: they carry its log or commit index, never a promise about its disk. */
function isLeaderMessage(m: Message): boolean {
  return m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot' || m.type === 'timeoutNow';
}

function hasLeaderMessage(ms: readonly Message[]): boolean {
  for (const m of ms) if (isLeaderMessage(m)) return true;
  return false;
}

class SimNode {
  raft: RaftNode | null = null;
  readonly disk = new SimDisk();
  app = new AppState();
  state: 'up' | 'down' | 'removed' = 'down';
  restartAt = 0;
  /** Set when its removal committed: stopped at the next tick. */
  removeAt = 0;
  paused = false;
  resumeAt = 0;
  readonly held: InFlight[] = [];
  role: Role = 'follower';
  term = 0;
  appliedSinceSnapshot = 0;
  crashMidReady = false;
  /** Clock skew: 1 normal, 2 ticks twice per tick, 0.5 ticks every other tick. */
  clockRate = 1;

  constructor(
    readonly idx: number,
    readonly id: NodeId,
    readonly bootstrap: ClusterConfig,
  ) {}

  live(): boolean {
    return this.state === 'up' && !this.paused;
  }
}

interface PendingConfig {
  index: number;
  term: number;
  change: ConfigChange;
}

class Simulation {
  private readonly rng: Rng;
  private readonly profile: Profile;
  private readonly names: string[] = [];
  private readonly nodes: SimNode[] = [];
  private readonly byId = new Map<NodeId, SimNode>();
  private readonly net: Network;
  private readonly trace: Trace;
  private readonly checker: SafetyChecker;
  private readonly chaosTicks: number;
  private readonly faults: RaftOptions['faults'];
  private now = 0;
  private phase: 'chaos' | 'heal' = 'chaos';
  private nextNemesisAt = 0;
  private crashAfterVoteUntil = 0;
  private crashAfterCommitUntil = 0;
  /** The committed configuration (config entries in index order, as first applied anywhere). */
  private voters: NodeId[] = [];
  private lastConfigIndex = 0;
  private pendingConfig: PendingConfig | null = null;
  private readonly configProposals = new Map<number, ConfigChange>();
  /** A node created to be added, whose add has not committed yet. */
  private joiner: SimNode | null = null;
  private nextProposalId = 1;
  private nextReadCtx = 1;
  private readonly markers = new Set<number>();
  private markerIndex = 0;
  private markerLeader: SimNode | null = null;
  private markerTerm = 0;
  private readonly stats: SimStats = {
    ticks: 0,
    messages: 0,
    lost: 0,
    blocked: 0,
    duplicated: 0,
    leaderships: 0,
    committed: 0,
    proposals: 0,
    crashes: 0,
    snapshotsInstalled: 0,
    snapshotsTaken: 0,
    configChanges: 0,
    reads: 0,
    transfers: 0,
    healCycles: 0,
    recoveryTicksMax: 0,
  };

  constructor(private readonly opts: SimOptions) {
    if (opts.nodes < MIN_VOTERS || opts.nodes > 9) throw new Error(`--nodes must be 3..9, got ${opts.nodes}`);
    this.rng = new Rng(opts.seed);
    const fault = opts.fault ?? null;
    this.faults = fault === null ? {} : { [fault]: true };
    this.profile = chooseProfile(this.rng, opts.scenario !== undefined ? opts.scenario : fault);
    // From a generator of its own, so every seed keeps the rest of its run as it was.
    this.profile.releaseKeepBytes = new Rng(opts.seed ^ RELEASE_SEED_SALT).pick([Number.POSITIVE_INFINITY, 0, 64, 1024]);
    if (opts.membership === false) {
      for (const a of ['add', 'remove', 'removeLeader'] as const) this.profile.weights[NEMESIS_ACTIONS.indexOf(a)] = 0;
    }
    this.net = new Network(this.rng.fork());
    this.trace = new Trace(this.names, TRACE_REPORT_EVENTS, opts.trace ?? null, opts.traceQuiet === true);
    this.checker = new SafetyChecker(this.names, (inv, detail) => this.fail(inv, detail));
    this.chaosTicks = opts.ticks ?? TICKS_DEFAULT;
  }

  run(): SimResult {
    try {
      this.boot();
      while (this.now < this.chaosTicks) {
        const end = Math.min(this.chaosTicks, this.now + this.rng.range(this.profile.chaosTicksMin, this.profile.chaosTicksMax));
        this.phase = 'chaos';
        while (this.now < end) {
          if (this.now >= this.nextNemesisAt) this.nemesis();
          this.step();
        }
        this.healAndAwaitLiveness();
      }
    } catch (err) {
      if (err instanceof SimViolation) throw err;
      const e = err as Error;
      const where = (e.stack ?? '').split('\n').slice(1, 6).join('\n     ');
      this.fail(Invariant.coreError, `${e.name}: ${e.message}\n     ${where}`);
    }
    this.stats.ticks = this.now;
    this.stats.messages = this.net.sentCount;
    this.stats.lost = this.net.lostCount;
    this.stats.blocked = this.net.blockedCount;
    this.stats.duplicated = this.net.dupCount;
    this.stats.committed = this.checker.maxCommitted();
    return { seed: this.opts.seed, nodes: this.opts.nodes, traceHash: this.trace.hash, traceEvents: this.trace.events, stats: this.stats };
  }

  private fail(invariant: InvariantName, detail: string): never {
    throw new SimViolation({
      seed: this.opts.seed,
      nodes: this.opts.nodes,
      invariant,
      tick: this.now,
      detail,
      trace: [
        `-- the last ${TRACE_MILESTONES} milestones (roles, faults, membership, snapshots):`,
        ...this.trace.lastMilestones(TRACE_MILESTONES),
        `-- the last ${TRACE_REPORT_EVENTS} events:`,
        ...this.trace.last(TRACE_REPORT_EVENTS),
      ],
      replay: replayCommand(this.opts),
    });
  }

  // ------------------------------------------------------------------ time

  private boot(): void {
    const ids: NodeId[] = [];
    for (let i = 1; i <= this.opts.nodes; i++) ids.push(`n${i}`);
    this.voters = ids.slice();
    for (const id of ids) this.start(this.createNode(id, { voters: ids.slice() }));
    this.net.cond = rollConditions(this.rng, this.profile);
    // Let the cluster elect a first leader before the nemesis starts.
    this.nextNemesisAt = this.rng.range(2, 6) * ELECTION_TICKS;
    this.note(`profile: ${describeProfile(this.profile)}`);
  }

  /** One tick: scheduled restarts and resumes, clients, deliveries, then every node's tick. */
  private step(): void {
    const now = ++this.now;
    const nodes = this.nodes;
    for (let i = 0; i < nodes.length; i++) {
      const n = nodes[i]!;
      if (n.removeAt > 0 && n.state !== 'removed' && now >= n.removeAt) this.stop(n);
      else if (n.state === 'down' && now >= n.restartAt) this.start(n);
      else if (n.paused && now >= n.resumeAt) this.resume(n);
    }
    if (this.phase === 'chaos') this.clients();
    this.deliver();
    // Rotate who ticks first so no node is always first to time out.
    const k = nodes.length;
    for (let j = 0; j < k; j++) {
      const n = nodes[(j + now) % k]!;
      if (n.state !== 'up' || n.paused || (n.clockRate < 1 && (now & 1) === 1)) continue;
      n.raft!.tick();
      this.processReady(n);
      if (n.clockRate > 1 && n.state === 'up') {
        n.raft!.tick();
        this.processReady(n);
      }
    }
  }

  private deliver(): void {
    const due = this.net.takeDue(this.now);
    for (let i = 0; i < due.length; i++) {
      const item = due[i]!;
      const dst = this.nodes[item.to]!;
      if (dst.state !== 'up') {
        this.traceMessage(Ev.drop, item, dst.state === 'removed' ? DropReason.removed : DropReason.targetDown);
        continue;
      }
      if (dst.paused) {
        dst.held.push(item);
        continue;
      }
      if (this.net.isBlocked(item.from, item.to)) {
        this.traceMessage(Ev.drop, item, DropReason.partition);
        continue;
      }
      this.traceMessage(Ev.deliver, item, 0);
      dst.raft!.step(cloneMessage(item.msg));
      this.processReady(dst);
    }
    this.net.recycle(due);
  }

  private traceMessage(kind: typeof Ev.deliver | typeof Ev.drop | typeof Ev.duplicate, item: InFlight, reason: number): void {
    const t = item.msg.type;
    if (t === 'heartbeat' || t === 'heartbeatResp') this.trace.quiet(this.now, kind, item.from, item.to, reason, 0, item.msg);
    else this.trace.record(this.now, kind, item.from, item.to, reason, 0, item.msg);
  }

  // ------------------------------------------------------------------ the runtime loop of one node

  /** Handles at most one Ready: persist, then send, then apply, then advance. */
  private processReady(n: SimNode): void {
    const raft = n.raft!;
    if (!raft.hasReady()) return;
    const rd = raft.ready();
    const soft = rd.softState;
    // A step-down is seen before the write (a former leader may now truncate); a new leader after
    // it, so that its log, no-op included, is on disk when leader completeness is checked.
    if (soft !== null && soft.role !== 'leader') this.roleChanged(n, soft);
    // The node runtime (cluster/raft-driver.ts) sends a leader's own messages before its fsync
    // (dissertation §10.2.1): they vouch for nothing on its disk. Half the profiles do the same.
    const early = this.profile.leaderMessagesFirst && hasLeaderMessage(rd.messages);
    if (early) for (const m of rd.messages) if (isLeaderMessage(m)) this.send(n, m);
    if (n.crashMidReady && rd.messages.length > 0 && this.canCrash(n, false)) {
      // The crash falls inside the Ready: after its early sends if any (and then before the write,
      // which is lost), else after the write and before any send.
      if (!early) this.persist(n, rd);
      if (soft !== null && soft.role === 'leader') this.roleChanged(n, soft);
      for (const m of rd.messages) {
        if (!early || !isLeaderMessage(m)) this.trace.record(this.now, Ev.drop, n.idx, this.byId.get(m.to)?.idx ?? -1, DropReason.crashedMidReady, 0, m);
      }
      this.crash(n, early ? CrashKind.beforeWrite : CrashKind.midReady, this.downTicks());
      return;
    }
    this.persist(n, rd);
    if (soft !== null && soft.role === 'leader') this.roleChanged(n, soft);
    let votedFor = false;
    for (const m of rd.messages) {
      if (early && isLeaderMessage(m)) continue;
      this.send(n, m);
      if (m.type === 'voteResp' && m.granted && !m.pre) votedFor = true;
    }
    if (rd.snapshot !== null) this.installSnapshot(n, rd.snapshot);
    if (rd.committed.length > 0) this.applyEntries(n, rd.committed);
    for (const rs of rd.readStates) {
      this.checker.readAnswered(n.idx, rs.ctx, rs.index);
      this.trace.record(this.now, Ev.readAnswer, n.idx, -1, rs.ctx, rs.index, null);
      this.stats.reads++;
    }
    raft.advance(rd);
    if (n.appliedSinceSnapshot >= this.profile.snapshotEvery) this.takeSnapshot(n);
    if (this.profile.releaseKeepBytes !== Number.POSITIVE_INFINITY) {
      // Everything persisted and applied above is on the node's disk now.
      raft.releaseEntryData(this.profile.releaseKeepBytes);
      raft.releaseSnapshotData();
    }
    if (votedFor && this.now < this.crashAfterVoteUntil && this.rng.chance(this.profile.crashAfterVoteChance) && this.canCrash(n, false)) {
      // Between this Ready and the node's next one: a vote that was sent but not yet durable is lost.
      this.crash(n, CrashKind.afterVote, this.rng.chance(0.7) ? this.rng.range(1, 3) : this.downTicks());
    } else if (
      n.role === 'leader' &&
      rd.committed.length > 0 &&
      this.now < this.crashAfterCommitUntil &&
      this.rng.chance(this.profile.crashAfterCommitChance) &&
      this.canCrash(n, false)
    ) {
      // The leader dies the moment it commits: whatever it has not yet told a majority must survive without it.
      this.crash(n, CrashKind.afterCommit, this.downTicks());
    }
  }

  private persist(n: SimNode, rd: Ready): void {
    if (rd.snapshot !== null) this.checker.persistSnapshot(n.idx, rd.snapshot.meta.index, rd.snapshot.meta.term);
    if (rd.entries.length > 0) this.checker.persistEntries(n.idx, rd.entries);
    if (rd.hardState !== null) {
      this.checker.persistHardState(n.idx, rd.hardState);
      if (rd.hardState.term > n.term) n.term = rd.hardState.term;
    }
    n.disk.persist(rd);
  }

  private roleChanged(n: SimNode, soft: SoftState): void {
    const was = n.role;
    n.role = soft.role;
    if (soft.term > n.term) n.term = soft.term;
    if (soft.role === 'leader') {
      this.checker.becameLeader(n.idx, soft.term);
      this.stats.leaderships++;
    } else {
      this.checker.notLeader(n.idx);
    }
    if (was !== soft.role) this.trace.record(this.now, Ev.role, n.idx, -1, soft.term, roleCode(soft.role), null);
  }

  private send(from: SimNode, released: Message): void {
    const m = this.withStoredData(from, released);
    if (m === null) return;
    this.checker.messageSent(from.idx, m);
    const to = this.byId.get(m.to);
    if (to === undefined) throw new Error(`${from.id} sent ${m.type} to unknown node ${m.to}`);
    const r = this.net.send(m, from.idx, to.idx, this.now);
    if (r > 0) this.traceMessage(Ev.drop, { msg: m, from: from.idx, to: to.idx }, r);
    else if (r === Sent.duplicated) this.traceMessage(Ev.duplicate, { msg: m, from: from.idx, to: to.idx }, 0);
  }

  /**
   * A message whose data the core released, with it read back from the sender's disk (the runtime
   * does so before sending). Null when the disk no longer holds it (compacted meanwhile): the core
   * is told, as the runtime tells it, and probes again.
   */
  private withStoredData(from: SimNode, m: Message): Message | null {
    const raft = from.raft!;
    if (m.type === 'snapshot' && m.snapshot.data === RELEASED_SNAPSHOT_DATA) {
      const stored = from.disk.snapshot;
      if (stored !== null && stored.meta.index === m.snapshot.meta.index && stored.meta.term === m.snapshot.meta.term) return { ...m, snapshot: stored };
      raft.reportSnapshotFailure(m.to);
      return null;
    }
    if (m.type !== 'append' || !m.entries.some(isReleasedEntry)) return m;
    const entries: Entry[] = [];
    for (const e of m.entries) {
      const stored = isReleasedEntry(e) ? from.disk.entryAt(e.index) : e;
      if (stored === undefined || stored.term !== e.term) {
        raft.reportAppendFailure(m.to);
        return null;
      }
      entries.push(stored);
    }
    return { ...m, entries };
  }

  private applyEntries(n: SimNode, entries: Entry[]): void {
    for (const e of entries) {
      const dataHash = hashBytes(e.data);
      if (e.kind === 'config') {
        n.app.skip(e.index);
        this.configApplied(e);
      } else if (e.data.length === 0) {
        n.app.skip(e.index); // a leader's no-op
      } else {
        n.app.applyCommand(e.index, dataHash);
        if (this.phase === 'heal' && this.markerIndex === 0 && this.markers.has(payloadId(e.data))) this.markerIndex = e.index;
      }
      this.checker.applied(n.idx, e.index, e.term, e.kind === 'config', dataHash, n.app.digest(), n.term);
      n.appliedSinceSnapshot++;
    }
    this.trace.record(this.now, Ev.apply, n.idx, -1, entries[0]!.index, entries[entries.length - 1]!.index, null);
  }

  private installSnapshot(n: SimNode, snap: Snapshot): void {
    const app = AppState.decode(snap.data);
    if (app.index !== snap.meta.index) {
      this.fail(Invariant.stateMachineSafety, `${n.id} got a snapshot at ${snap.meta.index} holding the application as of ${app.index}`);
    }
    n.app = app;
    n.appliedSinceSnapshot = 0;
    this.checker.snapshotInstalled(n.idx, snap.meta.index, app.digest());
    this.trace.record(this.now, Ev.snapshotInstall, n.idx, -1, snap.meta.index, snap.meta.term, null);
    this.stats.snapshotsInstalled++;
  }

  private takeSnapshot(n: SimNode): void {
    const snap = n.raft!.createSnapshot(n.app.encode());
    if (snap.meta.index !== n.app.index) {
      this.fail(Invariant.stateMachineSafety, `${n.id} createSnapshot at ${snap.meta.index} but the application has applied ${n.app.index}`);
    }
    n.disk.saveOwnSnapshot(snap);
    this.checker.snapshotCreated(n.idx, snap.meta.index, n.app.digest());
    n.appliedSinceSnapshot = 0;
    this.trace.record(this.now, Ev.snapshotCreate, n.idx, -1, snap.meta.index, snap.meta.term, null);
    this.stats.snapshotsTaken++;
  }

  // ------------------------------------------------------------------ membership

  /** The first node to apply a config entry makes it the committed configuration. */
  private configApplied(e: Entry): void {
    if (e.index <= this.lastConfigIndex) return;
    this.lastConfigIndex = e.index;
    // The founding voters are config entries of term 1 (every founding node writes them at
    // bootstrap); any other config entry must be exactly what the simulator proposed there.
    const change = decodeConfigChange(e.data);
    const proposed = this.configProposals.get(configKey(e.index, e.term));
    const expected = proposed !== undefined ? proposed.type === change.type && proposed.id === change.id : e.term === 1 && change.type === 'add';
    if (!expected) this.fail(Invariant.stateMachineSafety, `config entry ${e.term}:${e.index} (${change.type} ${change.id}) is not what was proposed there`);
    if (change.type === 'add') {
      if (!this.voters.includes(change.id)) this.voters.push(change.id);
      if (this.joiner !== null && this.joiner.id === change.id) this.joiner = null;
    } else {
      this.voters = this.voters.filter((v) => v !== change.id);
      const gone = this.byId.get(change.id)!;
      gone.removeAt = this.now + 1; // the removed node is told nothing; stop it once its removal is committed
    }
    if (this.pendingConfig !== null && this.pendingConfig.index === e.index) this.pendingConfig = null;
    if (proposed !== undefined) this.stats.configChanges++;
    this.trace.record(this.now, Ev.configCommitted, -1, -1, e.index, 0, `${change.type} ${change.id} at ${e.index} → voters ${this.voters.join(',')}`);
  }

  /** Forgets a config proposal whose log slot was taken by another committed entry. */
  private refreshPendingConfig(): void {
    const p = this.pendingConfig;
    if (p === null) return;
    const t = this.checker.committedTermAt(p.index);
    if (t !== undefined && t !== p.term) {
      this.note(`config change ${p.change.type} ${p.change.id} (${p.term}:${p.index}) was lost`);
      this.pendingConfig = null;
    }
  }

  private proposeConfig(leader: SimNode, change: ConfigChange): void {
    const res = leader.raft!.proposeConfigChange(change);
    if (res.ok) {
      this.pendingConfig = { index: res.index, term: res.term, change };
      this.configProposals.set(configKey(res.index, res.term), change);
      this.trace.record(this.now, Ev.proposeConfig, leader.idx, -1, res.index, res.term, `${change.type} ${change.id}`);
    }
    this.processReady(leader);
  }

  private addVoter(): void {
    this.refreshPendingConfig();
    if (this.pendingConfig !== null || this.voters.length > this.opts.nodes) return;
    const leader = this.pickLeader();
    if (leader === null) return;
    let j = this.joiner;
    if (j === null) {
      if (this.nodes.length >= NODE_SLOTS_MAX) return;
      j = this.createNode(`n${this.nodes.length + 1}`, { voters: [] }); // it waits for the leader
      this.start(j);
      this.joiner = j;
    }
    this.proposeConfig(leader, { type: 'add', id: j.id });
  }

  private removeVoter(leaderItself: boolean): void {
    this.refreshPendingConfig();
    if (this.pendingConfig !== null || this.voters.length <= MIN_VOTERS) return;
    const leader = this.pickLeader();
    if (leader === null) return;
    const target = leaderItself ? leader.id : this.rng.pick(this.voters);
    this.proposeConfig(leader, { type: 'remove', id: target });
  }

  // ------------------------------------------------------------------ node lifecycle

  private createNode(id: NodeId, bootstrap: ClusterConfig): SimNode {
    const n = new SimNode(this.nodes.length, id, bootstrap);
    this.nodes.push(n);
    this.names.push(id);
    this.byId.set(id, n);
    return n;
  }

  private raftOptions(n: SimNode): RaftOptions {
    const r = this.rng.fork();
    const p = this.profile;
    return {
      id: n.id,
      electionTicks: ELECTION_TICKS,
      heartbeatTicks: p.heartbeatTicks,
      random: () => r.float(),
      preVote: true,
      checkQuorum: true,
      maxInflightMsgs: p.maxInflightMsgs,
      maxInflightBytes: p.maxInflightBytes,
      maxMsgBytes: p.maxMsgBytes,
      maxUncommittedEntries: p.maxUncommittedEntries,
      compactTrailingEntries: p.compactTrailingEntries,
      faults: this.faults,
    };
  }

  /** Boot or restart from the disk: a new RaftNode, the application rebuilt from the snapshot. */
  private start(n: SimNode): void {
    n.raft = new RaftNode(this.raftOptions(n), n.disk.initialState(n.bootstrap));
    n.state = 'up';
    n.role = 'follower';
    n.term = n.disk.hardState.term;
    n.app = n.disk.snapshot === null ? new AppState() : AppState.decode(n.disk.snapshot.data);
    n.appliedSinceSnapshot = 0;
    this.checker.nodeRestarted(n.idx);
    if (this.now > 0) {
      this.trace.record(this.now, Ev.restart, n.idx, -1, n.disk.baseIndex(), n.disk.lastIndex(), `term ${n.disk.hardState.term} vote ${n.disk.hardState.vote ?? '-'}`);
    }
  }

  private crash(n: SimNode, kind: number, downTicks: number): void {
    n.raft = null;
    n.state = 'down';
    n.restartAt = this.now + downTicks;
    n.paused = false;
    n.held.length = 0;
    n.role = 'follower';
    n.crashMidReady = false;
    this.checker.notLeader(n.idx);
    this.trace.record(this.now, Ev.crash, n.idx, -1, kind, downTicks, null);
    this.stats.crashes++;
  }

  private stop(n: SimNode): void {
    n.raft = null;
    n.state = 'removed';
    n.paused = false;
    n.held.length = 0;
    n.role = 'follower';
    this.checker.notLeader(n.idx);
    this.note(`${n.id} stopped (removed from the cluster)`);
  }

  private resume(n: SimNode): void {
    n.paused = false;
    const held = n.held.length;
    for (const item of n.held) this.net.resend(item, this.now);
    n.held.length = 0;
    this.trace.record(this.now, Ev.resume, n.idx, -1, held, 0, null);
  }

  private downTicks(): number {
    return this.rng.range(this.profile.downTicksMin, this.profile.downTicksMax);
  }

  /** Never all at once: at least one other voter stays live (a majority, when asked). */
  private canCrash(n: SimNode, keepMajority: boolean): boolean {
    let liveVoters = 0;
    for (const id of this.voters) {
      const m = this.byId.get(id)!;
      if (m !== n && m.live()) liveVoters++;
    }
    if (liveVoters === 0) return false;
    return !keepMajority || liveVoters >= Math.floor(this.voters.length / 2) + 1;
  }

  // ------------------------------------------------------------------ clients

  private clients(): void {
    const rate = this.profile.proposeRate;
    let k = Math.floor(rate) + (this.rng.chance(rate - Math.floor(rate)) ? 1 : 0);
    while (k-- > 0) this.proposeOne();
    if (this.rng.chance(this.profile.readRate)) this.readOne();
  }

  private proposeOne(): void {
    const leader = this.pickLeader();
    if (leader === null) return;
    const id = this.nextProposalId++;
    const res = leader.raft!.propose(this.payload(id));
    if (res.ok) {
      this.trace.record(this.now, Ev.propose, leader.idx, -1, res.index, id, null);
      this.stats.proposals++;
    }
    this.processReady(leader);
  }

  private payload(id: number): Uint8Array {
    const p = this.profile;
    const big = this.rng.chance(p.bigPayloadRate);
    const bigMin = Math.min(p.maxMsgBytes + 1, PAYLOAD_BYTES_MAX >> 1);
    const len = big ? this.rng.range(bigMin, Math.max(bigMin, Math.min(2 * p.maxMsgBytes, PAYLOAD_BYTES_MAX))) : this.rng.range(4, 24);
    const data = new Uint8Array(len);
    data[0] = id & 255;
    data[1] = (id >>> 8) & 255;
    data[2] = (id >>> 16) & 255;
    data[3] = (id >>> 24) & 255;
    for (let i = 4; i < len; i++) data[i] = (id * 31 + i) & 255;
    return data;
  }

  private readOne(): void {
    const leader = this.pickLeader();
    if (leader === null) return;
    const ctx = this.nextReadCtx++;
    this.checker.readRequested(leader.idx, ctx);
    if (!leader.raft!.readIndex(ctx)) this.checker.readDropped(ctx);
    else this.trace.record(this.now, Ev.readRequest, leader.idx, -1, ctx, this.checker.maxCommitted(), null);
    this.processReady(leader);
  }

  /** A live node that believes it is leader (there may be several, in different terms). */
  private pickLeader(): SimNode | null {
    let found: SimNode | null = null;
    let count = 0;
    for (const n of this.nodes) {
      if (n.role !== 'leader' || !n.live()) continue;
      count++;
      if (count === 1 || this.rng.int(count) === 0) found = n; // reservoir sampling
    }
    return found;
  }

  private highestLeader(): SimNode | null {
    let best: SimNode | null = null;
    for (const n of this.nodes) if (n.role === 'leader' && n.live() && (best === null || n.term > best.term)) best = n;
    return best;
  }

  // ------------------------------------------------------------------ nemesis

  private nemesis(): void {
    this.nextNemesisAt = this.now + 1 + this.rng.int(2 * this.profile.nemesisGapTicks);
    const action = NEMESIS_ACTIONS[this.rng.weighted(this.profile.weights)]!;
    this.act(action);
  }

  /** Nodes the partitions are drawn over: every node not removed (down ones too: they come back behind it). */
  private members(): number[] {
    const out: number[] = [];
    for (const n of this.nodes) if (n.state !== 'removed' && n.removeAt === 0) out.push(n.idx);
    return out;
  }

  private groupText(g: readonly number[]): string {
    return `{${g.map((i) => this.names[i]).join(',')}}`;
  }

  private act(action: NemesisAction): void {
    const rng = this.rng;
    switch (action) {
      case 'halves': {
        const m = rng.shuffle(this.members());
        const k = rng.range(1, m.length - 1);
        this.partition(m.slice(0, k), m.slice(k), 'halves');
        return;
      }
      case 'isolateLeader':
      case 'isolateNode': {
        const leader = action === 'isolateLeader' ? this.highestLeader() : null;
        const m = this.members();
        const victim = leader !== null ? leader.idx : rng.pick(m);
        this.partition([victim], m.filter((i) => i !== victim), action === 'isolateLeader' && leader !== null ? 'isolate leader' : 'isolate');
        return;
      }
      case 'ring':
        this.ring();
        return;
      case 'bridge': {
        const m = rng.shuffle(this.members());
        const bridge = m.pop()!;
        const k = rng.range(1, Math.max(1, m.length - 1));
        this.net.heal();
        this.net.cut(m.slice(0, k), m.slice(k));
        this.note(`partition bridge: ${this.groupText(m.slice(0, k))} | ${this.groupText(m.slice(k))}, ${this.names[bridge]} sees both`);
        return;
      }
      case 'oneWay':
        this.oneWay();
        return;
      case 'heal':
        this.net.heal();
        this.note('heal partitions');
        return;
      case 'net': {
        const c = rollConditions(rng, this.profile);
        this.net.cond = c;
        this.note(`network: loss ${c.lossRate}, dup ${c.dupRate}, latency 1..${c.latencyMaxTicks} (tail ${c.tailRate} up to ${c.tailMaxTicks})${c.reorder ? ', reorder' : ''}`);
        return;
      }
      case 'crash':
      case 'crashLeader': {
        const n = action === 'crashLeader' ? this.highestLeader() : this.randomLive();
        if (n !== null && this.canCrash(n, rng.chance(this.profile.keepMajorityChance))) this.crash(n, CrashKind.plain, this.downTicks());
        return;
      }
      case 'crashAfterVote':
        this.crashAfterVoteUntil = this.now + rng.range(50, 400);
        this.note(`crash-after-vote armed until t=${this.crashAfterVoteUntil}`);
        return;
      case 'crashAfterCommit':
        this.crashAfterCommitUntil = this.now + rng.range(50, 400);
        this.note(`crash-after-commit armed until t=${this.crashAfterCommitUntil}`);
        return;
      case 'crashMidReady': {
        const n = this.randomLive();
        if (n !== null) n.crashMidReady = true;
        return;
      }
      case 'pause': {
        const n = this.randomLive();
        if (n === null || !this.canCrash(n, rng.chance(this.profile.keepMajorityChance))) return;
        n.paused = true;
        n.resumeAt = this.now + rng.range(5, 4 * ELECTION_TICKS);
        this.trace.record(this.now, Ev.pause, n.idx, -1, 0, 0, null);
        return;
      }
      case 'skew': {
        const n = this.randomLive();
        if (n === null) return;
        n.clockRate = rng.chance(0.5) ? 2 : 0.5;
        this.note(`clock skew: ${n.id} ticks at ${n.clockRate}× speed`);
        return;
      }
      case 'add':
        this.addVoter();
        return;
      case 'remove':
      case 'removeLeader':
        this.removeVoter(action === 'removeLeader');
        return;
      case 'transfer': {
        const leader = this.pickLeader();
        if (leader === null) return;
        const to = this.byId.get(rng.pick(this.voters))!;
        const ok = leader.raft!.transferLeader(to.id);
        this.trace.record(this.now, Ev.transfer, leader.idx, to.idx, ok ? 1 : 0, 0, null);
        if (ok) this.stats.transfers++;
        this.processReady(leader);
        return;
      }
      case 'campaign': {
        const n = this.byId.get(rng.pick(this.voters))!;
        if (!n.live()) return;
        this.trace.record(this.now, Ev.campaign, n.idx, -1, 0, 0, null);
        n.raft!.campaign();
        this.processReady(n);
        return;
      }
    }
  }

  private randomLive(): SimNode | null {
    const live = this.nodes.filter((n) => n.live());
    return live.length === 0 ? null : this.rng.pick(live);
  }

  private partition(a: number[], b: number[], how: string): void {
    this.net.heal();
    this.net.cut(a, b);
    this.note(`partition ${how}: ${this.groupText(a)} | ${this.groupText(b)}`);
  }

  /** Majority ring: each node sees only the nodes within ring distance d, a bare majority with itself. */
  private ring(): void {
    const m = this.rng.shuffle(this.members());
    const k = m.length;
    const d = Math.ceil(Math.floor(k / 2) / 2);
    this.net.heal();
    for (let i = 0; i < k; i++) {
      for (let j = i + 1; j < k; j++) {
        const dist = Math.min(j - i, k - (j - i));
        if (dist > d) this.net.cut([m[i]!], [m[j]!]);
      }
    }
    this.note(`partition majority ring ${m.map((i) => this.names[i]).join('-')} (each sees ${d} on each side)`);
  }

  /** Asymmetric links: added on top of the current partition. */
  private oneWay(): void {
    const rng = this.rng;
    const m = this.members();
    const leader = this.highestLeader();
    const variant = rng.int(4);
    if ((variant === 1 || variant === 2) && leader !== null) {
      for (const i of m) {
        if (i === leader.idx) continue;
        if (variant === 1) this.net.block(i, leader.idx);
        else this.net.block(leader.idx, i);
      }
      this.note(`one-way: leader ${leader.id} ${variant === 1 ? 'hears nobody (sends fine)' : 'cannot send (hears fine)'}`);
      return;
    }
    const a = rng.pick(m);
    if (variant === 3) {
      for (const i of m) if (i !== a) this.net.block(a, i);
      this.note(`one-way: ${this.names[a]} cannot send`);
      return;
    }
    const others = m.filter((i) => i !== a);
    if (others.length === 0) return;
    const b = rng.pick(others);
    this.net.block(a, b);
    this.note(`one-way: ${this.names[a]}→${this.names[b]} blocked, ${this.names[b]}→${this.names[a]} open`);
  }

  private note(text: string): void {
    this.trace.record(this.now, Ev.nemesis, -1, -1, 0, 0, text);
  }

  // ------------------------------------------------------------------ heal and liveness

  /**
   * Heals everything (partitions, loss, pauses; restarts every crashed node), then requires that a
   * new proposal commits and every live voter applies it within LIVENESS_ELECTIONS_MAX election timeouts.
   */
  private healAndAwaitLiveness(): void {
    this.phase = 'heal';
    this.net.heal();
    this.net.cond = { ...CALM };
    this.crashAfterVoteUntil = 0;
    this.crashAfterCommitUntil = 0;
    for (const n of this.nodes) {
      n.crashMidReady = false;
      n.clockRate = 1;
      if (n.paused) this.resume(n);
      if (n.state === 'down' && n.removeAt === 0) this.start(n);
    }
    const healedAt = this.now;
    const backlog = this.backlogEntries();
    const bound = LIVENESS_ELECTIONS_MAX * ELECTION_TICKS + Math.ceil((backlog * LIVENESS_TICKS_PER_ROUND_TRIP) / this.profile.maxInflightMsgs);
    const deadline = this.now + (this.opts.livenessTicks ?? bound);
    this.note(`HEAL: no partitions, no loss, every crashed node restarted; clients stop; liveness due by t=${deadline} (backlog ${backlog} entries)`);
    this.markerIndex = 0;
    this.markerLeader = null;
    this.markerTerm = 0;
    for (;;) {
      this.step();
      if (this.livenessReached()) break;
      if (this.now >= deadline) this.fail(Invariant.liveness, this.livenessReport(healedAt, deadline, backlog));
    }
    this.stats.healCycles++;
    this.stats.recoveryTicksMax = Math.max(this.stats.recoveryTicksMax, this.now - healedAt);
    this.note(`liveness reached ${this.now - healedAt} ticks after the heal (marker at index ${this.markerIndex})`);
  }

  /**
   * Entries some node holds beyond what the slowest voter applied: what replication must still
   * ship. A node whose addition is in flight counts too: it may become a voter during the heal.
   */
  private backlogEntries(): number {
    let last = 0;
    let applied = Number.MAX_SAFE_INTEGER;
    for (const n of this.nodes) if (n.state === 'up') last = Math.max(last, n.disk.lastIndex());
    for (const id of this.voters) applied = Math.min(applied, this.byId.get(id)!.app.index);
    if (this.joiner !== null) applied = Math.min(applied, this.joiner.app.index);
    return Math.max(0, last - applied);
  }

  private livenessReached(): boolean {
    if (this.markerIndex === 0) {
      const leader = this.highestLeader();
      if (leader !== null && (leader !== this.markerLeader || leader.term !== this.markerTerm)) {
        const id = this.nextProposalId++;
        this.markers.add(id);
        const res = leader.raft!.propose(this.payload(id));
        if (res.ok) {
          this.markerLeader = leader;
          this.markerTerm = leader.term;
          this.trace.record(this.now, Ev.propose, leader.idx, -1, res.index, id, null);
        }
        this.processReady(leader);
      }
      return false;
    }
    for (const id of this.voters) {
      const n = this.byId.get(id)!;
      if (n.state !== 'up' || n.app.index < this.markerIndex) return false;
    }
    return true;
  }

  private livenessReport(healedAt: number, deadline: number, backlog: number): string {
    const lines = [
      `no progress within ${deadline - healedAt} ticks of the heal at t=${healedAt} ` +
        `(bound: ${LIVENESS_ELECTIONS_MAX} election timeouts + ${backlog} backlog entries at ${LIVENESS_TICKS_PER_ROUND_TRIP} ticks per round trip / ${this.profile.maxInflightMsgs} inflight): ` +
        (this.markerIndex === 0 ? 'no marker proposal committed' : `marker committed at ${this.markerIndex} but not applied everywhere`),
      `committed voters: ${this.voters.join(',')}; pending config: ${this.pendingConfig === null ? 'none' : `${this.pendingConfig.change.type} ${this.pendingConfig.change.id}`}`,
    ];
    for (const n of this.nodes) {
      if (n.state !== 'up') {
        lines.push(`${n.id}: ${n.state}`);
        continue;
      }
      const s = n.raft!.status();
      lines.push(
        `${n.id}: ${s.role} term ${s.term} vote ${s.vote ?? '-'} leader ${s.leader ?? '-'} commit ${s.commit} applied ${s.applied} ` +
          `log ${s.firstIndex}..${s.lastIndex} (last term ${s.lastTerm}) voters ${s.config.voters.join(',')}`,
      );
    }
    return lines.join('\n  ');
  }
}

/** (index, term) as one exact number: terms stay far below 2^22 in a simulated run. */
function configKey(index: number, term: number): number {
  return index * 4194304 + term;
}

function payloadId(data: Uint8Array): number {
  return (data[0]! | (data[1]! << 8) | (data[2]! << 16) | (data[3]! << 24)) >>> 0;
}

function describeProfile(p: Profile): string {
  const w = NEMESIS_ACTIONS.map((a, i) => (p.weights[i]! > 0 ? `${a}:${p.weights[i]}` : null))
    .filter((x) => x !== null)
    .join(' ');
  return (
    `nemesis every ~${p.nemesisGapTicks} ticks [${w}], propose ${p.proposeRate}/tick, read ${p.readRate}/tick, ` +
    `snapshot every ${p.snapshotEvery} (trailing ${p.compactTrailingEntries}), release keeping ${p.releaseKeepBytes} B, down ${p.downTicksMin}..${p.downTicksMax} ticks, ` +
    `${p.leaderMessagesFirst ? 'leader sends before its fsync, ' : ''}heartbeat ${p.heartbeatTicks}, inflight ${p.maxInflightMsgs} msgs/${p.maxInflightBytes} B, msg ${p.maxMsgBytes} B, uncommitted ${p.maxUncommittedEntries}`
  );
}
