import { assert } from './assert.js';

/**
 * The AppendEntries messages sent to one follower and not yet acknowledged, in index order.
 * Bounds pipelining by count and by bytes so a slow follower cannot make the leader buffer its
 * whole log in socket buffers.
 */
export class Inflights {
  private readonly lastIndexes: number[] = [];
  private readonly sizesBytes: number[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly msgsMax: number,
    private readonly bytesMax: number,
  ) {}

  get count(): number {
    return this.lastIndexes.length - this.head;
  }

  get inflightBytes(): number {
    return this.bytes;
  }

  full(): boolean {
    return this.count >= this.msgsMax || this.bytes >= this.bytesMax;
  }

  add(lastIndex: number, sizeBytes: number): void {
    const n = this.lastIndexes.length;
    assert(n === this.head || this.lastIndexes[n - 1]! < lastIndex, 'inflight indexes increase');
    this.lastIndexes.push(lastIndex);
    this.sizesBytes.push(sizeBytes);
    this.bytes += sizeBytes;
  }

  /** Frees every message whose last index is <= index (acknowledged by a cumulative match). */
  freeLE(index: number): void {
    while (this.head < this.lastIndexes.length && this.lastIndexes[this.head]! <= index) {
      this.bytes -= this.sizesBytes[this.head]!;
      this.head++;
    }
    this.compactStorage();
  }

  /** Frees the oldest message: lets a leader whose window filled with lost messages make progress. */
  freeFirstOne(): void {
    if (this.count === 0) return;
    this.bytes -= this.sizesBytes[this.head]!;
    this.head++;
    this.compactStorage();
  }

  reset(): void {
    this.lastIndexes.length = 0;
    this.sizesBytes.length = 0;
    this.head = 0;
    this.bytes = 0;
  }

  private compactStorage(): void {
    if (this.head === this.lastIndexes.length) {
      this.reset();
    } else if (this.head > 64 && this.head * 2 > this.lastIndexes.length) {
      this.lastIndexes.splice(0, this.head);
      this.sizesBytes.splice(0, this.head);
      this.head = 0;
    }
  }
}

export type ProgressState = 'probe' | 'replicate' | 'snapshot';

/**
 * The leader's view of one follower (etcd's tracker.Progress).
 * probe: one AppendEntries at a time until the follower's match is found;
 * replicate: pipelined, bounded by Inflights; snapshot: waiting for an InstallSnapshot to land.
 */
export class Progress {
  match = 0;
  next: number;
  state: ProgressState = 'probe';
  /** probe: a message is out, wait for its answer (or a heartbeat answer) before sending another. */
  probeSent = false;
  /** snapshot: the index of the snapshot being installed. */
  pendingSnapshot = 0;
  /** Ticks spent in snapshot state; a lost snapshot falls back to probing. */
  snapshotTicks = 0;
  /** Heard from since the last check-quorum round. */
  recentActive = true;
  ticksSinceContact = 0;
  /** As of the follower's latest heartbeat answer: its snapshot index, and whether it is taking one. */
  snapshotIndex = 0;
  applyPaused = false;
  readonly inflights: Inflights;

  constructor(next: number, inflightMsgsMax: number, inflightBytesMax: number) {
    this.next = next;
    this.inflights = new Inflights(inflightMsgsMax, inflightBytesMax);
  }

  becomeProbe(): void {
    // Leaving snapshot state: the follower holds at least the snapshot, so resume after it.
    const from = this.state === 'snapshot' ? Math.max(this.match + 1, this.pendingSnapshot + 1) : this.match + 1;
    this.resetState('probe');
    this.next = from;
  }

  becomeReplicate(): void {
    this.resetState('replicate');
    this.next = this.match + 1;
  }

  becomeSnapshot(snapshotIndex: number): void {
    this.resetState('snapshot');
    this.pendingSnapshot = snapshotIndex;
  }

  private resetState(state: ProgressState): void {
    this.state = state;
    this.probeSent = false;
    this.pendingSnapshot = 0;
    this.snapshotTicks = 0;
    this.inflights.reset();
  }

  /** A success answer: returns false when it is stale (acknowledges nothing new). */
  maybeUpdate(index: number): boolean {
    let updated = false;
    if (this.match < index) {
      this.match = index;
      updated = true;
      this.probeSent = false;
    }
    this.next = Math.max(this.next, index + 1);
    return updated;
  }

  /**
   * A rejection of the append at `rejected`. `matchHint` is the leader's best guess of the last
   * index both logs share. Returns false when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false;
      this.next = this.match + 1;
      return true;
    }
    if (this.next - 1 !== rejected) return false;
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1);
    this.probeSent = false;
    return true;
  }

  isPaused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent;
      case 'replicate':
        return this.inflights.full();
      case 'snapshot':
        return true;
    }
  }

  /** Bookkeeping after an AppendEntries went out carrying entries up to lastIndex. */
  sentEntries(count: number, lastIndex: number, sizeBytes: number): void {
    if (this.state === 'replicate') {
      if (count > 0) {
        this.next = lastIndex + 1;
        this.inflights.add(lastIndex, sizeBytes);
      }
    } else if (this.state === 'probe') {
      this.probeSent = true;
    }
  }
}
