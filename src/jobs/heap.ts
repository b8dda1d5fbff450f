// A binary min-heap with lazy deletion. Entries that no longer matter (a lease that was acked, a
// delayed job that was cancelled) stay in the heap and are skipped when they reach the top: that
// keeps cancel and ack O(1) instead of O(n) for a search. `compact` bounds the garbage.
//
// Determinism: the comparator must be a total order on live entries (ties broken by job id), so
// the order in which entries leave the heap never depends on the heap's internal layout; the
// layout may then differ between a replica restored from a snapshot and one that was not.

export type Compare<T> = (a: T, b: T) => number;

/** Stale entries tolerated beyond twice the live ones before `compactIfBloated` rebuilds. */
export const HEAP_STALE_SLACK = 1024;

export class MinHeap<T> {
  private items: T[] = [];

  constructor(private readonly compare: Compare<T>) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(items[i] as T, items[parent] as T) >= 0) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    if (items.length === 0) return undefined;
    const top = items[0] as T;
    const last = items.pop() as T;
    if (items.length > 0) {
      items[0] = last;
      this.siftDown(0);
    }
    return top;
  }

  /** Drops entries that are no longer live. O(n); call it only when garbage dominates. */
  compact(isLive: (item: T) => boolean): void {
    this.items = this.items.filter(isLive);
    for (let i = (this.items.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Compacts when stale entries outnumber live ones (plus slack): amortized O(1) per push. */
  compactIfBloated(liveCount: number, isLive: (item: T) => boolean): void {
    if (this.items.length > 2 * liveCount + HEAP_STALE_SLACK) this.compact(isLive);
  }

  /** Pops stale entries off the top so that `peek` shows a live one (or nothing). */
  pruneTop(isLive: (item: T) => boolean): T | undefined {
    while (this.items.length > 0 && !isLive(this.items[0] as T)) this.pop();
    return this.items[0];
  }

  private siftDown(start: number): void {
    const items = this.items;
    const n = items.length;
    let i = start;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) return;
      const right = left + 1;
      let child = left;
      if (right < n && this.compare(items[right] as T, items[left] as T) < 0) child = right;
      if (this.compare(items[child] as T, items[i] as T) >= 0) return;
      this.swap(i, child);
      i = child;
    }
  }

  private swap(a: number, b: number): void {
    const items = this.items;
    const tmp = items[a] as T;
    items[a] = items[b] as T;
    items[b] = tmp;
  }
}
