import { describe, expect, it } from 'vitest';
import {
  checkAvailability,
  checkConvergence,
  checkExactlyOnceCompletion,
  checkIdempotency,
  checkStaleAcks,
  checkTotalQueue,
} from '../../jepsen-lite/checkers.js';
import type { Op } from '../../jepsen-lite/history.js';

let t = 0;
const at = (): number => (t += 10);
const enq = (type: Op['type'], key: string, extra: { id?: string; idempotencyKey?: string } = {}): Op => ({ type, f: 'enqueue', process: 1, timeMs: at(), value: { key, ...extra } });
const lease = (jobs: { id: string; key: string; token: string; attempt?: number }[], process = 2): Op => ({
  type: 'ok', f: 'lease', process, timeMs: at(), value: { jobs: jobs.map((j) => ({ attempt: 1, ...j })) },
});
const ack = (type: Op['type'], id: string, key: string, token: string, process = 2): Op => ({ type, f: 'ack', process, timeMs: at(), value: { id, key, token } });
const finalState = (jobs: { id: string; key: string; state: string }[]): Op => ({ type: 'ok', f: 'final-state', process: -1, timeMs: at(), value: { jobs } });

/** A history in which nothing is wrong: two jobs enqueued, delivered once, acked once. */
function validHistory(): Op[] {
  return [
    enq('invoke', 'k1'), enq('ok', 'k1', { id: 'j1' }),
    enq('invoke', 'k2'), enq('ok', 'k2', { id: 'j2' }),
    lease([{ id: 'j1', key: 'k1', token: 'j1.1.5' }, { id: 'j2', key: 'k2', token: 'j2.1.5' }]),
    ack('invoke', 'j1', 'k1', 'j1.1.5'), ack('ok', 'j1', 'k1', 'j1.1.5'),
    ack('invoke', 'j2', 'k2', 'j2.1.5'), ack('ok', 'j2', 'k2', 'j2.1.5'),
    finalState([{ id: 'j1', key: 'k1', state: 'completed' }, { id: 'j2', key: 'k2', state: 'completed' }]),
  ];
}

describe('total-queue checker', () => {
  it('is quiet on a valid history', () => {
    const r = checkTotalQueue(validHistory());
    expect(r.valid).toBe(true);
    expect(r.counts.lost).toBe(0);
  });

  it('catches an acknowledged job that was never delivered (lost)', () => {
    const ops = [...validHistory(), enq('invoke', 'k3'), enq('ok', 'k3', { id: 'j3' })];
    const r = checkTotalQueue(ops);
    expect(r.valid).toBe(false);
    expect(r.counts.lost).toBe(1);
    expect(r.examples).toContain('lost k3');
  });

  it('catches a delivery of a job nobody enqueued (unexpected)', () => {
    const r = checkTotalQueue([...validHistory(), lease([{ id: 'j9', key: 'k9', token: 'j9.1.9' }])]);
    expect(r.valid).toBe(false);
    expect(r.counts.unexpected).toBe(1);
  });

  it('counts duplicates and recovered indeterminate enqueues without failing', () => {
    const ops = [
      ...validHistory(),
      lease([{ id: 'j1', key: 'k1', token: 'j1.2.20' }]),
      enq('invoke', 'k4'), enq('info', 'k4'),
      lease([{ id: 'j4', key: 'k4', token: 'j4.1.30' }]),
    ];
    const r = checkTotalQueue(ops);
    expect(r.valid).toBe(true);
    expect(r.counts.duplicated).toBe(1);
    expect(r.counts.recovered).toBe(1);
  });

  it('counts a job finished before its lease was recorded as delivered', () => {
    const ops = [enq('invoke', 'k5'), enq('ok', 'k5', { id: 'j5' }), finalState([{ id: 'j5', key: 'k5', state: 'completed' }])];
    expect(checkTotalQueue(ops).valid).toBe(true);
  });
});

describe('exactly-once completion checker', () => {
  it('is quiet on a valid history', () => {
    expect(checkExactlyOnceCompletion(validHistory()).valid).toBe(true);
  });

  it('catches a job acked successfully twice', () => {
    const ops = [...validHistory(), lease([{ id: 'j1', key: 'k1', token: 'j1.2.40' }], 3), ack('invoke', 'j1', 'k1', 'j1.2.40', 3), ack('ok', 'j1', 'k1', 'j1.2.40', 3)];
    const r = checkExactlyOnceCompletion(ops);
    expect(r.valid).toBe(false);
    expect(r.counts.completedTwice).toBe(1);
  });
});

