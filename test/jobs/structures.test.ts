import { describe, expect, it } from 'vitest';
import { MinHeap } from '../../src/jobs/heap.js';
import { Ring } from '../../src/jobs/ring.js';
import { prng } from './harness.js';

describe('ring (FIFO)', () => {
  it('behaves like an array queue through growth, wrap-around and shrinking', () => {
    const rand = prng(9);
    const ring = new Ring<number>();
    const model: number[] = [];
    for (let i = 0; i < 50_000; i++) {
      if (rand() < 0.55) {
        ring.push(i);
        model.push(i);
      } else {
        expect(ring.shift()).toBe(model.shift());
      }
      expect(ring.length).toBe(model.length);
      expect(ring.peek()).toBe(model[0]);
    }
    expect([...ring.values()]).toEqual(model);
    expect(ring.at(1)).toBe(model[1]);
    ring.clear();
    expect(ring.length).toBe(0);
  });
});

describe('min-heap', () => {
  it('pops in comparator order, and compaction keeps the live entries', () => {
    const rand = prng(11);
    const heap = new MinHeap<number>((a, b) => a - b);
    const values = Array.from({ length: 5000 }, () => Math.floor(rand() * 1e6));
    for (const v of values) heap.push(v);
    heap.compact((v) => v % 3 !== 0);
    const popped: number[] = [];
    for (let v = heap.pop(); v !== undefined; v = heap.pop()) popped.push(v);
    expect(popped).toEqual(values.filter((v) => v % 3 !== 0).sort((a, b) => a - b));
  });

  it('pruneTop drops stale entries off the top only', () => {
    const heap = new MinHeap<number>((a, b) => a - b);
    [5, 1, 3, 2].forEach((v) => heap.push(v));
    expect(heap.pruneTop((v) => v >= 3)).toBe(3);
    expect(heap.size).toBe(2);
  });
});
