// 1,000 seeds of a 5-voter cluster under the nemesis: every safety invariant after every step,
// and liveness after every heal. A failure names its seed and the command that replays it.

import { describe, expect, it } from 'vitest';
import { runSeedRange } from './seeds.js';

const SEEDS = 1000;
const TICKS = 2000;
const CHUNK = 100;

describe('simulated 5-voter cluster', () => {
  for (let from = 1; from <= SEEDS; from += CHUNK) {
    const to = Math.min(SEEDS, from + CHUNK - 1);
    it(`seeds ${from}..${to}: safe throughout, live after every heal`, () => {
      const sum = runSeedRange(from, to, { nodes: 5, ticks: TICKS });
      expect(sum.seeds).toBe(to - from + 1);
      expect(sum.committed).toBeGreaterThan(0);
      expect(sum.leaderships).toBeGreaterThan(sum.seeds);
    }, 120_000);
  }
});
