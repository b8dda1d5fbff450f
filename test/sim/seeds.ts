// Runs a range of simulator seeds for the vitest suites; a violation propagates as SimViolation,
// whose message names the seed, the invariant, the last events and the replay command.

import { runSimulation, type SimOptions } from './cluster.js';

export interface RangeSummary {
  seeds: number;
  ticks: number;
  committed: number;
  leaderships: number;
  crashes: number;
  configChanges: number;
  snapshotsInstalled: number;
}

export function runSeedRange(from: number, to: number, base: Omit<SimOptions, 'seed'>): RangeSummary {
  const sum: RangeSummary = { seeds: 0, ticks: 0, committed: 0, leaderships: 0, crashes: 0, configChanges: 0, snapshotsInstalled: 0 };
  for (let seed = from; seed <= to; seed++) {
    const s = runSimulation({ ...base, seed }).stats;
    sum.seeds++;
    sum.ticks += s.ticks;
    sum.committed += s.committed;
    sum.leaderships += s.leaderships;
    sum.crashes += s.crashes;
    sum.configChanges += s.configChanges;
    sum.snapshotsInstalled += s.snapshotsInstalled;
  }
  return sum;
}
