// Enqueue deduplication by idempotency key, per queue, for IDEMPOTENCY_WINDOW_MS after the first
// enqueue with that key (SQS FIFO and JetStream work the same way). Entries are recorded in time
// order (the leader's stamps never go back), so expiry pops from the head of one log.

import { IDEMPOTENCY_WINDOW_MS } from '../limits.js';
import { Ring } from './ring.js';

export interface IdempotencyEntry {
  readonly queue: string;
  readonly key: string;
  readonly jobId: string;
  readonly firstAtMs: number;
}

/** Queue names cannot contain a newline (QUEUE_NAME_PATTERN), so this join is unambiguous. */
function mapKeyOf(queue: string, key: string): string {
  return `${queue}\n${key}`;
}

export class IdempotencyIndex {
  private readonly byKey = new Map<string, IdempotencyEntry>();
  /** Every entry ever recorded and not yet expired, oldest first; replaced ones are stale. */
  private readonly log = new Ring<IdempotencyEntry>();

  get size(): number {
    return this.byKey.size;
  }

  /** The first job's id when `key` was used in `queue` within the window, else null. */
  lookup(queue: string, key: string, nowMs: number): string | null {
    const entry = this.byKey.get(mapKeyOf(queue, key));
    if (entry === undefined || entry.firstAtMs + IDEMPOTENCY_WINDOW_MS <= nowMs) return null;
    return entry.jobId;
  }

  record(queue: string, key: string, jobId: string, nowMs: number): void {
    this.restore(queue, key, jobId, nowMs);
  }

  /** Records an entry as of `firstAtMs` (also: restoring a snapshot, oldest first). */
  restore(queue: string, key: string, jobId: string, firstAtMs: number): void {
    const last = this.log.at(this.log.length - 1);
    if (last !== undefined && last.firstAtMs > firstAtMs) throw new Error('invariant: idempotency keys recorded out of time order');
    const entry: IdempotencyEntry = { queue, key, jobId, firstAtMs };
    // A key past its window but not yet expired by a tick is simply replaced; its log entry goes stale.
    this.byKey.set(mapKeyOf(queue, key), entry);
    this.log.push(entry);
  }

  /** Forgets up to `limit` keys whose window has passed; returns how many. */
  expire(nowMs: number, limit: number): number {
    let expired = 0;
    while (expired < limit) {
      const head = this.log.peek();
      if (head === undefined || head.firstAtMs + IDEMPOTENCY_WINDOW_MS > nowMs) break;
      this.log.shift();
      const mapKey = mapKeyOf(head.queue, head.key);
      if (this.byKey.get(mapKey) === head) {
        this.byKey.delete(mapKey);
        expired += 1;
      }
    }
    return expired;
  }

  /** When the oldest recorded key leaves its window; null when none is recorded. */
  nextExpiryMs(): number | null {
    const head = this.log.peek();
    return head === undefined ? null : head.firstAtMs + IDEMPOTENCY_WINDOW_MS;
  }

  /** Live entries, oldest first (snapshots). */
  *live(): IterableIterator<IdempotencyEntry> {
    for (const entry of this.log.values()) {
      if (this.byKey.get(mapKeyOf(entry.queue, entry.key)) === entry) yield entry;
    }
  }
}
