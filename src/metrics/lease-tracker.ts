// Which leases are live, as seen from applied entries, so that a tick's "N leases expired" can be
// turned into "these jobs' leases expired" for logs without scanning the state machine. It mirrors
// the state machine's own lease heap: a min-heap by expiry with lazy deletion (a heartbeat pushes a
// new entry and leaves the old one stale).

import { MinHeap } from '../jobs/heap.js';

/** Leases tracked at once. Beyond it new leases are not tracked; their expiries are still counted. */
export const LEASES_TRACKED_MAX = 100_000;

export interface TrackedLease {
  jobId: string;
  queue: string;
  workerId: string;
  token: string;
  attempt: number;
  expiresAtMs: number;
}

interface HeapEntry {
  lease: TrackedLease;
  /** The expiry this entry was pushed for; stale once a heartbeat moved the lease's expiry. */
  expiresAtMs: number;
}

function compareEntries(a: HeapEntry, b: HeapEntry): number {
  if (a.expiresAtMs !== b.expiresAtMs) return a.expiresAtMs - b.expiresAtMs;
  return a.lease.jobId < b.lease.jobId ? -1 : a.lease.jobId > b.lease.jobId ? 1 : 0;
}

export class LeaseTracker {
  private readonly live = new Map<string, TrackedLease>();
  private readonly heap = new MinHeap<HeapEntry>(compareEntries);

  constructor(readonly trackedMax: number = LEASES_TRACKED_MAX) {}

  get size(): number {
    return this.live.size;
  }

  get(jobId: string): TrackedLease | undefined {
    return this.live.get(jobId);
  }

  /** A lease was handed out. False when the tracker is full (the lease goes untracked). */
  leased(lease: TrackedLease): boolean {
    if (!this.live.has(lease.jobId) && this.live.size >= this.trackedMax) return false;
    this.live.set(lease.jobId, lease);
    this.push(lease);
    return true;
  }

  /** A heartbeat moved the expiry of the lease with this token. */
  renewed(jobId: string, token: string, expiresAtMs: number): TrackedLease | undefined {
    const lease = this.live.get(jobId);
    if (lease === undefined || lease.token !== token) return undefined;
    lease.expiresAtMs = expiresAtMs;
    this.push(lease);
    return lease;
  }

  /** The lease ended other than by expiry (ack, fail, cancel). */
  ended(jobId: string): TrackedLease | undefined {
    const lease = this.live.get(jobId);
    if (lease !== undefined) this.live.delete(jobId);
    return lease;
  }

  /**
   * Removes and returns every tracked lease whose expiry is at or before nowMs: exactly the leases
   * a tick stamped nowMs expires (it expires every lease with expiresAtMs <= nowMs).
   */
  due(nowMs: number): TrackedLease[] {
    const due: TrackedLease[] = [];
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined || top.expiresAtMs > nowMs) return due;
      this.heap.pop();
      if (!this.isLive(top)) continue;
      this.live.delete(top.lease.jobId);
      due.push(top.lease);
    }
  }

  /** Forget everything: the state machine was replaced by a snapshot. */
  clear(): void {
    this.live.clear();
    this.heap.compact(() => false);
  }

  private push(lease: TrackedLease): void {
    this.heap.push({ lease, expiresAtMs: lease.expiresAtMs });
    this.heap.compactIfBloated(this.live.size, (e) => this.isLive(e));
  }

  private isLive(entry: HeapEntry): boolean {
    return this.live.get(entry.lease.jobId) === entry.lease && entry.lease.expiresAtMs === entry.expiresAtMs;
  }
}