describe('stale-lease ack checker', () => {
  /** Worker 2 leases j1, its lease expires, worker 3 leases it again; then worker 2 acks with the old token. */
  function staleAck(outcome: Op['type']): Op[] {
    return [
      enq('invoke', 'k1'), enq('ok', 'k1', { id: 'j1' }),
      lease([{ id: 'j1', key: 'k1', token: 'j1.1.5' }], 2),
      lease([{ id: 'j1', key: 'k1', token: 'j1.2.9', attempt: 2 }], 3),
      ack('invoke', 'j1', 'k1', 'j1.1.5', 2), ack(outcome, 'j1', 'k1', 'j1.1.5', 2),
    ];
  }

  it('is quiet when the stale ack is rejected', () => {
    const r = checkStaleAcks(staleAck('fail'));
    expect(r.valid).toBe(true);
    expect(r.counts.staleAcksRejected).toBe(1);
  });

  it('catches a stale ack that was accepted', () => {
    const r = checkStaleAcks(staleAck('ok'));
    expect(r.valid).toBe(false);
    expect(r.counts.staleAcksAccepted).toBe(1);
  });

  it('does not blame an ack invoked before the second lease completed', () => {
    const ops: Op[] = [
      enq('invoke', 'k1'), enq('ok', 'k1', { id: 'j1' }),
      lease([{ id: 'j1', key: 'k1', token: 'j1.1.5' }], 2),
      ack('invoke', 'j1', 'k1', 'j1.1.5', 2),
      lease([{ id: 'j1', key: 'k1', token: 'j1.2.9', attempt: 2 }], 3),
      ack('ok', 'j1', 'k1', 'j1.1.5', 2),
    ];
    expect(checkStaleAcks(ops).valid).toBe(true);
  });
});

describe('idempotency checker', () => {
  it('is quiet when one key maps to one job', () => {
    const ops = [enq('ok', 'a', { id: 'j1', idempotencyKey: 'x' }), enq('ok', 'b', { id: 'j1', idempotencyKey: 'x' })];
    expect(checkIdempotency(ops).valid).toBe(true);
  });

  it('catches one key that created two jobs', () => {
    const ops = [enq('ok', 'a', { id: 'j1', idempotencyKey: 'x' }), enq('ok', 'b', { id: 'j2', idempotencyKey: 'x' })];
    const r = checkIdempotency(ops);
    expect(r.valid).toBe(false);
    expect(r.counts.keysWithSeveralJobs).toBe(1);
  });
});

describe('convergence checker', () => {
  const converge = (nodes: { node: string; appliedIndex: number; hash: string }[], converged = true): Op => ({
    type: 'ok', f: 'converge', process: -1, timeMs: at(), value: { nodes: nodes.map((n) => ({ commitIndex: n.appliedIndex, ...n })), boundMs: 5000, converged },
  });

  it('is quiet when every node holds the same state', () => {
    expect(checkConvergence([converge([{ node: 'n1', appliedIndex: 9, hash: 'aa' }, { node: 'n2', appliedIndex: 9, hash: 'aa' }])]).valid).toBe(true);
  });

  it('catches two nodes with different states at the same index', () => {
    const r = checkConvergence([converge([{ node: 'n1', appliedIndex: 9, hash: 'aa' }, { node: 'n2', appliedIndex: 9, hash: 'bb' }])]);
    expect(r.valid).toBe(false);
    expect(r.counts.distinctStates).toBe(2);
  });

  it('catches a run that never observed convergence', () => {
    expect(checkConvergence([]).valid).toBe(false);
  });
});

describe('availability checker', () => {
  it('reports the longest gap without a successful enqueue, per fault', () => {
    const ops: Op[] = [
      { type: 'invoke', f: 'enqueue', process: 1, timeMs: 0, value: { key: 'a' } },
      { type: 'ok', f: 'enqueue', process: 1, timeMs: 100, value: { key: 'a', id: 'j1' } },
      { type: 'info', f: 'nemesis', process: -1, timeMs: 150, value: { phase: 'start', fault: 'kill' } },
      { type: 'invoke', f: 'enqueue', process: 1, timeMs: 160, value: { key: 'b' } },
      { type: 'ok', f: 'enqueue', process: 1, timeMs: 1300, value: { key: 'b', id: 'j2' } },
      { type: 'info', f: 'nemesis', process: -1, timeMs: 1400, value: { phase: 'stop', fault: 'kill' } },
      { type: 'invoke', f: 'enqueue', process: 1, timeMs: 1500, value: { key: 'c' } },
    ];
    const r = checkAvailability(ops);
    expect(r.counts.longestGapMs).toBe(1200);
    expect(r.counts['longestGapMs.kill']).toBe(1200);
  });
});
