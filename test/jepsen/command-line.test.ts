// A run's report says how to reproduce it: every option that changes the run must be in that line.

import { describe, expect, it } from 'vitest';
import { commandLine, SNAPSHOT_EVERY_DEFAULT } from '../../jepsen-lite/run.js';

const BASE = { nodes: 3, timeS: 60, nemeses: ['partition', 'kill'], rate: 100, seed: 7 } as const;

describe('jepsen-lite reproduce line', () => {
  it('names the options that change the run, and leaves defaults out', () => {
    expect(commandLine({ ...BASE, nemeses: [...BASE.nemeses] })).toBe('npm run jepsen -- --nodes 3 --time 60 --nemesis partition,kill --rate 100 --seed 7');
    expect(commandLine({ ...BASE, nemeses: [...BASE.nemeses], snapshotEvery: SNAPSHOT_EVERY_DEFAULT })).not.toContain('--snapshot-every');
    expect(commandLine({ ...BASE, nemeses: [...BASE.nemeses], proxyClients: true, snapshotEvery: 100, leaderSnapshotPauseMaxMs: 1 })).toBe(
      'npm run jepsen -- --nodes 3 --time 60 --nemesis partition,kill --rate 100 --seed 7 --proxy-clients --snapshot-every 100 --leader-snapshot-pause-max-ms 1',
    );
  });
});
