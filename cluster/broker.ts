// The job broker on one node: turns client envelopes into Raft entries (one entry per event-loop
// turn), applies committed entries to the job state machine, and answers each envelope with its
// outcome. Linearizable reads go through ReadIndex. Time is the leader's, stamped into entries.

import { Packr } from 'msgpackr';
import { decodeConfigChange } from '../raft/config.js';
import type { Entry, NodeId, ReadState, Snapshot, SnapshotMeta, SoftState } from '../raft/types.js';
import { RaftqError } from '../src/errors.js';
import { JobStateMachine } from '../src/jobs/state-machine.js';
import type { EntryBatch, Envelope, JobState, Outcome, WireJob } from '../src/jobs/types.js';
import { MsgpackWriter } from '../src/jobs/msgpack-writer.js';
import { Members, type MemberAddresses } from './members.js';
import { decodeNodeSnapshot, encodeNodeSnapshot, encodeNodeSnapshotSteps } from './node-snapshot.js';
import type { RaftDriver } from './raft-driver.js';

const codec = new Packr({ useRecords: false });

/** Bytes of envelopes in one entry; a larger turn is split into several entries. */
export const ENTRY_BYTES_MAX = 8 * 1024 * 1024;
/** Long-poll lease waiters and result waiters a node holds at once. */
export const WAITERS_MAX = 10_000;
/** The leader proposes a tick at least this often while jobs exist (retention, session expiry). */
export const TICK_INTERVAL_MS_MAX = 1000;

interface PendingEnvelope {
  envelope: Envelope;
  sizeBytes: number;
  resolve(outcome: Outcome): void;
  reject(error: RaftqError): void;
}

interface Inflight {
  term: number;
  items: PendingEnvelope[];
}

interface ReadWaiter {
  resolve(): void;
  reject(error: RaftqError): void;
}

/** A long-poll lease waiting for jobs: proposed when jobs arrive, or answered empty at its deadline. */
interface LeaseWaiter {
  envelope: Envelope & { cmd: { op: 'lease'; queues: string[]; max: number } };
  sizeBytes: number;
  /** Stops waiting and hands over the lease's place in an entry, wired to the caller's promise. */
  take(): PendingEnvelope;
  /** Answers without proposing: nothing came, or the client left. */
  giveUp(): void;
}

interface LeaderWaiter {
  accept(leader: NodeId | null): boolean;
  done(): void;
}

interface ResultWaiter {
  jobId: string;
  resolve(job: WireJob | null): void;
  timer: NodeJS.Timeout;
}

export interface BrokerHooks {
  onApplied?(batch: EntryBatch, outcomes: Outcome[]): void;
  onMembersChanged?(members: Members): void;
  onRoleChanged?(soft: SoftState): void;
}

/** Reused for every entry this node proposes; grown by a large entry, given back once one fits again. */
const entryWriter = new MsgpackWriter(64 * 1024);
/** What the writer keeps between entries: a batch of 500 jobs of 100 bytes is ~100 KB. */
const ENTRY_WRITER_KEPT_BYTES_MAX = 1024 * 1024;

export function encodeBatch(batch: EntryBatch): Uint8Array {
  // The Raft log keeps entries for a while: each gets a copy of just its bytes, not a view of a
  // shared buffer several times its size (474 B/job measured when it held msgpackr's).
  entryWriter.reset(ENTRY_WRITER_KEPT_BYTES_MAX);
  if (entryWriter.plain(batch)) return entryWriter.copy();
  // Commands are plain data once validated; anything else still encodes, more slowly.
  return Uint8Array.prototype.slice.call(codec.pack(batch));
}

export function decodeBatch(data: Uint8Array): EntryBatch {
  return codec.unpack(data) as EntryBatch;
}

export class Broker {
  sm = new JobStateMachine();
  members: Members;
  driver: RaftDriver | null = null;
  soft: SoftState = { role: 'follower', leader: null, term: 0 };
  private turn: PendingEnvelope[] = [];
  private turnBytes = 0;
  private flushScheduled = false;
  private readonly inflight = new Map<number, Inflight>();
  private lastStampMs = 0;
  private appliedIndex = 0;
  private readCtx = 0;
  private readTurn: ReadWaiter[] = [];
  private readonly readsByCtx = new Map<number, ReadWaiter[]>();
  private readonly appliedWaiters: { index: number; waiters: ReadWaiter[] }[] = [];
  /** Insertion-ordered: the longest-waiting lease is served first. */
  private readonly leaseWaiters = new Set<LeaseWaiter>();
  /**
   * Per queue, the jobs that leases entered into a turn or an entry, not yet applied, may take (each
   * lease counts its max on every queue it names). Jobs the state machine holds beyond that are
   * unclaimed; a lease that finds none waits, so the next enqueue takes it along in its own entry.
   */
  private readonly leaseClaims = new Map<string, number>();
  private readonly resultWaiters = new Set<ResultWaiter>();
  private tickInflight = false;
  private tickTimer: NodeJS.Timeout | null = null;
  private leaderWaiters: LeaderWaiter[] = [];

