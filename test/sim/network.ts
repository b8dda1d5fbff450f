// The simulator's fake network: every message gets a delivery tick; it may be lost, duplicated,
// delayed (with a long tail, so stale messages arrive after elections) and reordered; a partition
// is a set of blocked directed links. Receivers get deep copies, so no node can touch another's
// objects (the leader's log entries travel inside AppendEntries).

import type { Entry, Message, Snapshot } from '../../raft/types.js';
import { DropReason } from './trace.js';
import type { Rng } from './rng.js';

/** Node slots the network (and the cluster) can address: founders plus every node added later. */
export const NODE_SLOTS_MAX = 32;
/** Delivery ticks are kept in a ring of this many buckets, so no latency may reach it. */
const LATENCY_TICKS_MAX = 255;

export interface NetConditions {
  lossRate: number;
  dupRate: number;
  /** Usual latency, uniform in [latencyMinTicks, latencyMaxTicks]. */
  latencyMinTicks: number;
  latencyMaxTicks: number;
  /** A fraction of messages takes the slow path: uniform in [latencyMaxTicks, tailMaxTicks]. */
  tailRate: number;
  tailMaxTicks: number;
  /** Shuffle the messages due in one tick (latency alone already reorders across ticks). */
  reorder: boolean;
}

export const CALM: NetConditions = Object.freeze({
  lossRate: 0,
  dupRate: 0,
  latencyMinTicks: 1,
  latencyMaxTicks: 2,
  tailRate: 0,
  tailMaxTicks: 2,
  reorder: false,
});

export interface InFlight {
  msg: Message;
  from: number;
  to: number;
}

export const Sent = { queued: 0, duplicated: -1 } as const;

export class Network {
  private readonly blocked = new Uint8Array(NODE_SLOTS_MAX * NODE_SLOTS_MAX);
  private blockedLinks = 0;
  private readonly buckets: InFlight[][] = [];
  private readonly spare: InFlight[][] = [];
  private inFlight = 0;
  cond: NetConditions = { ...CALM };
  /** Messages handed to the network, and of those: lost, blocked, duplicated. */
  sentCount = 0;
  lostCount = 0;
  blockedCount = 0;
  dupCount = 0;

  constructor(private readonly rng: Rng) {
    for (let i = 0; i <= LATENCY_TICKS_MAX; i++) this.buckets.push([]);
  }

  /** Returns Sent.queued, Sent.duplicated, or the DropReason. */
  send(msg: Message, from: number, to: number, now: number): number {
    this.sentCount++;
    if (this.blocked[from * NODE_SLOTS_MAX + to] === 1) {
      this.blockedCount++;
      return DropReason.partition;
    }
    const c = this.cond;
    if (c.lossRate > 0 && this.rng.float() < c.lossRate) {
      this.lostCount++;
      return DropReason.loss;
    }
    this.enqueue({ msg, from, to }, now + this.latency());
    if (c.dupRate > 0 && this.rng.float() < c.dupRate) {
      this.dupCount++;
      this.enqueue({ msg, from, to }, now + this.latency());
      return Sent.duplicated;
    }
    return Sent.queued;
  }

  /** Re-queues a message held for a paused node. */
  resend(item: InFlight, now: number): void {
    this.enqueue(item, now + this.latency());
  }

  /** Takes the messages due at `now`; hand the array back with recycle() after use. */
  takeDue(now: number): InFlight[] {
    const slot = now % this.buckets.length;
    const due = this.buckets[slot]!;
    if (due.length === 0) return due;
    this.buckets[slot] = this.spare.pop() ?? [];
    this.inFlight -= due.length;
    if (this.cond.reorder && due.length > 1) this.rng.shuffle(due);
    return due;
  }

  recycle(due: InFlight[]): void {
    if (due.length === 0) return;
    due.length = 0;
    this.spare.push(due);
  }

  pending(): number {
    return this.inFlight;
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked[from * NODE_SLOTS_MAX + to] === 1;
  }

