import { describe, expect, it } from 'vitest';
import { JobStateMachine } from '../../src/jobs/state-machine.js';
import { JOB_NAME_DEFAULT, PRIORITY_DEFAULT, TICK_ITEMS_MAX } from '../../src/jobs/defaults.js';
import { BACKOFF_DEFAULT, DELAY_MS_MAX, IDEMPOTENCY_WINDOW_MS, LEASE_MS_DEFAULT, MAX_ATTEMPTS_DEFAULT, RETAIN_COMPLETED_MS, STATE_BYTES_PER_JOB } from '../../src/limits.js';
import type { Command, WireJob } from '../../src/jobs/types.js';
import { bytes, errorCode, Harness, T0, value, valueOf } from './harness.js';

describe('enqueue', () => {
  it('keeps payload bytes exactly as they came (every byte value), never decoding them', () => {
    const h = new Harness();
    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    const id = h.enqueueOne({ queue: 'q', payload: every });
    expect(Buffer.from(h.machine.getJob(id)!.payload!).equals(Buffer.from(every))).toBe(true);
    expect(Buffer.from(h.leaseOne('q').payload!).equals(Buffer.from(every))).toBe(true);
    // A snapshot carries them too.
    const restored = JobStateMachine.restore(h.machine.snapshot());
    expect(Buffer.from(restored.getJob(id)!.payload!).equals(Buffer.from(every))).toBe(true);
  });

  it('refuses a payload or result that is not bytes, on every replica alike', () => {
    const h = new Harness();
    const notBytes = { to: 'a@b.c' } as unknown as Uint8Array;
    const refused = h.apply({ op: 'enqueue', jobs: [{ queue: 'q', payload: notBytes }] });
    expect(errorCode(refused)).toBe('BAD_REQUEST');
    expect(refused.ok ? null : refused.error.field).toBe('jobs[0].payload');
    h.enqueueOne({ queue: 'q', payload: bytes(1) });
    const job = h.leaseOne('q');
    const ack = h.apply({ op: 'ack', jobId: job.id, token: job.token, result: notBytes });
    expect(ack.ok ? null : ack.error.field).toBe('result');
  });

  it('refuses, whole, an enqueue that would take the job state past its limit (OVERLOADED), and takes jobs again once some are gone', () => {
    const stateBytesMax = 64 * 1024;
    const h = new Harness();
    h.machine = new JobStateMachine({ stateBytesMax });
    const payload = new Uint8Array(200);
    const batch = (n: number): Command => ({ op: 'enqueue', jobs: Array.from({ length: n }, () => ({ queue: 'q', payload, maxAttempts: 1 })) });
    let accepted = 0;
    for (;;) {
      const out = h.apply(batch(20));
      if (!out.ok) {
        expect(errorCode(out)).toBe('OVERLOADED');
        expect(out.error.message).toMatch(/^the cluster holds \d+ KiB of jobs and holds at most 64 KiB; submit again once workers drain queues$/);
        break;
      }
      accepted += 20;
      expect(accepted).toBeLessThan(1000);
    }
    // (STATE_BYTES_PER_JOB + 200 B of payload) × jobs stays within 64 KiB.
    expect(accepted).toBe(Math.floor(stateBytesMax / (STATE_BYTES_PER_JOB + 200) / 20) * 20);
    expect(h.machine.jobCount).toBe(accepted);
    // A restored replica refuses the same.
    const restored = JobStateMachine.restore(h.machine.snapshot(), { stateBytesMax });
    expect(errorCode(restored.applyBatch(h.index + 1, { nowMs: h.nowMs, envelopes: [{ clientId: '', seq: 0, cmd: batch(20) }] })[0]!)).toBe('OVERLOADED');

    // A client's refused request is not remembered: its retry, same seq, applies once there is room.
    expect(errorCode(h.apply(batch(20), 'client-a', 7))).toBe('OVERLOADED');
    // Error messages count too: 20 dead jobs with 500-character errors, then purged.
    const before = h.machine.jobCount;
    for (const job of h.lease(['q'], 20)) h.fail(job, false, 'e'.repeat(500));
    expect(errorCode(h.apply({ op: 'enqueue', jobs: [{ queue: 'q' }] }))).toBe('OVERLOADED');
    h.apply({ op: 'dlqPurge', queue: 'q' });
    expect(h.machine.jobCount).toBe(before - 20);
    expect(h.apply(batch(20), 'client-a', 7).ok).toBe(true);
    // Applied once: the same seq again answers from the session, creating nothing.
    expect(h.apply(batch(20), 'client-a', 7).ok).toBe(true);
    expect(h.machine.jobCount).toBe(before);
  });

  it('counts ack results in the job state, and frees them with their jobs', () => {
    const h = new Harness();
    h.machine = new JobStateMachine({ stateBytesMax: 64 * 1024 });
    const ids = h.enqueue(...Array.from({ length: 10 }, () => ({ queue: 'q' }))).ids;
    expect(ids).toHaveLength(10);
    // Ten completed jobs whose results fill the limit but for less than three more jobs.
    const resultBytes = Math.floor((64 * 1024 - 2 * STATE_BYTES_PER_JOB) / 10) - STATE_BYTES_PER_JOB;
    for (const job of h.lease(['q'], 10)) h.apply({ op: 'ack', jobId: job.id, token: job.token, result: new Uint8Array(resultBytes) });
    const three: Command = { op: 'enqueue', jobs: [{ queue: 'q' }, { queue: 'q' }, { queue: 'q' }] };
    expect(errorCode(h.apply(three))).toBe('OVERLOADED');
    // A snapshot restores the count.
    const restored = JobStateMachine.restore(h.machine.snapshot(), { stateBytesMax: 64 * 1024 });
    expect(errorCode(restored.applyBatch(h.index + 1, { nowMs: h.nowMs, envelopes: [{ clientId: '', seq: 0, cmd: three }] })[0]!)).toBe('OVERLOADED');
    // Retention removes the completed jobs, results and all.
    h.advance(RETAIN_COMPLETED_MS + 1);
    h.tick();
    expect(h.machine.jobCount).toBe(0);
    expect(h.apply(three).ok).toBe(true);
  });

  it('fills in the documented defaults', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q' });
    const expected: WireJob = {
      id,
      queue: 'q',
      name: JOB_NAME_DEFAULT,
      payload: null,
      priority: PRIORITY_DEFAULT,
      maxAttempts: MAX_ATTEMPTS_DEFAULT,
      backoff: { ...BACKOFF_DEFAULT },
      leaseMs: LEASE_MS_DEFAULT,
      idempotencyKey: null,
      state: 'waiting',
      attempts: 0,
      redeliveries: 0,
      lastError: null,
      result: null,
      createdAtMs: T0,
      runAtMs: T0,
      startedAtMs: null,
      finishedAtMs: null,
      lease: null,
    };
    expect(h.machine.getJob(id)).toEqual(expected);
  });

  it('assigns unique ids that sort as strings in log order', () => {
    const h = new Harness();
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) ids.push(...h.enqueue({ queue: 'q' }, { queue: 'q' }, { queue: 'r' }).ids);
    h.index = 123_456_789; // ids stay ordered across digit-count boundaries
    ids.push(...h.enqueue({ queue: 'q' }).ids);
    expect(new Set(ids).size).toBe(ids.length);
    expect([...ids].sort()).toEqual(ids);
  });

  it('ids are unique across the envelopes of one entry', () => {
    const h = new Harness();
    const cmd: Command = { op: 'enqueue', jobs: [{ queue: 'q' }, { queue: 'q' }] };
    const outcomes = h.applyEntry([0, 1, 2].map((seq) => ({ clientId: 'c', seq, cmd })));
    const ids = outcomes.flatMap((o) => value<'enqueue'>(o).ids);
    expect(new Set(ids).size).toBe(6);
    expect([...ids].sort()).toEqual(ids);
  });

  it('a client-given id that exists returns that id with duplicate=true', () => {
    const h = new Harness();
    expect(h.enqueue({ queue: 'q', id: 'order-1', payload: bytes(1) })).toEqual({ ids: ['order-1'], duplicate: [false] });
    expect(h.enqueue({ queue: 'q', id: 'order-1', payload: bytes(2) })).toEqual({ ids: ['order-1'], duplicate: [true] });
    expect(valueOf(h.machine.getJob('order-1')!.payload)).toBe(1);
    expect(h.machine.jobCount).toBe(1);
  });

  it('ids of the form the broker assigns are refused to clients', () => {
    const h = new Harness();
    expect(errorCode(h.apply({ op: 'enqueue', jobs: [{ queue: 'q', id: 'j00000000001-00000' }] }))).toBe('BAD_REQUEST');
  });

  it('an idempotency key within the window returns the first job and creates nothing', () => {
    const h = new Harness();
    const first = h.enqueueOne({ queue: 'q', idempotencyKey: 'k' });
    h.advance(IDEMPOTENCY_WINDOW_MS - 1);
    h.tick();
    expect(h.enqueue({ queue: 'q', idempotencyKey: 'k' })).toEqual({ ids: [first], duplicate: [true] });
    expect(h.machine.jobCount).toBe(1);
    // The same key in another queue is another key.
    expect(h.enqueue({ queue: 'other', idempotencyKey: 'k' }).duplicate).toEqual([false]);
  });

  it('an idempotency key after the window makes a new job (with or without a tick in between)', () => {
    for (const tickFirst of [false, true]) {
      const h = new Harness();
      const first = h.enqueueOne({ queue: 'q', idempotencyKey: 'k' });
      h.advance(IDEMPOTENCY_WINDOW_MS);
      if (tickFirst) h.tick();
      const second = h.enqueue({ queue: 'q', idempotencyKey: 'k' });
      expect(second.duplicate).toEqual([false]);
      expect(second.ids[0]).not.toBe(first);
      expect(h.machine.jobCount).toBe(2);
      // The new job opens a new window.
      h.advance(1);
      expect(h.enqueue({ queue: 'q', idempotencyKey: 'k' }).ids).toEqual(second.ids);
    }
  });

  it('duplicates within one batch resolve to the first', () => {
    const h = new Harness();
    const res = h.enqueue({ queue: 'q', idempotencyKey: 'k' }, { queue: 'q', idempotencyKey: 'k' }, { queue: 'q', id: 'x' }, { queue: 'q', id: 'x' });
    expect(res.duplicate).toEqual([false, true, false, true]);
    expect(res.ids[1]).toBe(res.ids[0]);
    expect(h.machine.jobCount).toBe(2);
  });

  it('a delayed job is promoted only when due', () => {
    const h = new Harness();
    const byDelay = h.enqueueOne({ queue: 'q', delayMs: 5000 });
    const byTime = h.enqueueOne({ queue: 'q', runAtMs: T0 + 3000 });
    const past = h.enqueueOne({ queue: 'q', runAtMs: T0 - 3000 });
    expect(h.machine.getJob(byDelay)).toMatchObject({ state: 'delayed', runAtMs: T0 + 5000 });
    expect(h.machine.getJob(past)).toMatchObject({ state: 'waiting', runAtMs: T0 });
    expect(h.machine.nextDueMs()).toBe(T0 + 3000);
    expect(h.leaseOne('q').id).toBe(past);
    h.advance(2999);
    expect(h.tick().promoted).toBe(0);
    expect(h.lease(['q'])).toEqual([]);
    h.advance(1);
    expect(h.tick().promoted).toBe(1);
    expect(h.machine.nextDueMs()).toBe(T0 + 5000);
    expect(h.leaseOne('q').id).toBe(byTime);
    h.advance(2000);
    expect(h.tick().promoted).toBe(1);
    expect(h.leaseOne('q').id).toBe(byDelay);
  });

  it('one tick promotes at most TICK_ITEMS_MAX jobs; the rest stay due for the next tick', () => {
    const h = new Harness();
    for (let n = 0; n <= TICK_ITEMS_MAX; n += 1000) h.enqueue(...Array.from({ length: Math.min(1000, TICK_ITEMS_MAX + 1 - n) }, () => ({ queue: 'q', delayMs: 10 })));
    h.advance(10);
    expect(h.tick().promoted).toBe(TICK_ITEMS_MAX);
    expect(h.machine.nextDueMs()).toBeLessThanOrEqual(h.nowMs);
    expect(h.tick().promoted).toBe(1);
    expect(h.machine.nextDueMs()).toBeNull();
    expect(h.machine.queueStats('q')?.counts.waiting).toBe(TICK_ITEMS_MAX + 1);
  });

  it('a malformed command is a BAD_REQUEST outcome naming the field, never an exception', () => {
    const h = new Harness();
    const bad: unknown[] = [
      { op: 'enqueue', jobs: [{ queue: 'q' }, { queue: 'q', priority: 10 }] },
      { op: 'enqueue', jobs: [{ queue: 'bad queue' }] },
      { op: 'enqueue', jobs: [{ queue: 'q', delayMs: DELAY_MS_MAX + 1 }] },
      { op: 'enqueue', jobs: [{ queue: 'q', backoff: { jitter: 2 } }] },
      { op: 'enqueue', jobs: 'nope' },
      { op: 'lease', workerId: 'w', queues: [], max: 1 },
      { op: 'lease', workerId: 'w', queues: ['q'], max: 0 },
      { op: 'fail', jobId: 'x', token: 't', error: 'e' },
      { op: 'explode' },
      null,
    ];
    for (const cmd of bad) {
      const outcome = h.apply(cmd as Command);
      expect(errorCode(outcome)).toBe('BAD_REQUEST');
    }
    const first = h.apply(bad[0] as Command);
    expect(first.ok === false && first.error.field).toBe('jobs[1].priority');
    expect(h.machine.jobCount).toBe(0); // the batch applied whole or not at all
    expect(h.machine.applyBatch(h.index + 1, { nowMs: h.nowMs, envelopes: [42 as never] })[0]?.ok).toBe(false);
  });

  it('the entry stamp is the only clock, and it never goes back', () => {
    const h = new Harness();
    h.nowMs = T0 + 1000;
    h.enqueue({ queue: 'q' });
    h.nowMs = T0; // a stamp below the last one is clamped
    const id = h.enqueueOne({ queue: 'q' });
    expect(h.machine.getJob(id)?.createdAtMs).toBe(T0 + 1000);
    expect(() => h.machine.applyBatch(h.index, { nowMs: T0, envelopes: [] })).toThrow(/invariant/);
  });
});
