// One short mixed-fault jepsen-lite run in CI, through the same code path as `npm run jepsen`:
// 3 real node processes behind Toxiproxy (ours unless TOXIPROXY_URL / toxiproxy-server), partitions,
// kill -9, SIGSTOP and leadership-transfer storms, then heal, drain, final reads and convergence.
// Any invalid checker fails the test, printing the run folder and the command that re-checks it.
//
// JEPSEN_SEED overrides the seed (a failure prints it); the default seed's schedule covers all
// four faults, which the first test proves without starting anything.

import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runJepsen } from '../../jepsen-lite/run.js';
import { describeSchedule, makeSchedule } from '../../jepsen-lite/schedule.js';
import { builtMainPath, repoRoot } from '../../jepsen-lite/processes.js';

const NEMESES = ['partition', 'kill', 'pause', 'transfer'];
const SEED = Number(process.env.JEPSEN_SEED ?? 17);
const TIME_S = 40;
const RATE = 80;

describe('jepsen-lite short run', () => {
  it('the CI seed schedules a partition, a kill, a pause and a transfer storm', () => {
    const steps = makeSchedule({ seed: 17, nemeses: NEMESES, durationMs: TIME_S * 1000, nodes: 3 });
    const kinds = new Set(steps.flatMap((s) => s.faults.map((f) => (f.fault.startsWith('partition-') ? 'partition' : f.fault))));
    expect([...kinds].sort(), describeSchedule(steps).join('\n')).toEqual([...NEMESES].sort());
  });

  it('finds every checker valid after a mixed-fault run on 3 nodes', { timeout: 120_000 }, async () => {
    builtMainPath(); // fails fast, with the build command, when dist/ is missing
    const { folder, results } = await runJepsen({
      nodes: 3,
      timeS: TIME_S,
      nemeses: NEMESES,
      rate: RATE,
      seed: SEED,
      runsDir: path.join(repoRoot(), 'runs'),
      folderName: `ci-${new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '')}-${SEED}`,
      drainMsMax: 20_000,
      convergeMsMax: 15_000,
    });
    const invalid = results.checkers.filter((c) => !c.valid).map((c) => `${c.name}: ${JSON.stringify(c.counts)} ${c.examples.slice(0, 5).join('; ')}`);
    const story = [
      `run folder: ${folder}`,
      `re-check:   npm run jepsen -- --replay ${folder}`,
      `reproduce:  ${results.meta.command}`,
      ...results.meta.notes.map((n) => `note: ${n}`),
      ...invalid.map((i) => `INVALID ${i}`),
    ].join('\n');
    expect(results.faults.length, story).toBeGreaterThanOrEqual(3);
    expect(results.figures.ops.enqueue.ok, story).toBeGreaterThan(100);
    expect(invalid, story).toEqual([]);
    expect(results.valid, story).toBe(true);
    // Passed: nothing to look at later (a failure keeps its folder, and prints where it is).
    fs.rmSync(folder, { recursive: true, force: true });
  });
});