  constructor(
    readonly nodeId: NodeId,
    members: Members,
    private readonly now: () => number,
    private readonly hooks: BrokerHooks = {},
  ) {
    this.members = members;
  }

  get isLeader(): boolean {
    return this.soft.role === 'leader';
  }

  get applied(): number {
    return this.appliedIndex;
  }

  /** Long-poll leases held here, waiting for jobs. */
  get waitingLeases(): number {
    return this.leaseWaiters.size;
  }

  // ------------------------------------------------------------ writes

  /** Proposes one envelope; resolves with its outcome once applied here. Leader only. */
  submit(envelope: Envelope, sizeBytes: number): Promise<Outcome> {
    return new Promise<Outcome>((resolve, reject) => this.enterTurn({ envelope, sizeBytes, resolve, reject }));
  }

  private enterTurn(p: PendingEnvelope): void {
    if (!this.isLeader) {
      p.reject(this.noLeader());
      return;
    }
    this.turn.push(this.claimed(p));
    this.turnBytes += p.sizeBytes;
    if (this.turnBytes >= ENTRY_BYTES_MAX) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      // Everything submitted in this event-loop turn becomes one entry, one fsync.
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    const items = this.turn;
    const itemsBytes = this.turnBytes;
    this.turn = [];
    this.turnBytes = 0;
    if (items.length === 0) return;
    const driver = this.driver;
    if (!driver || !this.isLeader) {
      for (const p of items) p.reject(this.noLeader());
      return;
    }
    // The leader's clock, never below the last applied stamp: the state machine's time is monotonic
    // even across leaders whose clocks disagree.
    const nowMs = Math.max(this.now(), this.lastStampMs);
    this.lastStampMs = nowMs;
    this.dispatchToWaiters(items, itemsBytes, nowMs);
    const batch: EntryBatch = { nowMs, envelopes: items.map((p) => p.envelope) };
    const result = driver.propose(encodeBatch(batch));
    if (!result.ok) {
      const error =
        result.reason === 'too_many_uncommitted'
          ? new RaftqError('OVERLOADED', 'too many uncommitted entries; retry shortly')
          : this.noLeader(result.leader);
      for (const p of items) p.reject(error);
      return;
    }
    this.inflight.set(result.index, { term: result.term, items });
  }

  // ------------------------------------------------------------ reads

  /** Resolves once this node may answer a linearizable read from its state machine (ReadIndex). */
  readBarrier(): Promise<void> {
    if (!this.isLeader) return Promise.reject(this.noLeader());
    return new Promise<void>((resolve, reject) => {
      this.readTurn.push({ resolve, reject });
      if (this.readTurn.length === 1) setImmediate(() => this.flushReads());
    });
  }

  private flushReads(): void {
    const waiters = this.readTurn;
    this.readTurn = [];
    if (waiters.length === 0) return;
    const ctx = ++this.readCtx;
    if (!this.driver || !this.driver.readIndex(ctx)) {
      for (const w of waiters) w.reject(this.noLeader());
      return;
    }
    this.readsByCtx.set(ctx, waiters);
  }

  onReadStates(states: ReadState[]): void {
    for (const rs of states) {
      const waiters = this.readsByCtx.get(rs.ctx);
      if (!waiters) continue;
      this.readsByCtx.delete(rs.ctx);
      if (this.appliedIndex >= rs.index) for (const w of waiters) w.resolve();
      else this.appliedWaiters.push({ index: rs.index, waiters });
    }
  }

  /**
   * A lease's claim on its queues' jobs, from entering a turn until its outcome (or failure) is
   * known: every pending envelope is settled exactly once, on every path, so claims never leak.
   */
  private claimed(p: PendingEnvelope): PendingEnvelope {
    const cmd = p.envelope.cmd;
    if (cmd.op !== 'lease') return p;
    this.addClaims(cmd.queues, cmd.max);
    let settled = false;
    const release = (): void => {
      if (settled) return;
      settled = true;
      this.addClaims(cmd.queues, -cmd.max);
    };
    return {
      ...p,
      resolve: (outcome) => {
        release();
        p.resolve(outcome);
      },
      reject: (error) => {
        release();
        p.reject(error);
      },
    };
  }

