import { describe, expect, it } from 'vitest';
import { strideOf } from '../../src/jobs/priority-lanes.js';
import { bytes, Harness, value } from './harness.js';

describe('scheduling within a queue', () => {
  it('hands out higher priorities first', () => {
    const h = new Harness();
    for (const priority of [3, 9, 0, 5, 7]) h.enqueue({ queue: 'q', priority, name: `p${priority}` });
    const order = h.lease(['q'], 10).map((j) => j.priority);
    expect(order).toEqual([9, 7, 5, 3, 0]);
  });

  it('hands out jobs of one priority in FIFO order', () => {
    const h = new Harness();
    const ids: string[] = [];
    for (let i = 0; i < 50; i++) ids.push(h.enqueueOne({ queue: 'q', priority: 4, payload: bytes(i) }));
    const leased: string[] = [];
    for (let i = 0; i < 5; i++) leased.push(...h.lease(['q'], 10).map((j) => j.id));
    expect(leased).toEqual(ids);
  });

  it('keeps FIFO order for a redelivered job: it goes to the tail of its lane', () => {
    const h = new Harness();
    const a = h.enqueueOne({ queue: 'q', leaseMs: 1000 });
    const b = h.enqueueOne({ queue: 'q' });
    expect(h.leaseOne('q').id).toBe(a);
    h.advance(1000);
    h.tick();
    expect(h.lease(['q'], 2).map((j) => j.id)).toEqual([b, a]);
  });

  it('weighted fairness: under endless priority-9 load priority 0 still gets its 1/513 share', () => {
    const h = new Harness();
    const leases = 10_000;
    // Keep both lanes backlogged for the whole run.
    const batch = (priority: number, n: number) => Array.from({ length: n }, () => ({ queue: 'q', priority }));
    h.enqueue(...batch(0, 200));
    let low = 0;
    for (let i = 0; i < leases; i++) {
      if (i % 500 === 0) h.enqueue(...batch(9, 500));
      const job = h.leaseOne('q');
      if (job.priority === 0) low += 1;
      h.ack(job);
    }
    const share = low / leases;
    const expected = strideOf(9) / (strideOf(9) + strideOf(0)); // weight 1 vs 512 -> 1/513
    console.log(`priority-0 share under endless priority-9 load: ${low}/${leases} = ${(share * 100).toFixed(3)} % (expected ${(expected * 100).toFixed(3)} %)`);
    expect(low).toBeGreaterThan(0);
    expect(Math.abs(share - expected)).toBeLessThan(expected * 0.1);
  });

  it('weighted fairness: priority 9 vs 8 split 2:1', () => {
    const h = new Harness();
    for (let i = 0; i < 2; i++) h.enqueue(...Array.from({ length: 1000 }, (_, i) => ({ queue: 'q', priority: i % 2 === 0 ? 9 : 8 })));
    const first = h.lease(['q'], 900);
    const nines = first.filter((j) => j.priority === 9).length;
    expect(nines).toBe(600);
  });
});

describe('scheduling across queues', () => {
  it('one lease of several jobs takes them round-robin across the named queues', () => {
    const h = new Harness();
    for (const queue of ['a', 'b', 'c']) h.enqueue(...Array.from({ length: 10 }, () => ({ queue })));
    const jobs = h.lease(['a', 'b', 'c'], 6);
    const perQueue = new Map<string, number>();
    for (const j of jobs) perQueue.set(j.queue, (perQueue.get(j.queue) ?? 0) + 1);
    expect([...perQueue.entries()].sort()).toEqual([['a', 2], ['b', 2], ['c', 2]]);
  });

  it('single-job leases rotate their starting queue, so no queue is always first', () => {
    const h = new Harness();
    for (const queue of ['a', 'b', 'c']) h.enqueue(...Array.from({ length: 100 }, () => ({ queue })));
    const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (let i = 0; i < 90; i++) counts[h.lease(['a', 'b', 'c'], 1)[0]!.queue]! += 1;
    expect(counts).toEqual({ a: 30, b: 30, c: 30 });
  });

  it('a queue that runs dry leaves the rotation and the others fill the lease', () => {
    const h = new Harness();
    h.enqueue({ queue: 'a' });
    h.enqueue(...Array.from({ length: 10 }, () => ({ queue: 'b' })));
    const jobs = h.lease(['a', 'b'], 5);
    expect(jobs.length).toBe(5);
    expect(jobs.filter((j) => j.queue === 'a').length).toBe(1);
  });

  it('a paused queue accepts jobs but hands out nothing until resumed', () => {
    const h = new Harness();
    expect(value<'pause'>(h.apply({ op: 'pause', queue: 'q' }))).toEqual({ paused: true });
    const id = h.enqueueOne({ queue: 'q' });
    expect(h.machine.getJob(id)?.state).toBe('waiting');
    expect(h.lease(['q'], 10)).toEqual([]);
    expect(h.machine.hasAvailable(['q'])).toBe(false);
    expect(h.machine.queueStats('q')?.paused).toBe(true);
    expect(value<'resume'>(h.apply({ op: 'resume', queue: 'q' }))).toEqual({ paused: false });
    expect(h.machine.hasAvailable(['q'])).toBe(true);
    expect(h.leaseOne('q').id).toBe(id);
  });

  it('hasAvailable tells whether a lease would get a job', () => {
    const h = new Harness();
    expect(h.machine.hasAvailable(['q'])).toBe(false);
    h.enqueue({ queue: 'q', delayMs: 1000 });
    expect(h.machine.hasAvailable(['q', 'other'])).toBe(false);
    h.enqueue({ queue: 'q' });
    expect(h.machine.hasAvailable(['other', 'q'])).toBe(true);
  });
});
