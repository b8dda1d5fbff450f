// The checkers added for the full jepsen-lite runs, each shown catching the bug it exists for on
// a hand-made history, plus the stale-ack checker on today's token format.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkAll, checkDiskFaults, checkFinalState, checkNodeCrashes, checkScheduleFirings, checkStaleAcks, checkTotalQueue, faultWindows, tokenOrder } from '../../jepsen-lite/checkers.js';
import type { Op } from '../../jepsen-lite/history.js';
import { runFigures } from '../../jepsen-lite/metrics.js';
import { runsTable, writeReport, type RunMeta } from '../../jepsen-lite/report.js';

let t = 0;
const at = (): number => (t += 10);
const enq = (type: Op['type'], key: string, id?: string): Op => ({ type, f: 'enqueue', process: 1, timeMs: at(), value: id ? { key, id } : { key } });
const lease = (jobs: { id: string; key: string; token: string; attempt?: number }[], process = 2): Op => ({
  type: 'ok', f: 'lease', process, timeMs: at(), value: { jobs: jobs.map((j) => ({ attempt: 1, ...j })) },
});
const ack = (type: Op['type'], id: string, token: string, process = 2): Op => ({ type, f: 'ack', process, timeMs: at(), value: { id, key: id, token } });
const finalState = (jobs: [string, string][]): Op => ({ type: 'ok', f: 'final-state', process: -1, timeMs: at(), value: { jobs: jobs.map(([id, state]) => ({ id, key: id, state })) } });
const event = (fault: string, detail: string): Op => ({ type: 'info', f: 'nemesis', process: -1, timeMs: at(), value: { phase: 'event', fault, detail } });

/** k1 enqueued, leased, acked, completed. */
function healthy(): Op[] {
  return [enq('invoke', 'k1'), enq('ok', 'k1', 'k1'), lease([{ id: 'k1', key: 'k1', token: 'k1.1.a.0' }]), ack('invoke', 'k1', 'k1.1.a.0'), ack('ok', 'k1', 'k1.1.a.0')];
}

describe('final-state checker', () => {
  it('is quiet when every acknowledged job is there and every acked one completed', () => {
    const r = checkFinalState([...healthy(), finalState([['k1', 'completed']])]);
    expect(r.valid).toBe(true);
    expect(r.counts.completed).toBe(1);
  });

  it('catches an acknowledged enqueue whose job is gone at the end', () => {
    const r = checkFinalState([...healthy(), enq('invoke', 'k2'), enq('ok', 'k2', 'k2'), finalState([['k1', 'completed'], ['k2', 'missing']])]);
    expect(r.valid).toBe(false);
    expect(r.counts.lostEnqueues).toBe(1);
  });

  it('does not blame a job whose enqueue failed or is unknown', () => {
    const r = checkFinalState([...healthy(), enq('invoke', 'k2'), enq('info', 'k2'), finalState([['k1', 'completed'], ['k2', 'missing']])]);
    expect(r.valid).toBe(true);
  });

  it('catches a successful ack rolled back (job waiting again at the end)', () => {
    const r = checkFinalState([...healthy(), finalState([['k1', 'waiting']])]);
    expect(r.valid).toBe(false);
    expect(r.counts.lostCompletions).toBe(1);
    expect(r.counts.unfinished).toBe(1);
  });

  it('catches a completion nobody asked for', () => {
    const ops = [enq('invoke', 'k3'), enq('ok', 'k3', 'k3'), lease([{ id: 'k3', key: 'k3', token: 'k3.1.b.0' }]), finalState([['k3', 'completed']])];
    const r = checkFinalState(ops);
    expect(r.valid).toBe(false);
    expect(r.counts.inventedCompletions).toBe(1);
  });

  it('catches work left after the drain', () => {
    const r = checkFinalState([enq('invoke', 'k4'), enq('ok', 'k4', 'k4'), finalState([['k4', 'active']])]);
    expect(r.valid).toBe(false);
    expect(r.counts.unfinished).toBe(1);
  });

  it('counts unreadable jobs without judging them, and wants an observation', () => {
    expect(checkFinalState([...healthy(), finalState([['k1', 'unknown']])]).valid).toBe(true);
    expect(checkFinalState(healthy()).valid).toBe(false);
  });
});

