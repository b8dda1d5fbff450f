// Workers seen recently in the replicated log (a lease, heartbeat, ack or fail names or implies a
// worker id). Every node applies the same entries with the same leader stamps, so every node
// counts the same workers. A worker idling in a long poll writes nothing to the log and drops out
// of the count after the window (see README "Metrics").

/** A worker counts as connected for this long after its last lease, heartbeat, ack or fail. */
export const WORKER_ACTIVE_WINDOW_MS = 60_000;
/** Worker ids remembered at once; the least recently seen is forgotten first. */
export const WORKERS_TRACKED_MAX = 10_000;

export class WorkerActivity {
  /** Insertion order is last-seen order: leader stamps never go backwards in log order. */
  private readonly lastSeenMs = new Map<string, number>();

  constructor(
    readonly windowMs: number = WORKER_ACTIVE_WINDOW_MS,
    readonly trackedMax: number = WORKERS_TRACKED_MAX,
  ) {}

  seen(workerId: string, atMs: number): void {
    this.lastSeenMs.delete(workerId);
    this.lastSeenMs.set(workerId, atMs);
    if (this.lastSeenMs.size > this.trackedMax) {
      const oldest = this.lastSeenMs.keys().next().value;
      if (oldest !== undefined) this.lastSeenMs.delete(oldest);
    }
  }

  /** Workers seen within the window before nowMs. Forgets the older ones: O(forgotten). */
  activeCount(nowMs: number): number {
    const cutoffMs = nowMs - this.windowMs;
    for (const [id, atMs] of this.lastSeenMs) {
      if (atMs >= cutoffMs) break;
      this.lastSeenMs.delete(id);
    }
    return this.lastSeenMs.size;
  }
}
