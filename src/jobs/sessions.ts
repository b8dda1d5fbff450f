// Client sessions (Raft dissertation §6.3): each client's recent results by sequence number, so
// a request retried after a failover is applied once and answered with the same outcome.
// Bounded three ways: SESSION_RESULTS_MAX results per client (the smallest seq goes first),
// SESSIONS_MAX clients (the least recently used goes first, by last-used time then clientId),
// and SESSION_IDLE_MS of idleness (expired by tick).

import { SESSION_IDLE_MS, SESSION_RESULTS_MAX, SESSIONS_MAX } from '../limits.js';
import { MinHeap } from './heap.js';
import { compareStrings } from './job-record.js';
import type { Outcome } from './types.js';

export class ClientSession {
  readonly results = new Map<number, Outcome>();
  /** The seqs in `results`, smallest on top, to evict the oldest in O(log n). */
  private readonly seqs = new MinHeap<number>((a, b) => a - b);
  /**
   * The largest seq whose result was evicted. A request at or below it that is not in `results`
   * may already have been applied: it is refused rather than risk applying it twice.
   */
  evictedSeqMax = -1;

  constructor(
    readonly clientId: string,
    public lastUsedMs: number,
  ) {}

  remember(seq: number, outcome: Outcome): void {
    if (this.results.has(seq)) throw new Error(`invariant: client ${this.clientId} seq ${seq} applied twice`);
    this.results.set(seq, outcome);
    this.seqs.push(seq);
    while (this.results.size > SESSION_RESULTS_MAX) {
      const oldest = this.seqs.pop() as number;
      this.results.delete(oldest);
      if (oldest > this.evictedSeqMax) this.evictedSeqMax = oldest;
    }
  }

  /** The client holds every answer below `floor`: drop those results; a replay of them is refused. */
  forgetBelow(floor: number): void {
    for (let top = this.seqs.peek(); top !== undefined && top < floor; top = this.seqs.peek()) {
      this.seqs.pop();
      this.results.delete(top);
    }
    if (floor - 1 > this.evictedSeqMax) this.evictedSeqMax = floor - 1;
  }
}

interface LruEntry {
  readonly session: ClientSession;
  readonly lastUsedMs: number;
}

function compareLru(a: LruEntry, b: LruEntry): number {
  if (a.lastUsedMs !== b.lastUsedMs) return a.lastUsedMs - b.lastUsedMs;
  return compareStrings(a.session.clientId, b.session.clientId);
}

export class SessionTable {
  private readonly sessions = new Map<string, ClientSession>();
  /** One live entry per session, at its current lastUsedMs; older ones are stale (lazy deletion). */
  private readonly lru = new MinHeap<LruEntry>(compareLru);

  get size(): number {
    return this.sessions.size;
  }

  /** The client's session, created (evicting the least recently used if full) and touched. */
  open(clientId: string, nowMs: number): ClientSession {
    let session = this.sessions.get(clientId);
    if (session === undefined) {
      while (this.sessions.size >= SESSIONS_MAX) this.evictOldest();
      session = new ClientSession(clientId, nowMs);
      this.sessions.set(clientId, session);
      this.lru.push({ session, lastUsedMs: nowMs });
    } else if (session.lastUsedMs !== nowMs) {
      session.lastUsedMs = nowMs;
      this.lru.push({ session, lastUsedMs: nowMs });
      this.lru.compactIfBloated(this.sessions.size, (e) => this.isLive(e));
    }
    return session;
  }

  /** Ends sessions idle for idleMs or more; returns how many. */
  expireIdle(nowMs: number): number {
    let expired = 0;
    for (;;) {
      const top = this.lru.pruneTop((e) => this.isLive(e));
      if (top === undefined || top.lastUsedMs + SESSION_IDLE_MS > nowMs) return expired;
      this.lru.pop();
      this.sessions.delete(top.session.clientId);
      expired += 1;
    }
  }

  /** When the least recently used session turns idle; null without sessions. */
  nextExpiryMs(): number | null {
    const top = this.lru.pruneTop((e) => this.isLive(e));
    return top === undefined ? null : top.lastUsedMs + SESSION_IDLE_MS;
  }

  /** Sessions in creation order (snapshots). */
  values(): IterableIterator<ClientSession> {
    return this.sessions.values();
  }

  /** Re-inserts a restored session, keeping the snapshot's order. */
  restore(session: ClientSession): void {
    if (this.sessions.has(session.clientId)) throw new Error(`invariant: session ${session.clientId} restored twice`);
    this.sessions.set(session.clientId, session);
    this.lru.push({ session, lastUsedMs: session.lastUsedMs });
  }

  private evictOldest(): void {
    const top = this.lru.pruneTop((e) => this.isLive(e));
    if (top === undefined) throw new Error('invariant: session table full but its LRU heap is empty');
    this.lru.pop();
    this.sessions.delete(top.session.clientId);
  }

  private isLive(entry: LruEntry): boolean {
    return this.sessions.get(entry.session.clientId) === entry.session && entry.session.lastUsedMs === entry.lastUsedMs;
  }
}