describe('node-crash and disk-fault checkers', () => {
  it('flag a node that exited on its own', () => {
    expect(checkNodeCrashes(healthy()).valid).toBe(true);
    const r = checkNodeCrashes([...healthy(), event('crash', 'n2 pid 1 exited on its own (code 1): invariant')]);
    expect(r.valid).toBe(false);
    expect(r.counts.crashes).toBe(1);
  });

  it('accept a clear refusal or a start, and flag an unclear refusal', () => {
    const clean = [event('disk', 'refused: n3 after flip-log: exit 1: STORAGE_CORRUPT: checksum'), event('disk', 'started: n2 came back up after truncate-ldb')];
    const r = checkDiskFaults(clean);
    expect(r.valid).toBe(true);
    expect(r.counts.refusedClearly).toBe(1);
    expect(r.counts.started).toBe(1);
    const skipped = checkDiskFaults([...clean, event('disk', 'skipped: n1 not running'), event('disk', 'could not start: remove n3 failed')]);
    expect(skipped.valid).toBe(true);
    expect(skipped.counts.notDamaged).toBe(2);
    const bad = checkDiskFaults([...clean, event('disk', 'refused-unclear: n1 after truncate-log: exit SIGSEGV: ')]);
    expect(bad.valid).toBe(false);
    expect(bad.counts.unclear).toBe(1);
  });
});

describe('stale-lease ack checker on <id>.<attempt>.<index36>.<position36> tokens', () => {
  it('parses the order of a token', () => {
    expect(tokenOrder('p1-7.2.1z.3')).toEqual([71, 3]);
    expect(tokenOrder('j1.1.5')).toEqual([5, 0]);
    expect(tokenOrder('nonsense')).toBeNull();
  });

  it('catches a stale ack accepted even when the position digit of the later lease is smaller', () => {
    // The first lease was at raft index 0x10 (base 36 "g"), position 5; the second at index "z", position 0.
    const ops: Op[] = [
      enq('invoke', 'k1'), enq('ok', 'k1', 'k1'),
      lease([{ id: 'k1', key: 'k1', token: 'k1.1.g.5', attempt: 1 }], 2),
      lease([{ id: 'k1', key: 'k1', token: 'k1.2.z.0', attempt: 2 }], 3),
      ack('invoke', 'k1', 'k1.1.g.5', 2), ack('ok', 'k1', 'k1.1.g.5', 2),
    ];
    const r = checkStaleAcks(ops);
    expect(r.valid).toBe(false);
    expect(r.counts.staleAcksAccepted).toBe(1);
  });

  it('does not call the newer lease stale when attempts are unknown but the index orders them', () => {
    const ops: Op[] = [
      lease([{ id: 'k1', key: 'k1', token: 'k1.1.g.5', attempt: 1 }], 2),
      lease([{ id: 'k1', key: 'k1', token: 'k1.1.z.0', attempt: 1 }], 3),
      ack('invoke', 'k1', 'k1.1.z.0', 3), ack('ok', 'k1', 'k1.1.z.0', 3),
    ];
    expect(checkStaleAcks(ops).valid).toBe(true);
  });
});

describe('total-queue redeliveries and fault windows', () => {
  it('counts every extra delivery', () => {
    const ops = [...healthy(), lease([{ id: 'k1', key: 'k1', token: 'k1.2.c.0', attempt: 2 }]), lease([{ id: 'k1', key: 'k1', token: 'k1.3.d.0', attempt: 3 }])];
    const r = checkTotalQueue(ops);
    expect(r.counts.duplicated).toBe(1);
    expect(r.counts.redeliveries).toBe(2);
  });

  it('closes a window only with its stop, never with an event', () => {
    const ops: Op[] = [
      { type: 'info', f: 'nemesis', process: -1, timeMs: 100, value: { phase: 'start', fault: 'disk', detail: 'n2' } },
      { type: 'info', f: 'nemesis', process: -1, timeMs: 150, value: { phase: 'event', fault: 'disk', detail: 'n2' } },
      { type: 'info', f: 'nemesis', process: -1, timeMs: 900, value: { phase: 'stop', fault: 'disk', detail: 'n2' } },
    ];
    expect(faultWindows(ops)).toEqual([{ fault: 'disk', startMs: 100, stopMs: 900 }]);
  });
});

