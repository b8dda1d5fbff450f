import { describe, expect, it } from 'vitest';
import { RETAIN_COMPLETED_MAX, RETAIN_COMPLETED_MS, RETAIN_DEAD_MS } from '../../src/limits.js';
import { Harness } from './harness.js';

describe('retention of finished jobs', () => {
  it('keeps at most RETAIN_COMPLETED_MAX completed + cancelled jobs per queue, removing the oldest', () => {
    const h = new Harness();
    const extra = 25;
    const ids: string[] = [];
    for (let i = 0; i < RETAIN_COMPLETED_MAX + extra; i += 1000) {
      const n = Math.min(1000, RETAIN_COMPLETED_MAX + extra - i);
      ids.push(...h.enqueue(...Array.from({ length: n }, () => ({ queue: 'q' }))).ids);
      for (const job of h.lease(['q'], n)) h.ack(job, job.id);
    }
    h.enqueue({ queue: 'other' });
    h.apply({ op: 'cancel', jobId: h.enqueueOne({ queue: 'q' }) });
    const stats = h.machine.queueStats('q');
    expect((stats?.counts.completed ?? 0) + (stats?.counts.cancelled ?? 0)).toBe(RETAIN_COMPLETED_MAX);
    expect(h.machine.getJob(ids[extra] as string)).toBeNull(); // the oldest ones went first
    expect(h.machine.getJob(ids[extra + 1] as string)?.state).toBe('completed');
    expect(h.machine.jobCount).toBe(RETAIN_COMPLETED_MAX + 1);
    expect(stats?.totals.completed).toBe(RETAIN_COMPLETED_MAX + extra);
  });

  it('tick removes completed jobs older than RETAIN_COMPLETED_MS, and nothing younger', () => {
    const h = new Harness();
    const old = h.enqueueOne({ queue: 'q' });
    h.ack(h.leaseOne('q'));
    h.advance(1000);
    const young = h.enqueueOne({ queue: 'q' });
    h.ack(h.leaseOne('q'));
    expect(h.machine.nextHousekeepingMs()).toBe(h.nowMs - 1000 + RETAIN_COMPLETED_MS);
    h.advance(RETAIN_COMPLETED_MS - 1001);
    expect(h.tick().removed).toBe(0);
    h.advance(1);
    expect(h.tick().removed).toBe(1);
    expect(h.machine.getJob(old)).toBeNull();
    expect(h.machine.getJob(young)?.state).toBe('completed');
    h.advance(1000);
    expect(h.tick().removed).toBe(1);
    expect(h.machine.jobCount).toBe(0);
  });

  it('dead jobs are kept for RETAIN_DEAD_MS, longer than completed ones', () => {
    const h = new Harness();
    const dead = h.enqueueOne({ queue: 'q' });
    h.fail(h.leaseOne('q'), false);
    h.advance(RETAIN_COMPLETED_MS);
    h.tick();
    expect(h.machine.getJob(dead)?.state).toBe('dead');
    h.advance(RETAIN_DEAD_MS - RETAIN_COMPLETED_MS);
    expect(h.tick().removed).toBe(1);
    expect(h.machine.getJob(dead)).toBeNull();
  });

  it('a job revived from the dead letters is not removed on its old death time', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q' });
    h.fail(h.leaseOne('q'), false);
    h.advance(RETAIN_DEAD_MS - 10);
    h.apply({ op: 'dlqRetry', queue: 'q' });
    h.fail(h.leaseOne('q'), false);
    h.advance(10);
    expect(h.tick().removed).toBe(0);
    expect(h.machine.getJob(id)?.state).toBe('dead');
  });
});
