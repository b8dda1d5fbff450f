// The run's randomness. One seed drives everything a run chooses: the nemesis schedule, what each
// producer submits and how each worker behaves. Each consumer gets its own stream, derived from the
// seed and a label, so that the schedule for a seed is the same whatever the timing of the
// workload (a shared stream would interleave with network timing and never replay).

export const TWO_POW_32 = 0x1_0000_0000;

/** splitmix32: a good scrambler for seeding, and a fine generator on its own for our needs. */
export function splitmix32(state: { x: number }): number {
  state.x = (state.x + 0x9e3779b9) | 0;
  let z = state.x;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a of a label: stream names become numbers. */
function hashLabel(label: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < label.length; i++) {
    h ^= label.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export class Prng {
  private readonly state: { x: number };
  readonly seed: number;

  /** Any safe integer seed; both 32-bit halves count. */
  constructor(seed: number, label = '') {
    if (!Number.isSafeInteger(seed)) throw new Error(`seed must be a safe integer, got ${seed}`);
    this.seed = seed;
    const lo = seed >>> 0;
    const hi = Math.floor(seed / TWO_POW_32) >>> 0;
    this.state = { x: (lo ^ Math.imul(hi, 0x27d4eb2f) ^ hashLabel(label)) | 0 };
    for (let i = 0; i < 4; i++) splitmix32(this.state);
  }

  /** An independent stream for one consumer ("schedule", "producer-3", ...). */
  fork(label: string): Prng {
    return new Prng(this.seed, label);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return splitmix32(this.state) / TWO_POW_32;
  }

  /** An integer in [min, max] (both inclusive). */
  int(min: number, max: number): number {
    if (max < min) throw new Error(`int(${min}, ${max}): empty range`);
    return min + Math.floor(this.next() * (max - min + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[Math.floor(this.next() * items.length)]!;
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = [...items];
    for (let i = out.length - 1; i > 0; i--) {
      const j = Math.floor(this.next() * (i + 1));
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }
}

/**
 * Picks from `items` with pre-drawn uniform numbers (from the schedule), so the choice is a pure
 * function of the schedule and of the list it is applied to at run time.
 */
export function pickWith<T>(u: number, items: readonly T[]): T {
  if (items.length === 0) throw new Error('pick from an empty list');
  return items[Math.min(items.length - 1, Math.floor(u * items.length))]!;
}

/** Shuffles with a stream seeded by a pre-drawn number: deterministic for (u, items). */
export function shuffleWith<T>(u: number, items: readonly T[]): T[] {
  return new Prng(Math.floor(u * TWO_POW_32)).shuffle(items);
}