  hasPartition(): boolean {
    return this.blockedLinks > 0;
  }

  heal(): void {
    this.blocked.fill(0);
    this.blockedLinks = 0;
  }

  /** Blocks the directed link from → to. */
  block(from: number, to: number): void {
    const k = from * NODE_SLOTS_MAX + to;
    if (from === to || this.blocked[k] === 1) return;
    this.blocked[k] = 1;
    this.blockedLinks++;
  }

  /** Blocks both directions between every node of `a` and every node of `b`. */
  cut(a: readonly number[], b: readonly number[]): void {
    for (const x of a) {
      for (const y of b) {
        this.block(x, y);
        this.block(y, x);
      }
    }
  }

  private latency(): number {
    const c = this.cond;
    if (c.tailRate > 0 && this.rng.float() < c.tailRate) return this.rng.range(c.latencyMaxTicks, c.tailMaxTicks);
    if (c.latencyMaxTicks <= c.latencyMinTicks) return c.latencyMinTicks;
    return this.rng.range(c.latencyMinTicks, c.latencyMaxTicks);
  }

  private enqueue(item: InFlight, at: number): void {
    this.buckets[at % this.buckets.length]!.push(item);
    this.inFlight++;
  }
}

/** Validates conditions: latency at least one tick (nothing is delivered in the tick it is sent) and below the ring. */
export function checkConditions(c: NetConditions): NetConditions {
  if (c.latencyMinTicks < 1 || c.latencyMaxTicks < c.latencyMinTicks || c.tailMaxTicks < c.latencyMaxTicks || c.tailMaxTicks > LATENCY_TICKS_MAX - 1) {
    throw new Error(`bad network conditions ${JSON.stringify(c)}`);
  }
  return c;
}

function cloneEntry(e: Entry): Entry {
  return { index: e.index, term: e.term, kind: e.kind, data: e.data.slice() };
}

function cloneSnapshot(s: Snapshot): Snapshot {
  return { meta: { index: s.meta.index, term: s.meta.term, config: { voters: s.meta.config.voters.slice() } }, data: s.data.slice() };
}

/** A deep copy: what a real transport's decode would produce on the receiving side. */
export function cloneMessage(m: Message): Message {
  // Explicit literals per type (not object spread): this runs for every delivery.
  switch (m.type) {
    case 'append': {
      const entries = new Array<Entry>(m.entries.length);
      for (let i = 0; i < entries.length; i++) entries[i] = cloneEntry(m.entries[i]!);
      return { type: 'append', from: m.from, to: m.to, term: m.term, prevIndex: m.prevIndex, prevTerm: m.prevTerm, entries, commit: m.commit };
    }
    case 'appendResp':
      return {
        type: 'appendResp',
        from: m.from,
        to: m.to,
        term: m.term,
        success: m.success,
        index: m.index,
        hintIndex: m.hintIndex,
        hintTerm: m.hintTerm,
      };
    case 'heartbeat':
      return { type: 'heartbeat', from: m.from, to: m.to, term: m.term, commit: m.commit, readCtx: m.readCtx };
    case 'heartbeatResp':
      return { type: 'heartbeatResp', from: m.from, to: m.to, term: m.term, readCtx: m.readCtx, snapshotIndex: m.snapshotIndex, applyPaused: m.applyPaused };
    case 'vote':
      return { type: 'vote', from: m.from, to: m.to, term: m.term, pre: m.pre, lastIndex: m.lastIndex, lastTerm: m.lastTerm, transfer: m.transfer };
    case 'voteResp':
      return { type: 'voteResp', from: m.from, to: m.to, term: m.term, pre: m.pre, granted: m.granted };
    case 'snapshot':
      return { type: 'snapshot', from: m.from, to: m.to, term: m.term, snapshot: cloneSnapshot(m.snapshot) };
    case 'timeoutNow':
      return { type: 'timeoutNow', from: m.from, to: m.to, term: m.term };
  }
}
