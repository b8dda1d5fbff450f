// A first-in first-out queue with O(1) push and shift. Toxics that hold data (latency, bandwidth,
// slicer) may hold tens of thousands of small chunks, where Array.prototype.shift would be O(n).

export class Fifo<T> {
  private items: (T | undefined)[] = [];
  private headIndex = 0;

  get length(): number {
    return this.items.length - this.headIndex;
  }

  push(item: T): void {
    this.items.push(item);
  }

  peek(): T | undefined {
    return this.items[this.headIndex];
  }

  shift(): T | undefined {
    if (this.headIndex >= this.items.length) return undefined;
    const item = this.items[this.headIndex];
    this.items[this.headIndex] = undefined; // let the chunk be collected now, not at compaction
    this.headIndex += 1;
    // Compact once the consumed prefix is half the array, so the cost stays amortized O(1).
    if (this.headIndex >= 1024 && this.headIndex * 2 >= this.items.length) {
      this.items = this.items.slice(this.headIndex);
      this.headIndex = 0;
    }
    return item;
  }

  clear(): void {
    this.items = [];
    this.headIndex = 0;
  }
}