  private addClaims(queues: string[], jobs: number): void {
    for (const queue of queues) {
      const claims = (this.leaseClaims.get(queue) ?? 0) + jobs;
      if (claims > 0) this.leaseClaims.set(queue, claims);
      else this.leaseClaims.delete(queue);
    }
  }

  /** Some queue holds jobs that no lease on its way through Raft may take. */
  private hasUnclaimed(queues: string[]): boolean {
    for (const queue of queues) {
      if (this.sm.availableCount(queue) > (this.leaseClaims.get(queue) ?? 0)) return true;
    }
    return false;
  }

  /**
   * A lease that may long-poll: proposed at once when an unclaimed job is available, else held until jobs
   * arrive (then proposed in the same entry as the enqueue that brought them: one commit from
   * submit to lease), until `waitMs` passes or the client leaves (then answered null: no entry is
   * written, so no lease is taken for a client that is gone).
   */
  leaseWhenAvailable(envelope: LeaseWaiter['envelope'], sizeBytes: number, waitMs: number, gone?: AbortSignal): Promise<Outcome | null> {
    const queues = envelope.cmd.queues;
    // A short poll cannot wait for the claims to settle: it tries for whatever is queued.
    if (this.hasUnclaimed(queues) || (waitMs <= 0 && this.sm.hasAvailable(queues))) return this.submit(envelope, sizeBytes);
    if (waitMs <= 0 || gone?.aborted || this.leaseWaiters.size >= WAITERS_MAX) return Promise.resolve(null);
    return new Promise<Outcome | null>((resolve, reject) => {
      const leave = (): void => {
        clearTimeout(timer);
        gone?.removeEventListener('abort', onGone);
        this.leaseWaiters.delete(waiter);
      };
      const onGone = (): void => waiter.giveUp();
      const waiter: LeaseWaiter = {
        envelope,
        sizeBytes,
        take: () => {
          leave();
          return { envelope, sizeBytes, resolve, reject };
        },
        giveUp: () => {
          leave();
          resolve(null);
        },
      };
      const timer = setTimeout(onGone, waitMs);
      gone?.addEventListener('abort', onGone, { once: true });
      this.leaseWaiters.add(waiter);
    });
  }

  /**
   * Waiting leases that this turn's enqueues will satisfy join the turn, after the enqueues: the
   * state machine applies them in order, so the jobs are handed out by the same entry that creates
   * them. Counted per queue so that no more leases ride along than there are new jobs to take.
   */
  private dispatchToWaiters(items: PendingEnvelope[], itemsBytes: number, nowMs: number): void {
    if (this.leaseWaiters.size === 0) return;
    let arriving: Map<string, number> | null = null;
    for (const p of items) {
      const cmd = p.envelope.cmd;
      if (cmd.op !== 'enqueue') continue;
      for (const spec of cmd.jobs) {
        const runAtMs = spec.runAtMs ?? nowMs + (spec.delayMs ?? 0);
        if (runAtMs > nowMs || this.sm.isPaused(spec.queue)) continue;
        arriving ??= new Map();
        arriving.set(spec.queue, (arriving.get(spec.queue) ?? 0) + 1);
      }
    }
    if (arriving === null) return;
    let bytes = itemsBytes;
    for (const waiter of this.leaseWaiters) {
      // The entry keeps its size bound; a waiter left out is proposed once the enqueue applies.
      if (bytes + waiter.sizeBytes > ENTRY_BYTES_MAX) break;
      let wanted = waiter.envelope.cmd.max;
      let served = false;
      for (const queue of waiter.envelope.cmd.queues) {
        const count = arriving.get(queue) ?? 0;
        if (count === 0 || wanted === 0) continue;
        const taken = Math.min(count, wanted);
        arriving.set(queue, count - taken);
        wanted -= taken;
        served = true;
      }
      if (!served) continue;
      bytes += waiter.sizeBytes;
      items.push(this.claimed(waiter.take()));
    }
  }