describe('report', () => {
  it('writes results, report and timeline from a history, and tables them', () => {
    const runs = fs.mkdtempSync(path.join(os.tmpdir(), 'jepsen-report-'));
    try {
      const folder = path.join(runs, '20250101-000000-9');
      fs.mkdirSync(folder);
      const ops: Op[] = [
        ...healthy(),
        { type: 'info', f: 'nemesis', process: -1, timeMs: 20, value: { phase: 'start', fault: 'kill', detail: 'kill -9 n1' } },
        { type: 'info', f: 'nemesis', process: -1, timeMs: 1500, value: { phase: 'stop', fault: 'kill', detail: 'kill -9 n1' } },
        finalState([['k1', 'completed']]),
        { type: 'ok', f: 'converge', process: -1, timeMs: at(), value: { nodes: [{ node: 'n1', appliedIndex: 5, commitIndex: 5, hash: 'aa' }], boundMs: 1000, converged: true } },
      ];
      const meta: RunMeta = {
        seed: 9, nodes: 3, nemeses: ['kill'], timeS: 1, rate: 10, producers: 1, workers: 1, queues: ['q0'], toxiproxy: 'ours', startedAt: 'now',
        schedule: ['3.0 s +2.0 s: kill'], workloadEndMs: 40, drain: { drained: true, elapsedMs: 5, left: {} }, notes: [], command: 'npm run jepsen -- --seed 9', replay: 'npm run jepsen -- --replay x', wallMs: 1,
      };
      const results = writeReport(folder, ops, meta);
      expect(results.valid).toBe(true);
      expect(results.checkers.map((c) => c.name)).toEqual(checkAll(ops).map((c) => c.name));
      expect(results.faults).toEqual([{ fault: 'kill', startMs: 20, stopMs: 1500, detail: 'kill -9 n1' }]);
      expect(fs.readFileSync(path.join(folder, 'report.md'), 'utf8')).toContain('**VALID**');
      expect(fs.readFileSync(path.join(folder, 'timeline.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<\/svg>\n$/);
      const table = runsTable(runs).split('\n');
      expect(table).toHaveLength(3);
      expect(table[2]).toMatch(/^\| 3 \| kill \| 9 \| 1 \| \d+ \| 1 \| 0 \|/);
    } finally {
      fs.rmSync(runs, { recursive: true, force: true });
    }
  });

  it('pairs invokes with completions for latency figures', () => {
    const f = runFigures(healthy());
    expect(f.ops.enqueue.ok).toBe(1);
    expect(f.enqueueLatency.count).toBe(1);
    expect(f.ackLatency.p50Ms).toBe(10);
  });
});

describe('schedule-firings checker', () => {
  const probe = { queue: 'jl-schedule', scheduleId: 'every-second', everyMs: 1000 };
  const set = (timeMs: number, type: 'ok' | 'fail' = 'ok'): Op => ({ type, f: 'schedule-set', process: -1, timeMs, value: probe });
  const final = (timeMs: number, runs: number, enqueued: number, refused = 0): Op => ({ type: 'ok', f: 'schedule-final', process: -1, timeMs, value: { ...probe, runs, refused, enqueued } });

  it('is quiet when each firing enqueued one job and the firings fit the time', () => {
    const r = checkScheduleFirings([set(0), final(10_500, 9, 8, 1)]);
    expect(r).toMatchObject({ valid: true, counts: { runs: 9, refused: 1, enqueued: 8, runsMax: 11 } });
  });

  it('catches a firing that enqueued its job twice (or none)', () => {
    expect(checkScheduleFirings([set(0), final(10_500, 9, 18)]).valid).toBe(false);
    expect(checkScheduleFirings([set(0), final(10_500, 9, 8)]).examples).toEqual(['9 firings (0 refused) but 8 jobs enqueued']);
  });

  it('catches more firings than the intervals allow (a firing repeated by a new leader)', () => {
    const r = checkScheduleFirings([set(0), final(10_500, 14, 14)]);
    expect(r.valid).toBe(false);
    expect(r.examples).toEqual(['14 firings in 10500 ms of 1000 ms intervals: at most 11']);
  });

  it('catches a schedule that never fired, one that could not be set or read back, and passes a run without the probe', () => {
    expect(checkScheduleFirings([set(0), final(10_500, 0, 0)]).valid).toBe(false);
    expect(checkScheduleFirings([set(0, 'fail')]).valid).toBe(false);
    expect(checkScheduleFirings([set(0)]).valid).toBe(false);
    expect(checkScheduleFirings(healthy())).toMatchObject({ valid: true, counts: { schedules: 0 } });
  });
});
