import { describe, expect, it } from 'vitest';
import { JobStateMachine } from '../../src/jobs/state-machine.js';
import type { Command } from '../../src/jobs/types.js';
import { SCHEDULES_MAX } from '../../src/limits.js';
import { bytes, errorCode, Harness, T0, value, valueOf } from './harness.js';

const MINUTE = 60_000;

function setEvery(h: Harness, scheduleId: string, everyMs: number, extra: Partial<Extract<Command, { op: 'scheduleSet' }>> = {}) {
  return value<'scheduleSet'>(h.apply({ op: 'scheduleSet', queue: 'reports', scheduleId, everyMs, job: { payload: bytes({ id: scheduleId }), priority: 7 }, ...extra } as Command));
}

function jobsOf(h: Harness): { id: string; runAtMs: number; priority: number; payload: unknown; createdAtMs: number }[] {
  const leased = h.lease(['reports'], 100);
  return leased.map((j) => {
    const job = h.machine.getJob(j.id)!;
    return { id: j.id, runAtMs: job.runAtMs, priority: j.priority, payload: valueOf(job.payload), createdAtMs: job.createdAtMs };
  });
}

describe('schedules (repeatable jobs)', () => {
  it('fires an interval schedule one interval after it is set, then every interval, with its job', () => {
    const h = new Harness();
    expect(setEvery(h, 'hourly', 3_600_000)).toEqual({ created: true, nextRunAtMs: T0 + 3_600_000 });
    expect(h.machine.nextDueMs()).toBe(T0 + 3_600_000);
    h.advance(3_600_000 - 1);
    expect(h.tick().fired).toHaveLength(0);
    h.advance(1);
    expect(h.tick().fired).toHaveLength(1);
    const [job] = jobsOf(h);
    expect(job).toMatchObject({ priority: 7, payload: { id: 'hourly' }, createdAtMs: T0 + 3_600_000 });
    const [schedule] = h.machine.listSchedules();
    expect(schedule).toMatchObject({ queue: 'reports', scheduleId: 'hourly', runs: 1, refused: 0, lastRunAtMs: T0 + 3_600_000, lastJobId: job!.id, nextRunAtMs: T0 + 7_200_000 });
  });

  it('fires once for all the times it missed, then keeps its phase', () => {
    const h = new Harness();
    setEvery(h, 'minutely', MINUTE);
    h.advance(10 * MINUTE + 30_000); // down for ten firings
    expect(h.tick().fired).toHaveLength(1);
    expect(jobsOf(h)).toHaveLength(1);
    // Next on the grid T0 + k minutes, after now: T0 + 11 min.
    expect(h.machine.listSchedules()[0]).toMatchObject({ lastRunAtMs: T0 + MINUTE, nextRunAtMs: T0 + 11 * MINUTE, runs: 1 });
  });

  it('starts at startAtMs when given', () => {
    const h = new Harness();
    expect(setEvery(h, 'later', MINUTE, { startAtMs: T0 + 5_000 }).nextRunAtMs).toBe(T0 + 5_000);
    h.advance(5_000);
    expect(h.tick().fired).toHaveLength(1);
    expect(h.machine.listSchedules()[0]!.nextRunAtMs).toBe(T0 + 5_000 + MINUTE);
  });

  it('fires a cron schedule at the minutes it names (UTC)', () => {
    const h = new Harness();
    const set = value<'scheduleSet'>(h.apply({ op: 'scheduleSet', queue: 'reports', scheduleId: 'quarter', cron: '*/15 * * * *', job: {} }));
    const first = set.nextRunAtMs!;
    expect(first % (15 * MINUTE)).toBe(0);
    expect(first).toBeGreaterThanOrEqual(T0);
    expect(first - T0).toBeLessThan(15 * MINUTE);
    h.nowMs = first;
    expect(h.tick().fired).toHaveLength(1);
    expect(h.machine.listSchedules()[0]).toMatchObject({ cron: '*/15 * * * *', everyMs: null, nextRunAtMs: first + 15 * MINUTE });
  });

  it('fires due schedules in (time, queue, id) order, each job with its own id', () => {
    const h = new Harness();
    for (const id of ['b', 'a', 'c']) setEvery(h, id, MINUTE);
    h.apply({ op: 'scheduleSet', queue: 'reports', scheduleId: 'early', everyMs: MINUTE, startAtMs: T0 + 30_000, job: { payload: bytes({ id: 'early' }) } });
    h.advance(MINUTE);
    expect(h.tick().fired).toHaveLength(4);
    const jobs = jobsOf(h).sort((x, y) => (x.id < y.id ? -1 : 1));
    expect(jobs.map((j) => (j.payload as { id: string }).id)).toEqual(['early', 'a', 'b', 'c']);
  });

  it('keeps the next run of a schedule set again with the same timing (an app upserting its schedules at each boot)', () => {
    const h = new Harness();
    setEvery(h, 'daily', 24 * 60 * MINUTE);
    for (let i = 0; i < 3; i++) {
      h.advance(12 * 60 * MINUTE - 1);
      // Recomputed at each set, it would move a day past every boot and never come.
      expect(setEvery(h, 'daily', 24 * 60 * MINUTE, { job: { name: `boot-${i}` } })).toEqual({ created: false, nextRunAtMs: T0 + 24 * 60 * MINUTE });
      h.tick();
    }
    expect(h.machine.listSchedules()[0]).toMatchObject({ runs: 1, job: { name: 'boot-2' } });
    // A start given, or another timing, sets the next run anew.
    expect(setEvery(h, 'daily', 24 * 60 * MINUTE, { startAtMs: h.nowMs + 5 }).nextRunAtMs).toBe(h.nowMs + 5);
    expect(setEvery(h, 'daily', 60 * MINUTE).nextRunAtMs).toBe(h.nowMs + 60 * MINUTE);
  });

  it('lists schedules without their payloads, which getSchedule has', () => {
    const h = new Harness();
    const payload = bytes({ big: 'x'.repeat(1000) });
    setEvery(h, 's', MINUTE, { job: { payload, name: 'n' } });
    const [listed] = h.machine.listSchedules();
    expect(listed!.job).toEqual({ name: 'n' });
    expect(listed!.payloadBytes).toBe(payload.byteLength);
    const one = h.machine.getSchedule('reports', 's')!;
    expect(one.job.name).toBe('n');
    expect(Buffer.from(one.job.payload!).equals(Buffer.from(payload))).toBe(true);
    expect(h.machine.getSchedule('reports', 'none')).toBeNull();
  });

  it('replaces a schedule in place: new timing and job, same creation time and history', () => {
    const h = new Harness();
    setEvery(h, 's', MINUTE);
    h.advance(MINUTE);
    h.tick();
    h.advance(1000);
    const replaced = value<'scheduleSet'>(h.apply({ op: 'scheduleSet', queue: 'reports', scheduleId: 's', everyMs: 5 * MINUTE, job: { name: 'v2' } }));
    expect(replaced).toEqual({ created: false, nextRunAtMs: h.nowMs + 5 * MINUTE });
    expect(h.machine.listSchedules()[0]).toMatchObject({ everyMs: 5 * MINUTE, job: { name: 'v2' }, runs: 1, createdAtMs: T0, updatedAtMs: h.nowMs });
  });

  it('removes a schedule: it fires no more, and removing it again says so', () => {
    const h = new Harness();
    setEvery(h, 's', MINUTE);
    expect(value<'scheduleRemove'>(h.apply({ op: 'scheduleRemove', queue: 'reports', scheduleId: 's' }))).toEqual({ removed: true });
    expect(value<'scheduleRemove'>(h.apply({ op: 'scheduleRemove', queue: 'reports', scheduleId: 's' }))).toEqual({ removed: false });
    expect(h.machine.nextDueMs()).toBeNull();
    h.advance(10 * MINUTE);
    expect(h.tick().fired).toHaveLength(0);
  });

  it('counts a firing the full cluster refuses, enqueues nothing for it, and fires again later', () => {
    const h = new Harness();
    h.machine = new JobStateMachine({ stateBytesMax: 1024 });
    setEvery(h, 's', MINUTE);
    h.enqueue(...Array.from({ length: 7 }, () => ({ queue: 'other' }))); // fills the state
    h.advance(MINUTE);
    expect(h.tick().fired).toHaveLength(0);
    expect(h.machine.listSchedules()[0]).toMatchObject({ runs: 1, refused: 1, lastJobId: null, nextRunAtMs: T0 + 2 * MINUTE });
  });

  it('refuses bad schedules with the field at fault, on every replica alike', () => {
    const h = new Harness();
    const set = (cmd: Record<string, unknown>) => h.apply({ op: 'scheduleSet', queue: 'q', scheduleId: 's', job: {}, ...cmd } as unknown as Command);
    const field = (cmd: Record<string, unknown>) => {
      const outcome = set(cmd);
      return outcome.ok ? null : outcome.error.field;
    };
    expect(field({ everyMs: 999 })).toBe('everyMs');
    expect(field({ everyMs: MINUTE, cron: '* * * * *' })).toBe('everyMs');
    expect(field({})).toBe('everyMs');
    expect(field({ cron: '61 * * * *' })).toBe('cron');
    expect(field({ everyMs: MINUTE, job: { queue: 'x' } })).toBe('job.queue');
    expect(field({ everyMs: MINUTE, job: { priority: 10 } })).toBe('job.priority');
    expect(field({ everyMs: MINUTE, job: { payload: new Uint8Array(64 * 1024 + 1) } })).toBe('job.payload');
    expect(field({ everyMs: MINUTE, scheduleId: 'a/b' })).toBe('scheduleId');
    expect(field({ everyMs: MINUTE, job: { foo: [1, 2] } })).toBe('job.foo');
    expect(field({ cron: '0 0 30 2 *' })).toBe('cron');
    expect(errorCode(set({ everyMs: MINUTE, startAtMs: -1 }))).toBe('BAD_REQUEST');
    expect(h.machine.listSchedules()).toEqual([]);
  });

  it(`holds at most ${SCHEDULES_MAX} schedules; replacing one still works at the bound`, () => {
    const h = new Harness();
    for (let i = 0; i < SCHEDULES_MAX; i++) setEvery(h, `s${i}`, MINUTE);
    const over = h.apply({ op: 'scheduleSet', queue: 'reports', scheduleId: 'one-more', everyMs: MINUTE, job: {} });
    expect(over.ok ? null : over.error.field).toBe('scheduleId');
    expect(setEvery(h, 's7', 2 * MINUTE).created).toBe(false);
  });

  it('takes nil for the absent of everyMs and cron, and a nil payload as none', () => {
    const h = new Harness();
    const set = h.apply({ op: 'scheduleSet', queue: 'reports', scheduleId: 'n', everyMs: MINUTE, cron: null, job: { payload: null } } as unknown as Command);
    expect(set.ok).toBe(true);
    h.advance(MINUTE);
    const [id] = h.tick().fired;
    expect(h.machine.getJob(id!)!.payload).toBeNull();
  });

  it('survives a snapshot: the restored machine fires the same jobs and hashes the same', () => {
    const h = new Harness();
    setEvery(h, 'every', MINUTE, { job: { payload: bytes({ big: 'x'.repeat(300) }), name: 'n', backoff: { baseMs: 5 }, maxAttempts: 4, leaseMs: 1000 } });
    h.apply({ op: 'scheduleSet', queue: 'crons', scheduleId: 'daily', cron: '@daily', job: {} });
    h.advance(MINUTE);
    h.tick();
    const restored = new Harness();
    restored.machine = JobStateMachine.restore(h.machine.snapshot());
    restored.index = h.index;
    restored.nowMs = h.nowMs;
    expect(restored.machine.stateHash()).toBe(h.machine.stateHash());
    expect(restored.machine.listSchedules()).toEqual(h.machine.listSchedules());
    expect(restored.machine.nextDueMs()).toBe(h.machine.nextDueMs());
    for (const m of [h, restored]) {
      m.advance(24 * 60 * MINUTE);
      m.tick();
    }
    expect(restored.machine.stateHash()).toBe(h.machine.stateHash());
    expect(restored.machine.listSchedules().map((s) => s.runs)).toEqual([1, 2]);
  });
});
