// The checkers bite: for each deliberately broken behaviour of the core (RaftFaults), the simulator
// finds a seed whose run breaks a safety invariant, within the CI budget. The nemesis leans on the
// scenarios that reach each bug; the checkers are the same as for the correct core. As a control,
// the seed that caught the bug runs the same kind of schedule against the correct core and passes.

import { describe, expect, it } from 'vitest';
import { Invariant, SimViolation } from './checkers.js';
import { runSimulation } from './cluster.js';
import { FAULT_NAMES } from './nemesis.js';

const SEEDS_MAX = 500;
const TICKS = 2000;
/** Invariants that show a safety bug (not a stall, not the core throwing on its own assertions). */
const SAFETY_INVARIANTS = new Set<string>(
  Object.values(Invariant).filter((v) => v !== Invariant.liveness && v !== Invariant.coreError),
);

describe('a deliberately broken core is caught', () => {
  for (const fault of FAULT_NAMES) {
    it(`catches ${fault} within ${SEEDS_MAX} seeds`, () => {
      let caught: SimViolation | null = null;
      let tried = 0;
      for (let seed = 1; seed <= SEEDS_MAX && caught === null; seed++) {
        tried++;
        try {
          runSimulation({ seed, nodes: seed % 2 === 1 ? 3 : 5, ticks: TICKS, fault });
        } catch (err) {
          if (!(err instanceof SimViolation)) throw err;
          caught = err;
        }
      }
      if (caught === null) throw new Error(`${fault}: no violation in ${SEEDS_MAX} seeds of ${TICKS} ticks — the checkers did not bite`);
      console.log(
        `${fault}: caught by "${caught.invariant}" at seed ${caught.seed} (${caught.nodes} nodes, tick ${caught.tick}, ` +
          `${tried} seed(s) tried)\n  ${caught.detail}\n  replay: ${caught.replay}`,
      );
      expect(SAFETY_INVARIANTS.has(caught.invariant), `caught by ${caught.invariant}:\n${caught.message}`).toBe(true);
      // Control: the same scenario weights with a correct core keep every invariant.
      runSimulation({ seed: caught.seed, nodes: caught.nodes, ticks: TICKS, scenario: fault });
    }, 120_000);
  }
});
