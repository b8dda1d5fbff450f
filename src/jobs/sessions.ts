// Client sessions (Raft dissertation §6.3): each client's recent results by sequence number, so
// a request retried after a failover is applied once and answered with the same outcome.
// Bounded five ways: SESSION_RESULTS_MAX results and SESSION_RESULT_BYTES_MAX bytes of results
// per client (its smallest seq goes first), SESSIONS_RESULT_BYTES_MAX bytes of results in all
// (the oldest result of the least recently used session holding any goes first), SESSIONS_MAX
// clients (the least recently used goes first, by last-used time then clientId), and
// SESSION_IDLE_MS of idleness (expired by tick). A result evicted is never re-applied: a retry of
// it is refused (evictedSeqMax). Sizes are measured from the results alone (sessionResultBytes),
// so a node restored from a snapshot counts what a node that applied the log counts.

import { SESSION_IDLE_MS, SESSION_RESULT_BYTES_MAX, SESSION_RESULTS_MAX, SESSIONS_MAX, SESSIONS_RESULT_BYTES_MAX } from '../limits.js';
import { MinHeap } from './heap.js';
import { compareStrings } from './job-record.js';
import type { Outcome } from './types.js';

/** What a result costs besides its strings and bytes: its map entries and heap slot. */
export const SESSION_RESULT_BYTES_BASE = 64;
/** What a number, boolean, null, or an object's or array's own header costs in the estimate. */
const VALUE_BYTES = 8;

/**
 * A result's size in bytes, estimated from its content only (strings by length, byte arrays by
 * byte length, VALUE_BYTES per other value, properties holding undefined left out): a lease answer
 * is dominated by its payloads, an enqueue of 1,000 jobs by its ids.
 */
export function sessionResultBytes(outcome: Outcome): number {
  return SESSION_RESULT_BYTES_BASE + valueBytes(outcome);
}

function valueBytes(value: unknown): number {
  if (typeof value === 'string') return value.length;
  if (value instanceof Uint8Array) return value.byteLength;
  if (Array.isArray(value)) {
    let bytes = VALUE_BYTES;
    for (const item of value) bytes += valueBytes(item);
    return bytes;
  }
  if (value !== null && typeof value === 'object') {
    let bytes = VALUE_BYTES;
    for (const key in value) {
      const item = (value as Record<string, unknown>)[key];
      // A snapshot leaves such a property out (MsgpackWriter): the restored result must measure the same.
      if (item !== undefined) bytes += key.length + valueBytes(item);
    }
    return bytes;
  }
  return VALUE_BYTES;
}

export class ClientSession {
  readonly results = new Map<number, Outcome>();
  /** Each result's sessionResultBytes; they add up to resultBytes. */
  private readonly sizes = new Map<number, number>();
  resultBytes = 0;
  /** The seqs in `results`, smallest on top, to evict the oldest in O(log n). */
  private readonly seqs = new MinHeap<number>((a, b) => a - b);
  /**
   * The largest seq whose result was evicted. A request at or below it that is not in `results`
   * may already have been applied: it is refused rather than risk applying it twice.
   */
  evictedSeqMax = -1;
  /** The lastUsedMs this session holds a place in its table's heap of sessions with results at; -1 for none. */
  heldAtMs = -1;

  constructor(
    readonly clientId: string,
    public lastUsedMs: number,
  ) {}

  /** Adds a result (SessionTable.remember bounds them); returns its size. */
  add(seq: number, outcome: Outcome): number {
    if (this.results.has(seq)) throw new Error(`invariant: client ${this.clientId} seq ${seq} applied twice`);
    const bytes = sessionResultBytes(outcome);
    this.results.set(seq, outcome);
    this.sizes.set(seq, bytes);
    this.seqs.push(seq);
    this.resultBytes += bytes;
    return bytes;
  }

  /** Drops the result of the smallest seq, whose replay is refused from now on; returns the bytes freed. */
  evictOldest(): number {
    const oldest = this.seqs.pop();
    if (oldest === undefined) throw new Error(`invariant: client ${this.clientId} has no result to evict`);
    if (oldest > this.evictedSeqMax) this.evictedSeqMax = oldest;
    return this.drop(oldest);
  }

