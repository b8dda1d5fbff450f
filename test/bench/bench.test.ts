// `raftq bench --json` prints one JSON object of the documented shape. Correctness only: the
// figures depend on the machine, so nothing here asserts a speed beyond "some jobs went through".
// The bin is run as `npx raftq` runs it, as an executable file (shebang and mode), not through node.

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const MAIN_JS = fileURLToPath(new URL('../../dist/cluster/main.js', import.meta.url));
const ARGS = ['bench', '--spawn', '1', '--scenario', 'enqueue', '--jobs', '500', '--concurrency', '8', '--warmup-jobs', '1000', '--json'];
const RUN_TIMEOUT_MS = 20_000;

function runBench(args = ARGS): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    // RAFTQ_NODES must not steer the benchmark to a developer's running cluster.
    const env = { ...process.env };
    delete env['RAFTQ_NODES'];
    const child = spawn(MAIN_JS, args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // SIGTERM lets the bench end the node it spawned (its exit hook kills it by PID).
    const timer = setTimeout(() => child.kill('SIGTERM'), RUN_TIMEOUT_MS);
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function expectPercentiles(value: unknown): void {
  expect(value).toEqual({ p50: expect.any(Number), p95: expect.any(Number), p99: expect.any(Number), max: expect.any(Number) });
  const p = value as { p50: number; p95: number; p99: number; max: number };
  expect(p.p50).toBeLessThanOrEqual(p.p95);
  expect(p.p95).toBeLessThanOrEqual(p.p99);
  expect(p.p99).toBeLessThanOrEqual(p.max);
}

describe('raftq bench', () => {
  it('prints one JSON object with the documented keys for a spawned one-node enqueue run', async () => {
    expect(fs.existsSync(MAIN_JS), `build first: ${MAIN_JS} is missing (npm run build)`).toBe(true);
    expect(fs.statSync(MAIN_JS).mode & 0o111, `${MAIN_JS} must be executable (npm run build sets its mode)`).not.toBe(0);
    const { code, stdout, stderr } = await runBench();
    expect(code, `dist/cluster/main.js ${ARGS.join(' ')} failed:\n${stderr}`).toBe(0);
    const lines = stdout.trim().split('\n');
    expect(lines, `stdout must be exactly one JSON line, got:\n${stdout}`).toHaveLength(1);
    const result = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(result).toMatchObject({ scenario: 'enqueue', nodes: 1, jobs: 500, concurrency: 8 });
    expect(typeof result['seconds']).toBe('number');
    expect(result['seconds']).toBeGreaterThan(0);
    expect(typeof result['jobsPerSec']).toBe('number');
    expect(result['jobsPerSec']).toBeGreaterThan(0);
    expectPercentiles(result['latencyMs']);
    const rss = result['rssMb'] as Record<string, unknown>;
    expect(Object.keys(rss)).toEqual(['n1']);
    expect(rss['n1'] === null || typeof rss['n1'] === 'number').toBe(true);
    // The warm-up ran before the measured phase and is reported apart from it, with the wait for
    // the spawned node to be idle again (at least one 0.5 s window).
    expect(result['warmup']).toEqual({ jobs: 1000, seconds: expect.any(Number), settleSeconds: expect.any(Number) });
    expect((result['warmup'] as { settleSeconds: number }).settleSeconds).toBeGreaterThanOrEqual(0.5);
    expect(stderr).toMatch(/warm-up: worker: 1000\/1000 jobs/);
  }, 30_000);

  it('catchup: a follower down while jobs were submitted and snapshotted catches up by InstallSnapshot', async () => {
    const args = ['bench', '--spawn', '3', '--scenario', 'catchup', '--snapshot-jobs', '20000', '--json'];
    const { code, stdout, stderr } = await runBench(args);
    expect(code, `dist/cluster/main.js ${args.join(' ')} failed:\n${stderr}`).toBe(0);
    const result = JSON.parse(stdout.trim()) as Record<string, unknown>;
    expect(result).toMatchObject({ scenario: 'catchup', nodes: 3, jobs: 20000 });
    const catchup = result['catchup'] as Record<string, unknown>;
    expect(catchup['follower']).not.toBe(catchup['leader']);
    // Nothing but the snapshot could bring it back: the log it missed was compacted away.
    expect(catchup['snapshotsInstalled']).toBe(1);
    expect(catchup['snapshotBytes']).toBeGreaterThan(20000 * 100);
    expect(catchup['catchUpSeconds']).toBeGreaterThan(0);
    const peak = catchup['peakRssMb'] as Record<string, number | null>;
    expect(Object.keys(peak).sort()).toEqual(['n1', 'n2', 'n3']);
    expect(peak[catchup['follower'] as string]).toBeGreaterThan(0);
  }, 60_000);
});
