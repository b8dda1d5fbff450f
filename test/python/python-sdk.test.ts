// The Python SDK (sdk/python) against real node processes: its unittest suite, and a producer
// and a worker of it talking to a follower only, checked from this side through the TS SDK.
// Needs Debian's python3-msgpack for /usr/bin/python3 (.ci/run installs it); without it these
// tests fail with a message saying so, they never skip.

import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { freePort, repoRoot, waitUntil } from '../../jepsen-lite/processes.js';
import { MUTATING_OPS } from '../../src/protocol/messages.js';
import { testClient, useClusters } from '../cluster/load.js';
import { parseExposition, value } from '../observability/prom-text.js';

const PYTHON = process.env.RAFTQ_PYTHON ?? '/usr/bin/python3';
const SDK_DIR = path.join(repoRoot(), 'sdk', 'python');
const SCENARIO = path.join(repoRoot(), 'test', 'python', 'scenario.py');
/** Bounds one Python run; the suite and the scenario each take about a second. */
const PYTHON_RUN_TIMEOUT_MS = 45_000;
/** The scenario worker's handler threads (CONCURRENCY in scenario.py). */
const SCENARIO_CONCURRENCY = 4;

const startCluster = useClusters();

function requirePythonWithMsgpack(): void {
  const probe = spawnSync(PYTHON, ['-c', 'import msgpack'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error(
      `${PYTHON} cannot import msgpack (${probe.error?.message ?? probe.stderr.trim()}): the Python SDK tests need it. ` +
        'Install it with `apt-get install -y --no-install-recommends python3-msgpack` (.ci/run does), or point RAFTQ_PYTHON at a python3 that has it.',
    );
  }
}

interface PythonRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs Python to its end (killed by PID past the timeout), with the SDK importable. */
function runPython(args: string[], cwd: string): Promise<PythonRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, { cwd, env: { ...process.env, PYTHONPATH: SDK_DIR, PYTHONDONTWRITEBYTECODE: '1' } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), PYTHON_RUN_TIMEOUT_MS);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function describeRun(run: PythonRun): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout.slice(-4000)}\n--- stderr\n${run.stderr.slice(-4000)}`;
}

interface ScenarioReport {
  ids: string[];
  later: { state: string; runAtMsOff: number; paused: boolean[]; cancel: { state: string; cancelled: boolean }; missing: null };
  schedule: { nextRunIsThreeUtc: boolean; listed: unknown[]; one: unknown; missing: null; removed: boolean[]; left: number };
  keyed: string[];
  answeredBy: string;
  leader: string;
  acks: Record<string, number>;
  failures: { id: string; attempt: number; error: string; state: string }[];
  workerErrors: string[];
  /** The worker's requests by op, and the most jobs one of its leases asked for. */
  workerRequests: Record<string, number>;
  leaseMaxMost: number;
  states: Record<string, string>;
  results: Record<string, unknown>;
  attempts: Record<string, number>;
}

describe('the Python SDK', () => {
  it('passes its own unittest suite (framing, error mapping, sessions, retries, the worker)', async () => {
    requirePythonWithMsgpack();
    const run = await runPython(['-m', 'unittest', 'discover', '-s', 'tests', '-t', '.'], SDK_DIR);
    expect(run.code, describeRun(run)).toBe(0);
    // unittest reports on stderr: "Ran N tests" and "OK".
    expect(run.stderr).toMatch(/Ran [1-9]\d* tests/);
    expect(run.stderr).toMatch(/\nOK\b/);
  });

  it('sends a client session with exactly the ops the node treats as mutating (a missing one is refused: clientId required)', async () => {
    requirePythonWithMsgpack();
    const run = await runPython(['-c', 'import json; from raftq.transport import MUTATING_OPS; print(json.dumps(sorted(MUTATING_OPS)))'], SDK_DIR);
    expect(run.code, describeRun(run)).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual([...MUTATING_OPS].sort());
  });

  it('submits through a follower and works jobs there: each completed once with its result; retries, then success or the DLQ', async () => {
    requirePythonWithMsgpack();
    const cluster = await startCluster({ size: 3 });
    const leader = await cluster.waitForLeader();
    const follower = cluster.memberIds().find((id) => id !== leader)!;
    await waitUntil(`${follower} to know the leader`, 10_000, async () => (await cluster.status(follower)).leader === leader);
    const ts = testClient(cluster.clientAddresses([leader]));
    try {
      // Jobs from TypeScript, for the Python worker: payloads and results cross the languages both ways.
      const tsIds = await Promise.all([100, 101, 102].map((n) => ts.submit('py-e2e', { n })));
      // A dead address first: the Python client fails over to the next node in its list.
      const nodes = [`127.0.0.1:${await freePort()}`, ...cluster.clientAddresses([follower])].join(',');
      const run = await runPython([SCENARIO, '--nodes', nodes, '--ts-jobs', tsIds.join(',')], SDK_DIR);
      expect(run.code, describeRun(run)).toBe(0);
      const report = JSON.parse(run.stdout.trim().split('\n').pop()!) as ScenarioReport;

      expect(report.answeredBy).toBe(follower);
      expect(report.leader).toBe(leader);
      expect(report.workerErrors).toEqual([]);
      // Its handlers (instant) outpace a lease round trip: it leased ahead of its free threads.
      expect(report.leaseMaxMost).toBeGreaterThan(SCENARIO_CONCURRENCY);
      // Acks that finished while one was under way went together, and the follower answered them.
      expect(report.workerRequests.ackMany ?? 0).toBeGreaterThan(0);
      const metrics = parseExposition(await (await fetch(`http://${cluster.addresses(follower).httpAddr}/metrics`)).text());
      expect(value(metrics, 'raftq_requests_total', { op: 'ackMany', code: 'OK' })).toBeGreaterThanOrEqual(report.workerRequests.ackMany!);
      expect(report.keyed[0]).toBe(report.keyed[1]);
      expect(report.later).toEqual({ state: 'delayed', runAtMsOff: 0, paused: [true, false], cancel: { state: 'cancelled', cancelled: true }, missing: null });
      expect(report.schedule).toEqual({
        nextRunIsThreeUtc: true,
        // The listing leaves the payload out (its msgpack is 14 bytes); one schedule has it.
        listed: [['nightly', '0 3 * * *', null, { priority: 8, maxAttempts: 2 }, 14, 0]],
        one: [{ payload: { report: 'daily' }, priority: 8, maxAttempts: 2 }, 14],
        missing: null,
        removed: [true, false],
        left: 0,
      });
      const done = [...report.ids, report.keyed[0]!, ...tsIds];
      expect(new Set(done).size).toBe(done.length);
      // Exactly once: one accepted ack per job on the Python side, and the node counts no more.
      expect(report.acks).toEqual(Object.fromEntries([...done, 'flaky'].map((id) => [id, 1])));
      const stats = await ts.stats('py-e2e');
      expect(stats.totals.completed).toBe(done.length);
      expect(stats.counts.completed).toBe(done.length);
      for (const id of done) {
        const job = await ts.get(id);
        const n = (job?.payload as { n: number }).n;
        expect({ id, state: job?.state, result: job?.result, attempts: job?.attempts }).toEqual({ id, state: 'completed', result: { double: n * 2, by: 'python' }, attempts: 1 });
      }
      expect(report.results[tsIds[0]!]).toEqual({ double: 200, by: 'python' });

      // Retries: two failed attempts, then success; and a job that never succeeds, dead-lettered.
      const flaky = await ts.get('flaky');
      expect({ state: flaky?.state, attempts: flaky?.attempts, result: flaky?.result }).toEqual({ state: 'completed', attempts: 3, result: { recovered: 3 } });
      const doomed = await ts.get('doomed');
      expect({ state: doomed?.state, attempts: doomed?.attempts, lastError: doomed?.lastError }).toEqual({ state: 'dead', attempts: 2, lastError: 'RuntimeError: doomed attempt 2' });
      expect([...report.failures].sort(byIdThenAttempt)).toEqual([
        { id: 'doomed', attempt: 1, error: 'doomed attempt 1', state: 'failed' },
        { id: 'doomed', attempt: 2, error: 'doomed attempt 2', state: 'dead' },
        { id: 'flaky', attempt: 1, error: 'flaky attempt 1', state: 'failed' },
        { id: 'flaky', attempt: 2, error: 'flaky attempt 2', state: 'failed' },
      ]);
      const dead = await ts.dlq.list('py-retry');
      expect(dead.jobs.map((job) => job.id)).toEqual(['doomed']);
      expect(cluster.unexpectedExits()).toEqual([]);
    } finally {
      await ts.close();
    }
  }, 60_000);
});

function byIdThenAttempt(a: { id: string; attempt: number }, b: { id: string; attempt: number }): number {
  return a.id === b.id ? a.attempt - b.attempt : a.id < b.id ? -1 : 1;
}