  /** The client holds every answer below `floor`: drop those results; a replay of them is refused. Returns the bytes freed. */
  forgetBelow(floor: number): number {
    let freed = 0;
    for (let top = this.seqs.peek(); top !== undefined && top < floor; top = this.seqs.peek()) {
      this.seqs.pop();
      freed += this.drop(top);
    }
    if (floor - 1 > this.evictedSeqMax) this.evictedSeqMax = floor - 1;
    return freed;
  }

  private drop(seq: number): number {
    const bytes = this.sizes.get(seq) as number;
    this.results.delete(seq);
    this.sizes.delete(seq);
    this.resultBytes -= bytes;
    return bytes;
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
  /**
   * The same order, for the sessions that held results when last used (ClientSession.heldAtMs):
   * where the bytes over SESSIONS_RESULT_BYTES_MAX are taken from. A live entry whose session has
   * since been emptied is dropped when it reaches the top.
   */
  private readonly holding = new MinHeap<LruEntry>(compareLru);
  /** Every session's resultBytes, added up. */
  resultBytes = 0;
  /** SESSION_RESULT_BYTES_MAX and SESSIONS_RESULT_BYTES_MAX; smaller in tests (StateMachineOptions). */
  resultBytesPerClientMax = SESSION_RESULT_BYTES_MAX;
  resultBytesMax = SESSIONS_RESULT_BYTES_MAX;

  get size(): number {
    return this.sessions.size;
  }

  /** Keeps `outcome` as the answer to the client's `seq`, then evicts results past the bounds. */
  remember(session: ClientSession, seq: number, outcome: Outcome): void {
    this.resultBytes += session.add(seq, outcome);
    this.hold(session);
    while (session.results.size > SESSION_RESULTS_MAX || session.resultBytes > this.resultBytesPerClientMax) this.resultBytes -= session.evictOldest();
    // Others' results go first: this session is the most recently used (ties go by clientId), and
    // alone it holds at most resultBytesPerClientMax, below this bound.
    while (this.resultBytes > this.resultBytesMax) {
      const top = this.holding.pruneTop((e) => this.isLive(e));
      if (top === undefined) throw new Error(`invariant: ${this.resultBytes} bytes of session results but no session holds any`);
      if (top.session.results.size === 0) {
        this.holding.pop();
        top.session.heldAtMs = -1;
        continue;
      }
      this.resultBytes -= top.session.evictOldest();
    }
  }

  /**
   * A result as a snapshot holds it: kept as it is, never evicting. The image is the state at its
   * index, bounds applied or not, so decoding it must rebuild exactly that; the next remember
   * applies the bounds as on every replica.
   */
  restoreResult(session: ClientSession, seq: number, outcome: Outcome): void {
    this.resultBytes += session.add(seq, outcome);
    this.hold(session);
  }

  /** The client holds every answer below `floor` (ClientSession.forgetBelow). */
  forgetBelow(session: ClientSession, floor: number): void {
    this.resultBytes -= session.forgetBelow(floor);
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
      if (session.results.size > 0) this.hold(session);
    }
    return session;
  }

  /** Gives a session with results its place in `holding` at its current lastUsedMs. */
  private hold(session: ClientSession): void {
    if (session.heldAtMs === session.lastUsedMs) return;
    session.heldAtMs = session.lastUsedMs;
    this.holding.push({ session, lastUsedMs: session.lastUsedMs });
    this.holding.compactIfBloated(this.sessions.size, (e) => this.isLive(e));
  }

  /** Ends sessions idle for idleMs or more; returns how many. */
  expireIdle(nowMs: number): number {
    let expired = 0;
    for (;;) {
      const top = this.lru.pruneTop((e) => this.isLive(e));
      if (top === undefined || top.lastUsedMs + SESSION_IDLE_MS > nowMs) return expired;
      this.lru.pop();
      this.delete(top.session);
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
    this.delete(top.session);
  }

  private delete(session: ClientSession): void {
    this.sessions.delete(session.clientId);
    this.resultBytes -= session.resultBytes;
  }

  private isLive(entry: LruEntry): boolean {
    return this.sessions.get(entry.session.clientId) === entry.session && entry.session.lastUsedMs === entry.lastUsedMs;
  }
}
