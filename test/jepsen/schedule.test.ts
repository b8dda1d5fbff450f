// The nemesis schedule is a pure function of (seed, nemeses, duration, nodes): the same seed
// replays the same faults, in the same order, with the same victims' random numbers.

import { describe, expect, it } from 'vitest';
import { Prng, pickWith, shuffleWith } from '../../jepsen-lite/random.js';
import { ALL_NEMESES, FAULTS, FAULT_MS, GAP_MS, GROUPS, LEAD_IN_MS, LEAD_OUT_MS, makeSchedule, parseNemeses } from '../../jepsen-lite/schedule.js';

const base = { seed: 42, nemeses: ['partition', 'kill', 'pause', 'transfer'], durationMs: 120_000, nodes: 5 };

describe('nemesis schedule', () => {
  it('is identical for the same seed', () => {
    expect(makeSchedule(base)).toEqual(makeSchedule({ ...base }));
  });

  it('differs for another seed', () => {
    expect(makeSchedule({ ...base, seed: 43 })).not.toEqual(makeSchedule(base));
  });

  it('does not depend on other consumers of the run seed (independent streams)', () => {
    const before = makeSchedule(base);
    const workload = new Prng(base.seed, 'workload');
    for (let i = 0; i < 1000; i++) workload.next();
    expect(makeSchedule(base)).toEqual(before);
  });

  it('keeps windows inside the run, apart, and within each fault’s bounds', () => {
    for (const seed of [1, 2, 3, 42, 1234]) {
      const steps = makeSchedule({ ...base, seed, nemeses: ['all'] });
      expect(steps.length).toBeGreaterThan(3);
      let previousEndMs = 0;
      for (const step of steps) {
        expect(step.atMs).toBeGreaterThanOrEqual(Math.max(LEAD_IN_MS, previousEndMs + (previousEndMs === 0 ? 0 : GAP_MS.min)));
        expect(step.atMs + step.durationMs).toBeLessThanOrEqual(base.durationMs - LEAD_OUT_MS);
        const maxMs = Math.max(...step.faults.map((f) => FAULT_MS[f.fault].max));
        expect(step.durationMs).toBeLessThanOrEqual(maxMs);
        expect(step.faults.length === 1 || new Set(step.faults.map((f) => f.fault)).size === step.faults.length).toBe(true);
        for (const f of step.faults) for (const u of f.u) expect(u >= 0 && u < 1).toBe(true);
        previousEndMs = step.atMs + step.durationMs;
      }
    }
  });

  it('draws a partition strategy for the group name, and only named faults otherwise', () => {
    const steps = makeSchedule({ ...base, nemeses: ['partition'], durationMs: 600_000 });
    const used = new Set(steps.flatMap((s) => s.faults.map((f) => f.fault)));
    expect([...used].sort()).toEqual([...GROUPS.partition!].sort());
    const killOnly = makeSchedule({ ...base, nemeses: ['kill'] });
    expect(new Set(killOnly.flatMap((s) => s.faults.map((f) => f.fault)))).toEqual(new Set(['kill']));
  });

  it('uses every fault when asked for all', () => {
    const steps = makeSchedule({ ...base, nemeses: ['all'], durationMs: 3_600_000 });
    expect(new Set(steps.flatMap((s) => s.faults.map((f) => f.fault)))).toEqual(new Set(FAULTS));
  });

  it('expands all and rejects unknown names', () => {
    expect(parseNemeses(['all'])).toEqual([...ALL_NEMESES]);
    expect(parseNemeses(['kill', ' kill', 'pause'])).toEqual(['kill', 'pause']);
    expect(() => parseNemeses(['partition', 'meteor'])).toThrow(/unknown nemesis "meteor"/);
  });

  it('is empty without nemeses or time for one', () => {
    expect(makeSchedule({ ...base, nemeses: [] })).toEqual([]);
    expect(makeSchedule({ ...base, durationMs: 4_000 })).toEqual([]);
  });
});

describe('seeded choices', () => {
  it('a stream replays for its seed and label', () => {
    const a = new Prng(7, 'x');
    const b = new Prng(7, 'x');
    const c = new Prng(7, 'y');
    const seqA = Array.from({ length: 5 }, () => a.next());
    expect(Array.from({ length: 5 }, () => b.next())).toEqual(seqA);
    expect(Array.from({ length: 5 }, () => c.next())).not.toEqual(seqA);
  });

  it('victims chosen from pre-drawn numbers depend only on those numbers and the node list', () => {
    const nodes = ['n1', 'n2', 'n3', 'n4', 'n5'];
    expect(shuffleWith(0.123, nodes)).toEqual(shuffleWith(0.123, nodes));
    expect([...shuffleWith(0.123, nodes)].sort()).toEqual(nodes);
    expect(pickWith(0, nodes)).toBe('n1');
    expect(pickWith(0.999999, nodes)).toBe('n5');
  });
});
