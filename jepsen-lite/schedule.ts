// Nemesis names and the fault schedule of a run. The schedule is a pure function of (seed, nemesis
// names, run length, node count): when each fault starts, how long it lasts, which concrete
// strategy a group name like `partition` stands for this time, and the random numbers the fault
// will use to choose its victims from the cluster as it is at that moment (who leads can only be
// known then). So a seed replays the same faults in the same order with the same choices.

import { Prng } from './random.js';

/** Every concrete fault, one per way of hurting the cluster. */
export const FAULTS = [
  'partition-halves',
  'partition-leader',
  'partition-ring',
  'partition-oneway',
  'kill',
  'kill-leader',
  'kill-minority',
  'pause',
  'latency',
  'bandwidth',
  'transfer',
  'membership',
  'clock',
  'disk',
] as const;
export type Fault = (typeof FAULTS)[number];

/** Names that stand for a choice among faults, made again at every step. */
export const GROUPS: Record<string, readonly Fault[]> = {
  partition: ['partition-halves', 'partition-leader', 'partition-ring', 'partition-oneway'],
};

/** What `all` means: every group and every fault not in a group. */
export const ALL_NEMESES: readonly string[] = ['partition', ...FAULTS.filter((f) => !f.startsWith('partition-'))];

export type FaultClass = 'network' | 'process' | 'admin' | 'storage';

export const FAULT_CLASS: Record<Fault, FaultClass> = {
  'partition-halves': 'network',
  'partition-leader': 'network',
  'partition-ring': 'network',
  'partition-oneway': 'network',
  latency: 'network',
  bandwidth: 'network',
  kill: 'process',
  'kill-leader': 'process',
  'kill-minority': 'process',
  pause: 'process',
  clock: 'process',
  transfer: 'admin',
  membership: 'admin',
  disk: 'storage',
};

/**
 * How long each fault's window lasts (ms). Long enough for an election (0.5–1 s timeout) and for
 * leases (1–2 s) to expire inside it; membership, clock and disk also restart nodes.
 */
export const FAULT_MS: Record<Fault, { min: number; max: number }> = {
  'partition-halves': { min: 3_000, max: 9_000 },
  'partition-leader': { min: 3_000, max: 9_000 },
  'partition-ring': { min: 3_000, max: 9_000 },
  'partition-oneway': { min: 3_000, max: 9_000 },
  kill: { min: 2_000, max: 7_000 },
  'kill-leader': { min: 2_000, max: 7_000 },
  'kill-minority': { min: 2_000, max: 7_000 },
  pause: { min: 2_000, max: 7_000 },
  latency: { min: 4_000, max: 10_000 },
  bandwidth: { min: 4_000, max: 10_000 },
  transfer: { min: 3_000, max: 8_000 },
  membership: { min: 4_000, max: 10_000 },
  clock: { min: 6_000, max: 12_000 },
  disk: { min: 4_000, max: 8_000 },
};

/** Quiet time between two fault windows: the cluster recovers, the checkers see it serve again. */
export const GAP_MS = { min: 1_500, max: 4_000 } as const;
/** Faults start this long after the workload (a baseline), and the last one ends this long before it stops. */
export const LEAD_IN_MS = 3_000;
export const LEAD_OUT_MS = 2_000;
/** Chance that a step adds a second fault of another kind at the same time (e.g. a partition and a kill). */
export const COMBINE_CHANCE = 0.25;
/** Faults that may run alongside another: short, and none of them changes membership or restarts with new flags. */
const COMBINABLE: ReadonlySet<Fault> = new Set<Fault>(['partition-halves', 'partition-leader', 'partition-ring', 'partition-oneway', 'latency', 'bandwidth', 'kill', 'kill-leader', 'pause', 'transfer']);
/** Uniform numbers pre-drawn for each fault: victims, directions, magnitudes. */
export const DRAWS_PER_FAULT = 6;

export interface FaultStep {
  fault: Fault;
  /** Pre-drawn uniforms in [0, 1): the fault's choices, made when it starts. */
  u: number[];
}

export interface ScheduleStep {
  /** Since the workload started. */
  atMs: number;
  durationMs: number;
  faults: FaultStep[];
}

export interface ScheduleOptions {
  seed: number;
  /** Names as the user gave them: faults, groups, or `all`. */
  nemeses: readonly string[];
  durationMs: number;
  nodes: number;
}

/** Expands `all`, checks every name; returns the top-level choices (groups stay groups). */
export function parseNemeses(names: readonly string[]): string[] {
  const out: string[] = [];
  for (const raw of names) {
    const name = raw.trim();
    if (name === '') continue;
    const expanded = name === 'all' ? ALL_NEMESES : [name];
    for (const n of expanded) {
      if (!(n in GROUPS) && !(FAULTS as readonly string[]).includes(n)) {
        throw new Error(`unknown nemesis "${n}"; known: ${[...Object.keys(GROUPS), ...FAULTS, 'all'].join(', ')}`);
      }
      if (!out.includes(n)) out.push(n);
    }
  }
  return out;
}

function concrete(name: string, rng: Prng): Fault {
  const group = GROUPS[name];
  return group ? rng.pick(group) : (name as Fault);
}

function draws(rng: Prng): number[] {
  return Array.from({ length: DRAWS_PER_FAULT }, () => rng.next());
}

/** The whole run's faults. Empty when no nemesis is named or the run is too short for one. */
export function makeSchedule(options: ScheduleOptions): ScheduleStep[] {
  const names = parseNemeses(options.nemeses);
  const rng = new Prng(options.seed, 'schedule');
  const steps: ScheduleStep[] = [];
  if (names.length === 0) return steps;
  const endMs = options.durationMs - LEAD_OUT_MS;
  let atMs = LEAD_IN_MS;
  for (;;) {
    const first = concrete(rng.pick(names), rng);
    const faults: FaultStep[] = [{ fault: first, u: draws(rng) }];
    if (COMBINABLE.has(first) && rng.chance(COMBINE_CHANCE)) {
      const partners = names.map((n) => concrete(n, rng)).filter((f) => COMBINABLE.has(f) && FAULT_CLASS[f] !== FAULT_CLASS[first]);
      if (partners.length > 0) faults.push({ fault: rng.pick(partners), u: draws(rng) });
    }
    const bounds = faults.map((f) => FAULT_MS[f.fault]);
    const durationMs = rng.int(Math.max(...bounds.map((b) => b.min)), Math.max(...bounds.map((b) => b.max)));
    if (atMs + durationMs > endMs) {
      // Too little time left for this one: a shorter window of the same faults if its minimum fits.
      const minMs = Math.max(...bounds.map((b) => b.min));
      if (atMs + minMs <= endMs) steps.push({ atMs, durationMs: endMs - atMs, faults });
      break;
    }
    steps.push({ atMs, durationMs, faults });
    atMs += durationMs + rng.int(GAP_MS.min, GAP_MS.max);
  }
  return steps;
}

/** One line per step, for the report and for eyeballing a seed. */
export function describeSchedule(steps: readonly ScheduleStep[]): string[] {
  return steps.map((s) => `${(s.atMs / 1000).toFixed(1)} s +${(s.durationMs / 1000).toFixed(1)} s: ${s.faults.map((f) => f.fault).join(' + ')}`);
}
