import { describe, expect, it } from 'vitest';
import { backoffBaseDelayMs, backoffDelayMs, fnv1a32 } from '../../src/jobs/backoff.js';
import { BACKOFF_DEFAULT } from '../../src/limits.js';
import { bytes, errorCode, Harness, value, valueOf } from './harness.js';

describe('retries and backoff', () => {
  it('retries back off exponentially, capped, and the job lands in dead after maxAttempts', () => {
    const h = new Harness();
    const backoff = { baseMs: 1000, capMs: 5000, jitter: 0 };
    const id = h.enqueueOne({ queue: 'q', maxAttempts: 5, backoff });
    const deltas: number[] = [];
    for (let attempt = 1; attempt <= 4; attempt++) {
      const job = h.leaseOne('q');
      expect(job.attempt).toBe(attempt);
      const failed = value<'fail'>(h.fail(job, true, `error ${attempt}`));
      expect(failed.state).toBe('failed');
      deltas.push((failed.retryAtMs as number) - h.nowMs);
      expect(h.machine.getJob(id)).toMatchObject({ state: 'failed', runAtMs: failed.retryAtMs, lastError: `error ${attempt}` });
      // Not handed out before its time...
      h.advance((failed.retryAtMs as number) - h.nowMs - 1);
      h.tick();
      expect(h.lease(['q'])).toEqual([]);
      // ...and promoted once it is due.
      h.advance(1);
      expect(h.tick().promoted).toBe(1);
    }
    expect(deltas).toEqual([1000, 2000, 4000, 5000]);
    const last = h.leaseOne('q');
    expect(value<'fail'>(h.fail(last, true, 'final'))).toEqual({ state: 'dead', retryAtMs: null });
    expect(h.machine.getJob(id)).toMatchObject({ state: 'dead', attempts: 5, lastError: 'final', finishedAtMs: h.nowMs });
    expect(h.machine.queueStats('q')?.totals).toMatchObject({ failed: 5, retried: 4, dead: 1 });
  });

  it('a non-retryable failure goes straight to dead', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q', maxAttempts: 10 });
    expect(value<'fail'>(h.fail(h.leaseOne('q'), false))).toEqual({ state: 'dead', retryAtMs: null });
    expect(h.machine.getJob(id)?.state).toBe('dead');
  });

  it('jitter is deterministic (same id and attempt, same delay) and within its bounds', () => {
    const backoff = { baseMs: 1000, capMs: 3_600_000, jitter: 0.5 };
    const seen = new Set<number>();
    const violations: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const id = `job-${i}`;
      for (let attempt = 1; attempt <= 8; attempt++) {
        const delayMs = backoffDelayMs(backoff, id, attempt);
        const raw = backoffBaseDelayMs(backoff, attempt);
        const ok = backoffDelayMs(backoff, id, attempt) === delayMs && delayMs <= raw && delayMs >= raw * (1 - backoff.jitter) && Number.isInteger(delayMs);
        if (!ok) violations.push(`${id} attempt ${attempt}: ${delayMs} (raw ${raw})`);
        if (attempt === 1) seen.add(delayMs);
      }
    }
    expect(violations).toEqual([]);
    // It does vary: 2000 ids over a 500 ms window give many distinct delays.
    expect(seen.size).toBeGreaterThan(300);
    // And the state machine uses exactly this function (default backoff: jitter 0.2).
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q' });
    const failed = value<'fail'>(h.fail(h.leaseOne('q')));
    expect(failed.retryAtMs).toBe(h.nowMs + backoffDelayMs(BACKOFF_DEFAULT, id, 1));
  });

  it('fnv1a32 matches the reference vectors', () => {
    expect(fnv1a32('')).toBe(0x811c9dc5);
    expect(fnv1a32('a')).toBe(0xe40c292c);
    expect(fnv1a32('foobar')).toBe(0xbf9cf968);
  });

  it('huge attempt numbers stay capped and finite', () => {
    expect(backoffBaseDelayMs({ baseMs: 1000, capMs: 7000, jitter: 0 }, 1000)).toBe(7000);
  });
});