  /** Resolves with the job once it is finished (completed, dead, cancelled), or as it is at the deadline. */
  waitForFinished(jobId: string, timeoutMs: number): Promise<WireJob | null> {
    const job = this.sm.getJob(jobId);
    if (!job || isFinished(job) || timeoutMs <= 0 || this.resultWaiters.size >= WAITERS_MAX) return Promise.resolve(job);
    return new Promise<WireJob | null>((resolve) => {
      const waiter: ResultWaiter = {
        jobId,
        resolve,
        timer: setTimeout(() => {
          this.resultWaiters.delete(waiter);
          resolve(this.sm.getJob(jobId));
        }, timeoutMs),
      };
      this.resultWaiters.add(waiter);
    });
  }

  /**
   * Resolves with the leader once `accept` takes it (by default: once any leader is known), or with
   * whatever leader there is after timeoutMs.
   */
  waitForLeader(timeoutMs: number, accept: (leader: NodeId | null) => boolean = (leader) => leader !== null): Promise<NodeId | null> {
    if (accept(this.soft.leader)) return Promise.resolve(this.soft.leader);
    return new Promise<NodeId | null>((resolve) => {
      const waiter: LeaderWaiter = {
        accept,
        done: () => {
          clearTimeout(timer);
          resolve(this.soft.leader);
        },
      };
      const timer = setTimeout(() => {
        this.leaderWaiters = this.leaderWaiters.filter((w) => w !== waiter);
        resolve(this.soft.leader);
      }, timeoutMs);
      this.leaderWaiters.push(waiter);
    });
  }

  /**
   * Resolves true once this node applied `index`, false after timeoutMs; rejects with NO_LEADER if
   * this node stops leading meanwhile (the same list ReadIndex waits on).
   */
  waitForApplied(index: number, timeoutMs: number): Promise<boolean> {
    if (this.appliedIndex >= index) return Promise.resolve(true);
    return new Promise<boolean>((resolve, reject) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      const waiter: ReadWaiter = {
        resolve: () => {
          clearTimeout(timer);
          resolve(true);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      };
      // Kept sorted by index: afterApply releases from the front.
      let at = this.appliedWaiters.length;
      while (at > 0 && this.appliedWaiters[at - 1]!.index > index) at--;
      this.appliedWaiters.splice(at, 0, { index, waiters: [waiter] });
    });
  }

  // ------------------------------------------------------------ driver callbacks

  applyEntries(entries: Entry[]): void {
    for (const e of entries) {
      const pending = this.inflight.get(e.index);
      if (pending) this.inflight.delete(e.index);
      if (e.kind === 'config') {
        this.members.applyChange(decodeConfigChange(e.data));
        this.hooks.onMembersChanged?.(this.members);
      } else if (e.data.byteLength > 0) {
        this.applyBatch(e, pending);
        this.appliedIndex = e.index;
        continue;
      }
      // A no-op or config entry sits where our proposal was: another leader overwrote it.
      if (pending) for (const p of pending.items) p.reject(this.noLeader());
      this.appliedIndex = e.index;
    }
    this.afterApply();
  }

  private applyBatch(e: Entry, pending: Inflight | undefined): void {
    const batch = decodeBatch(e.data);
    this.lastStampMs = Math.max(this.lastStampMs, batch.nowMs);
    const outcomes = this.sm.applyBatch(e.index, batch);
    this.hooks.onApplied?.(batch, outcomes);
    if (!pending) return;
    if (pending.term !== e.term) {
      for (const p of pending.items) p.reject(this.noLeader());
      return;
    }
    for (let i = 0; i < pending.items.length; i++) pending.items[i]!.resolve(outcomes[i]!);
  }

  private afterApply(): void {
    while (this.appliedWaiters.length > 0 && this.appliedWaiters[0]!.index <= this.appliedIndex) {
      for (const w of this.appliedWaiters.shift()!.waiters) w.resolve();
    }
    for (const w of this.leaseWaiters) {
      if (this.hasUnclaimed(w.envelope.cmd.queues)) this.enterTurn(w.take());
    }
    for (const w of this.resultWaiters) {
      const state = this.sm.jobState(w.jobId);
      if (state === null || isFinalState(state)) {
        clearTimeout(w.timer);
        this.resultWaiters.delete(w);
        w.resolve(this.sm.getJob(w.jobId));
      }
    }
    if (this.isLeader) this.scheduleTick();
  }

  installSnapshot(snapshot: Snapshot): void {
    this.installDecoded(snapshot.meta, decodeNodeSnapshot(snapshot.data));
  }

