// One seed, one run: the simulator is deterministic, so any failing seed replays exactly.

import { describe, expect, it } from 'vitest';
import { SimViolation } from './checkers.js';
import { runSimulation, type SimOptions } from './cluster.js';
import { hashString, mix } from './hash.js';

/** Runs a seed with the trace printer on and hashes every printed line (heartbeats included). */
function printedTraceHash(o: SimOptions): { hash: number; lines: number } {
  let hash = 0;
  let lines = 0;
  runSimulation({
    ...o,
    trace: (line) => {
      hash = mix(hash, hashString(line));
      lines++;
    },
    traceQuiet: true,
  });
  return { hash, lines };
}

function violationOf(o: SimOptions): SimViolation {
  try {
    runSimulation(o);
  } catch (err) {
    if (err instanceof SimViolation) return err;
    throw err;
  }
  throw new Error(`seed ${o.seed} passed; expected a violation`);
}

describe('deterministic replay', () => {
  it('running the same seed twice yields the identical trace', () => {
    for (const o of [
      { seed: 11, nodes: 3, ticks: 1500 },
      { seed: 12, nodes: 5, ticks: 1500 },
    ]) {
      const a = runSimulation(o);
      const b = runSimulation(o);
      expect(b.traceHash).toBe(a.traceHash);
      expect(b.traceEvents).toBe(a.traceEvents);
      expect(b.stats).toEqual(a.stats);
      const pa = printedTraceHash(o);
      const pb = printedTraceHash(o);
      expect(pb).toEqual(pa);
      expect(pa.lines).toBeGreaterThan(1000);
    }
  });

  it('different seeds give different runs', () => {
    const hashes = new Set<number>();
    for (let seed = 1; seed <= 10; seed++) hashes.add(runSimulation({ seed, nodes: 3, ticks: 500 }).traceHash);
    expect(hashes.size).toBe(10);
  });

  it('a violation replays at the same tick with the same trace', () => {
    let seed = 1;
    let first: SimViolation | null = null;
    for (; seed <= 50 && first === null; seed++) {
      try {
        runSimulation({ seed, nodes: 3, ticks: 1500, fault: 'appendWithoutPrevCheck' });
      } catch (err) {
        if (!(err instanceof SimViolation)) throw err;
        first = err;
      }
    }
    expect(first).not.toBeNull();
    const again = violationOf({ seed: first!.seed, nodes: 3, ticks: 1500, fault: 'appendWithoutPrevCheck' });
    expect(again.tick).toBe(first!.tick);
    expect(again.invariant).toBe(first!.invariant);
    expect(again.trace).toEqual(first!.trace);
    expect(again.message).toBe(first!.message);
    expect(again.replay).toBe('npm run sim -- --seed ' + first!.seed + ' --nodes 3 --ticks 1500 --fault appendWithoutPrevCheck');
  });
});
