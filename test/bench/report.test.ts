// The human-readable `raftq bench` output shows each scenario's own figures, with units.
import { describe, expect, it } from 'vitest';
import { formatResult } from '../../cluster/bench/report.js';
import type { BenchResult } from '../../cluster/bench/scenarios.js';

describe('raftq bench table', () => {
  it('catchup: the follower, its seconds to catch up, how (snapshot installs, image size) and RSS before and at peak; no latency row', () => {
    const result: BenchResult = {
      scenario: 'catchup', nodes: 3, jobs: 1_000_000, concurrency: 1, seconds: 4.1, jobsPerSec: 243_902,
      latencyMs: { p50: 0, p95: 0, p99: 0, max: 0 }, rssMb: { n1: 440.1, n2: 390.5, n3: 401 }, latencyOf: 'not measured (catchup scenario)', payloadBytes: 100,
      catchup: {
        follower: 'n1', leader: 'n2', commitIndex: 265, snapshotIndex: 264, snapshotBytes: 159_470_622, snapshotsInstalled: 1, prefillSeconds: 7.2, catchUpSeconds: 4.106,
        rssBeforeMb: { n1: null, n2: 391.6, n3: 453.9 }, peakRssMb: { n1: 457.2, n2: 410.8, n3: 453.9 },
      },
    };
    const text = formatResult(result);
    expect(text).toMatch(/catch-up\s+n1 applied index 265 4\.11 s after it started \(1 snapshot install; image at index 264, 152\.1 MiB\)/);
    expect(text).toMatch(/rss MB before\s+n1 n\/a  n2 391\.6  n3 453\.9/);
    expect(text).toMatch(/rss MB peak\s+n1 457\.2  n2 410\.8  n3 453\.9/);
    expect(text).not.toMatch(/latency ms/);
  });
});
