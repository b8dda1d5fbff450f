// A FIFO queue on a growable ring buffer: O(1) push and shift, where Array.prototype.shift is
// O(n) on large arrays. Used for the priority lanes, the retention logs and the idempotency log.

/** Smallest backing capacity; a power of two so that index wrapping is a mask. */
const RING_CAPACITY_MIN = 16;

export class Ring<T> {
  private slots: (T | undefined)[];
  private head = 0;
  private count = 0;

  constructor() {
    this.slots = new Array<T | undefined>(RING_CAPACITY_MIN);
  }

  get length(): number {
    return this.count;
  }

  push(value: T): void {
    if (this.count === this.slots.length) this.resize(this.slots.length * 2);
    this.slots[(this.head + this.count) & (this.slots.length - 1)] = value;
    this.count += 1;
  }

  peek(): T | undefined {
    return this.count === 0 ? undefined : this.slots[this.head];
  }

  shift(): T | undefined {
    if (this.count === 0) return undefined;
    const value = this.slots[this.head];
    this.slots[this.head] = undefined; // Let the garbage collector take what the ring no longer holds.
    this.head = (this.head + 1) & (this.slots.length - 1);
    this.count -= 1;
    // Shrink so that a burst does not pin its peak memory forever.
    if (this.slots.length > RING_CAPACITY_MIN && this.count * 4 <= this.slots.length) {
      this.resize(this.slots.length / 2);
    }
    return value;
  }

  /** The element at position `i` from the head (0 = oldest). */
  at(i: number): T | undefined {
    if (i < 0 || i >= this.count) return undefined;
    return this.slots[(this.head + i) & (this.slots.length - 1)];
  }

  clear(): void {
    this.slots = new Array<T | undefined>(RING_CAPACITY_MIN);
    this.head = 0;
    this.count = 0;
  }

  *values(): IterableIterator<T> {
    for (let i = 0; i < this.count; i++) yield this.slots[(this.head + i) & (this.slots.length - 1)] as T;
  }

  private resize(capacity: number): void {
    const next = new Array<T | undefined>(capacity);
    for (let i = 0; i < this.count; i++) next[i] = this.slots[(this.head + i) & (this.slots.length - 1)];
    this.slots = next;
    this.head = 0;
  }
}
