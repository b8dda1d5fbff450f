import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it, expect, afterEach } from 'vitest';
import type { PersistedState } from '../../raft/storage.js';
import { COMMIT_LAG_ENTRIES, CONFIG, CRASH_ENGINES, dataOf, openForCrashTest, snapshotDataOf, termOf, type CrashEngine } from './fixtures/append-forever.js';

const FIXTURE_PATH = fileURLToPath(new URL('../../dist/test/raft/fixtures/append-forever.js', import.meta.url));
/** Per round: "durable" reports to wait for, then a delay, so each kill lands at a different point. */
const KILL_MOMENTS = [
  { reportsMin: 300, delayMs: 0 },
  { reportsMin: 400, delayMs: 7 },
  { reportsMin: 500, delayMs: 23 },
];
const CHILD_REPORTS_TIMEOUT_MS = 40_000;

interface Child {
  proc: ChildProcess;
  /** Highest index the child reported durable. */
  durableIndex: number;
  reports: number;
  snapshots: number;
  stderr: string;
  exited: Promise<void>;
}

const children: Child[] = [];
const tempDirs: string[] = [];

afterEach(async () => {
  // Kill by PID even when an assertion failed mid-round; never leave an appender running.
  for (const child of children.splice(0)) {
    if (child.proc.exitCode === null && child.proc.signalCode === null) child.proc.kill('SIGKILL');
    await child.exited;
  }
  for (const dir of tempDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
});

function startChild(dir: string, engine: CrashEngine): Child {
  const proc = spawn(process.execPath, [FIXTURE_PATH, dir, engine], { stdio: ['ignore', 'pipe', 'pipe'] });
  const child: Child = { proc, durableIndex: 0, reports: 0, snapshots: 0, stderr: '', exited: new Promise((resolve) => proc.once('close', () => resolve())) };
  children.push(child);
  let pending = '';
  proc.stdout!.setEncoding('utf8').on('data', (text: string) => {
    const lines = (pending + text).split('\n');
    pending = lines.pop()!;
    for (const line of lines) {
      if (line.startsWith('snapshot ')) child.snapshots++;
      const match = /^durable (\d+)$/.exec(line);
      if (match === null) continue;
      child.durableIndex = Math.max(child.durableIndex, Number(match[1]));
      child.reports++;
    }
  });
  proc.stderr!.setEncoding('utf8').on('data', (text: string) => (child.stderr += text));
  return child;
}

function waitForReports(child: Child, reportsMin: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => finish(new Error(`child reported ${child.reports} saves in ${CHILD_REPORTS_TIMEOUT_MS} ms, wanted ${reportsMin}`)), CHILD_REPORTS_TIMEOUT_MS);
    const onData = (): void => {
      if (child.reports >= reportsMin) finish(null);
    };
    const onExit = (code: number | null): void => finish(new Error(`child exited early (code ${code}): ${child.stderr}`));
    function finish(err: Error | null): void {
      clearTimeout(timer);
      child.proc.stdout!.off('data', onData);
      child.proc.off('exit', onExit);
      if (err === null) resolve();
      else reject(err);
    }
    child.proc.stdout!.on('data', onData);
    child.proc.once('exit', onExit);
  });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

async function loadAfterCrash(dir: string, engine: CrashEngine): Promise<PersistedState> {
  const storage = await openForCrashTest(dir, engine);
  try {
    return await storage.load();
  } finally {
    await storage.close();
  }
}

/** Everything the child could have written is a function of the index: check all of it. */
function verify(state: PersistedState, durableIndex: number, context: string): void {
  const snapshotIndex = state.snapshot?.meta.index ?? 0;
  if (state.snapshot !== null) {
    expect(state.snapshot.meta, `${context}: snapshot meta`).toEqual({ index: snapshotIndex, term: termOf(snapshotIndex), config: CONFIG });
    expect(sameBytes(state.snapshot.data, snapshotDataOf(snapshotIndex)), `${context}: snapshot ${snapshotIndex} data`).toBe(true);
  }
  state.entries.forEach((e, i) => {
    const where = `${context}: entry at position ${i} (index ${e.index})`;
    expect(e.index, `${where} breaks contiguity after snapshot ${snapshotIndex}`).toBe(snapshotIndex + 1 + i);
    expect(e.term, `${where} term`).toBe(termOf(e.index));
    expect(e.kind, `${where} kind`).toBe('normal');
    expect(sameBytes(e.data, dataOf(e.index)), `${where} data is torn or wrong (${e.data.byteLength} bytes)`).toBe(true);
  });
  const lastIndex = state.entries[state.entries.length - 1]?.index ?? snapshotIndex;
  const lastTerm = state.entries[state.entries.length - 1]?.term ?? state.snapshot?.meta.term ?? 0;
  expect(lastIndex, `${context}: the child reported ${durableIndex} durable`).toBeGreaterThanOrEqual(durableIndex);
  expect(state.hardState.commit, `${context}: commit <= last index`).toBeLessThanOrEqual(lastIndex);
  expect(state.hardState.term, `${context}: hard state term >= last entry term`).toBeGreaterThanOrEqual(lastTerm);
  // Entries and hard state travel in one batch: a torn batch would leave them out of step.
  expect(state.hardState.term, `${context}: hard state term written with the last entry`).toBe(termOf(lastIndex));
  expect(state.hardState.commit, `${context}: commit trails the last index by at most ${COMMIT_LAG_ENTRIES}`).toBeGreaterThanOrEqual(lastIndex - COMMIT_LAG_ENTRIES);
}

describe.each(CRASH_ENGINES)('%s storage survives SIGKILL while appending', (engine) => {
  it('every reported-durable entry survives, intact and contiguous, across 3 kills at different moments', async () => {
    if (!fs.existsSync(FIXTURE_PATH)) {
      throw new Error(`crash fixture ${FIXTURE_PATH} is missing: run npm run build first`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-crash-'));
    tempDirs.push(dir);
    let durableIndex = 0;
    let snapshots = 0;
    for (const [round, moment] of KILL_MOMENTS.entries()) {
      const child = startChild(dir, engine);
      await waitForReports(child, moment.reportsMin);
      if (moment.delayMs > 0) await new Promise((resolve) => setTimeout(resolve, moment.delayMs));
      child.proc.kill('SIGKILL');
      await child.exited;
      expect(child.proc.signalCode, `round ${round}: child must die by SIGKILL, stderr: ${child.stderr}`).toBe('SIGKILL');
      durableIndex = Math.max(durableIndex, child.durableIndex);
      snapshots += child.snapshots;
      const state = await loadAfterCrash(dir, engine);
      verify(state, durableIndex, `round ${round} (dir ${dir}, reported durable ${durableIndex})`);
    }
    // Batch sizes are deterministic, so a few hundred saves always cross several snapshot points.
    expect(snapshots, 'the appender took no snapshot: the snapshot path went untested').toBeGreaterThan(0);
    if (engine === 'wal-small') {
      // Rotation and deletion happened: old segments went, and more than one was written.
      const segments = fs.readdirSync(dir).filter((name) => name.endsWith('.log')).sort();
      expect(segments[0], 'the first segment was never deleted').not.toBe('wal-000000000001.log');
    }
  }, 150_000);
});
