import { describe, expect, it } from 'vitest';
import { RETAIN_COMPLETED_MAX } from '../../src/limits.js';
import type { Envelope } from '../../src/jobs/types.js';
import { bytes, Harness, value } from './harness.js';

describe('scale sanity (no timing assertions)', () => {
  it('100k enqueue + lease + ack cycles complete, and retention bounds what stays', () => {
    const h = new Harness();
    const cycles = 100_000;
    const perEntry = 100;
    const startedMs = performance.now();
    for (let done = 0; done < cycles; done += perEntry) {
      h.advance(1);
      h.enqueue(...Array.from({ length: perEntry }, (_, i) => ({ queue: 'bulk', priority: i % 10, payload: bytes('x'.repeat(100)) })));
      const jobs = h.lease(['bulk'], perEntry);
      const acks: Envelope[] = jobs.map((job, i) => ({ clientId: 'worker', seq: done + i, cmd: { op: 'ack', jobId: job.id, token: job.token } }));
      for (const outcome of h.applyEntry(acks)) value<'ack'>(outcome);
    }
    const elapsedMs = performance.now() - startedMs;
    console.log(`100k enqueue+lease+ack cycles: ${elapsedMs.toFixed(0)} ms (${Math.round(cycles / (elapsedMs / 1000))} cycles/s, one process, no I/O)`);
    const stats = h.machine.queueStats('bulk');
    expect(stats?.totals.completed).toBe(cycles);
    expect(stats?.counts.waiting).toBe(0);
    expect(stats?.counts.active).toBe(0);
    expect(stats?.counts.completed).toBe(RETAIN_COMPLETED_MAX);
    expect(h.machine.jobCount).toBe(RETAIN_COMPLETED_MAX);
    expect(h.machine.nextDueMs()).toBeNull();
  });
});