describe('dead-letter queue', () => {
  function withDead(n: number): { h: Harness; ids: string[] } {
    const h = new Harness();
    const ids = h.enqueue(...Array.from({ length: n }, (_, i) => ({ queue: 'q', payload: bytes(i) }))).ids;
    for (const job of h.lease(['q'], n)) h.fail(job, false, `bad ${valueOf(job.payload) as number}`);
    return { h, ids };
  }

  it('listDead pages through dead jobs, oldest first', () => {
    const { h, ids } = withDead(5);
    expect(h.machine.listDead('q', 0, 10).map((j) => j.id)).toEqual(ids);
    expect(h.machine.listDead('q', 1, 2).map((j) => j.id)).toEqual(ids.slice(1, 3));
    expect(h.machine.listDead('nope', 0, 10)).toEqual([]);
  });

  it('dlqRetry moves the given dead jobs back to waiting with attempts reset', () => {
    const { h, ids } = withDead(4);
    expect(value<'dlqRetry'>(h.apply({ op: 'dlqRetry', queue: 'q', jobIds: [ids[2] as string, 'unknown', ids[2] as string] }))).toEqual({ retried: 1 });
    expect(h.machine.getJob(ids[2] as string)).toMatchObject({ state: 'waiting', attempts: 0, finishedAtMs: null });
    const job = h.leaseOne('q');
    expect(job.id).toBe(ids[2]);
    expect(job.attempt).toBe(1);
    expect(h.machine.listDead('q', 0, 10).map((j) => j.id)).toEqual([ids[0], ids[1], ids[3]]);
  });

  it('dlqRetry with max takes the oldest dead jobs; without max, all of them', () => {
    const { h, ids } = withDead(5);
    expect(value<'dlqRetry'>(h.apply({ op: 'dlqRetry', queue: 'q', max: 2 }))).toEqual({ retried: 2 });
    expect(h.lease(['q'], 10).map((j) => j.id)).toEqual(ids.slice(0, 2));
    expect(value<'dlqRetry'>(h.apply({ op: 'dlqRetry', queue: 'q' }))).toEqual({ retried: 3 });
    expect(h.machine.queueStats('q')?.counts.dead).toBe(0);
    expect(h.machine.queueStats('q')?.counts.waiting).toBe(3);
  });

  it('a retried job that dies again is listed once, at its new place', () => {
    const { h, ids } = withDead(3);
    h.apply({ op: 'dlqRetry', queue: 'q', jobIds: [ids[0] as string] });
    h.fail(h.leaseOne('q'), false);
    expect(h.machine.listDead('q', 0, 10).map((j) => j.id)).toEqual([ids[1], ids[2], ids[0]]);
  });

  it('dlqPurge removes dead jobs: the given ones, up to max, or all', () => {
    const { h, ids } = withDead(6);
    expect(value<'dlqPurge'>(h.apply({ op: 'dlqPurge', queue: 'q', jobIds: [ids[5] as string] }))).toEqual({ purged: 1 });
    expect(h.machine.getJob(ids[5] as string)).toBeNull();
    expect(value<'dlqPurge'>(h.apply({ op: 'dlqPurge', queue: 'q', max: 2 }))).toEqual({ purged: 2 });
    expect(h.machine.listDead('q', 0, 10).map((j) => j.id)).toEqual(ids.slice(2, 5));
    expect(value<'dlqPurge'>(h.apply({ op: 'dlqPurge', queue: 'q' }))).toEqual({ purged: 3 });
    expect(h.machine.jobCount).toBe(0);
    expect(h.machine.queueStats('q')?.counts.dead).toBe(0);
  });

  it('dlq commands touch only dead jobs of the named queue', () => {
    const { h, ids } = withDead(2);
    const live = h.enqueueOne({ queue: 'q' });
    expect(value<'dlqRetry'>(h.apply({ op: 'dlqRetry', queue: 'other', jobIds: ids }))).toEqual({ retried: 0 });
    expect(value<'dlqPurge'>(h.apply({ op: 'dlqPurge', queue: 'q', jobIds: [live] }))).toEqual({ purged: 0 });
    expect(h.machine.getJob(live)?.state).toBe('waiting');
    expect(errorCode(h.apply({ op: 'dlqRetry', queue: 'bad queue!' }))).toBe('BAD_REQUEST');
  });
});