  /** installSnapshot for an image already decoded (readNodeSnapshot: a restart reads it piece by piece). */
  installDecoded(meta: SnapshotMeta, image: { members: [NodeId, MemberAddresses][]; sm: JobStateMachine }): void {
    this.sm = image.sm;
    this.members.merge(image.members);
    this.appliedIndex = meta.index;
    this.hooks.onMembersChanged?.(this.members);
    // Proposals below the snapshot were decided elsewhere; their clients retry with the same seq.
    for (const [index, pending] of this.inflight) {
      if (index <= meta.index) {
        this.inflight.delete(index);
        for (const p of pending.items) p.reject(this.noLeader());
      }
    }
    this.afterApply();
  }

  snapshotData(): Uint8Array {
    return encodeNodeSnapshot(this.sm, this.members.entries());
  }

  /** snapshotData in steps, in pieces of `pieceBytes`; the driver applies nothing until it is done (RaftDriver.encodeInSteps). */
  snapshotDataSteps(pieceBytes: number): Generator<Uint8Array | undefined, Uint8Array, void> {
    return encodeNodeSnapshotSteps(this.sm, this.members.entries(), pieceBytes);
  }

  onSoftState(soft: SoftState): void {
    const wasLeader = this.isLeader;
    this.soft = soft;
    this.recheckLeaderWaiters();
    if (wasLeader && !this.isLeader) this.failLeaderWork();
    if (this.isLeader) this.scheduleTick();
    this.hooks.onRoleChanged?.(soft);
  }

  /** Wakes the leader waiters whose condition holds now (the leader changed, or a link to it came up). */
  recheckLeaderWaiters(): void {
    if (this.leaderWaiters.length === 0) return;
    const ready = this.leaderWaiters.filter((w) => w.accept(this.soft.leader));
    this.leaderWaiters = this.leaderWaiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.done();
  }

  /** Lost leadership: every client waiting on this node retries (same seq, so nothing applies twice). */
  private failLeaderWork(): void {
    const error = this.noLeader();
    for (const p of this.turn) p.reject(error);
    this.turn = [];
    this.turnBytes = 0;
    for (const pending of this.inflight.values()) for (const p of pending.items) p.reject(error);
    this.inflight.clear();
    for (const w of this.readTurn) w.reject(error);
    this.readTurn = [];
    for (const waiters of this.readsByCtx.values()) for (const w of waiters) w.reject(error);
    this.readsByCtx.clear();
    for (const entry of this.appliedWaiters.splice(0)) for (const w of entry.waiters) w.reject(error);
    for (const w of [...this.leaseWaiters]) w.giveUp();
    this.tickInflight = false;
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = null;
  }

  // ------------------------------------------------------------ time

  /** The leader proposes `tick` when a lease expires or a delayed job is due: one timer, not one per job. */
  private scheduleTick(): void {
    if (!this.isLeader || this.tickInflight) return;
    const nowMs = this.now();
    const dueMs = this.sm.nextDueMs() ?? (this.sm.jobCount > 0 ? nowMs + TICK_INTERVAL_MS_MAX : null);
    if (dueMs === null) return;
    const delayMs = Math.max(0, Math.min(dueMs - nowMs, TICK_INTERVAL_MS_MAX));
    if (delayMs === 0) {
      this.proposeTick();
      return;
    }
    if (this.tickTimer) clearTimeout(this.tickTimer);
    this.tickTimer = setTimeout(() => {
      this.tickTimer = null;
      this.proposeTick();
    }, delayMs);
  }

  private proposeTick(): void {
    if (!this.isLeader || this.tickInflight) return;
    this.tickInflight = true;
    this.submit({ clientId: '', seq: 0, cmd: { op: 'tick' } }, 16).then(
      () => {
        this.tickInflight = false;
        this.scheduleTick();
      },
      () => {
        this.tickInflight = false;
      },
    );
  }

  noLeader(leader: NodeId | null = this.soft.leader): RaftqError {
    const hint = leader !== null && leader !== this.nodeId ? leader : null;
    const clientAddr = hint !== null ? (this.members.get(hint)?.client ?? null) : null;
    return new RaftqError('NO_LEADER', hint ? `not the leader; the leader is ${hint}` : 'no leader elected yet', { leader: clientAddr });
  }

  close(): void {
    this.failLeaderWork();
    for (const w of this.resultWaiters) {
      clearTimeout(w.timer);
      w.resolve(this.sm.getJob(w.jobId));
    }
    this.resultWaiters.clear();
  }
}

function isFinished(job: WireJob): boolean {
  return isFinalState(job.state);
}

function isFinalState(state: JobState): boolean {
  return state === 'completed' || state === 'dead' || state === 'cancelled';
}
