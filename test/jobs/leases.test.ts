import { describe, expect, it } from 'vitest';
import { ACK_BATCH_MAX, LEASE_MS_DEFAULT, LEASE_RESPONSE_BYTES_MAX } from '../../src/limits.js';
import { bytes, errorCode, Harness, value, valueOf } from './harness.js';

describe('leases and fencing', () => {
  it('a leased job is active with attempts+1, a token naming job and attempt, and an expiry', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q' });
    const job = h.leaseOne('q');
    expect(job.id).toBe(id);
    expect(job.attempt).toBe(1);
    expect(job.token.startsWith(`${id}.1.`)).toBe(true);
    expect(job.leaseExpiresAtMs).toBe(h.nowMs + LEASE_MS_DEFAULT);
    const got = h.machine.getJob(id);
    expect(got?.state).toBe('active');
    expect(got?.attempts).toBe(1);
    expect(got?.lease).toEqual({ token: job.token, workerId: 'w1', expiresAtMs: job.leaseExpiresAtMs });
    expect(h.machine.nextDueMs()).toBe(job.leaseExpiresAtMs);
  });

  it('the lease command may set its own lease length', () => {
    const h = new Harness();
    h.enqueue({ queue: 'q', leaseMs: 5000 });
    expect(h.leaseOne('q', 700).leaseExpiresAtMs).toBe(h.nowMs + 700);
  });

  it('an expired lease makes the job available again and counts a redelivery', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q', leaseMs: 1000 });
    const first = h.leaseOne('q');
    h.advance(999);
    expect(h.tick().expired).toBe(0);
    expect(h.lease(['q'])).toEqual([]);
    h.advance(1);
    expect(h.tick()).toMatchObject({ expired: 1 });
    const job = h.machine.getJob(id);
    expect(job).toMatchObject({ state: 'waiting', redeliveries: 1, attempts: 1, lease: null });
    const second = h.leaseOne('q');
    expect(second.attempt).toBe(2);
    expect(second.token).not.toBe(first.token);
    // The first worker's late ack is fenced off: it cannot complete the second worker's attempt.
    expect(errorCode(h.ack(first))).toBe('STALE_LEASE');
    expect(value<'ack'>(h.ack(second))).toEqual({ state: 'completed' });
    expect(h.machine.queueStats('q')?.totals.expired).toBe(1);
  });

  it('ackMany settles each ack on its own: a stale token is refused in place, the others complete', () => {
    const h = new Harness();
    h.enqueue({ queue: 'q' }, { queue: 'q' }, { queue: 'q' });
    const [a, b, c] = h.lease(['q'], 3);
    const outcome = h.apply({
      op: 'ackMany',
      acks: [
        { jobId: a!.id, token: a!.token, result: bytes({ n: 1 }) },
        { jobId: b!.id, token: `${b!.id}.9.0.0` },
        { jobId: c!.id, token: c!.token },
        { jobId: 'nope', token: 'nope.1.0.0' },
      ],
    });
    const { results } = value<'ackMany'>(outcome);
    expect(results.map((r) => ('state' in r ? r.state : r.error.code))).toEqual(['completed', 'STALE_LEASE', 'completed', 'NOT_FOUND']);
    expect(h.machine.getJob(a!.id)?.state).toBe('completed');
    expect(valueOf(h.machine.getJob(a!.id)!.result)).toEqual({ n: 1 });
    expect(h.machine.getJob(b!.id)?.state).toBe('active');
    expect(h.machine.getJob(c!.id)).toMatchObject({ state: 'completed', result: null });
    expect(h.machine.queueStats('q')?.totals.completed).toBe(2);
  });

  it('ackMany with no acks, too many, or a malformed one is a BAD_REQUEST that changes nothing', () => {
    const h = new Harness();
    const job = (h.enqueue({ queue: 'q' }), h.leaseOne('q'));
    const item = { jobId: job.id, token: job.token };
    expect(errorCode(h.apply({ op: 'ackMany', acks: [] }))).toBe('BAD_REQUEST');
    expect(errorCode(h.apply({ op: 'ackMany', acks: Array.from({ length: ACK_BATCH_MAX + 1 }, () => item) }))).toBe('BAD_REQUEST');
    expect(errorCode(h.apply({ op: 'ackMany', acks: [item, { jobId: job.id } as never] }))).toBe('BAD_REQUEST');
    expect(h.machine.getJob(job.id)?.state).toBe('active');
  });

  it('release hands a leased job back untouched: waiting again, its attempt undone, the token stale', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q', maxAttempts: 1 });
    const first = h.leaseOne('q');
    expect(value<'release'>(h.apply({ op: 'release', jobId: id, token: first.token }))).toEqual({ state: 'waiting' });
    expect(h.machine.getJob(id)).toMatchObject({ state: 'waiting', attempts: 0, redeliveries: 0, lease: null });
    expect(errorCode(h.ack(first))).toBe('STALE_LEASE');
    expect(errorCode(h.apply({ op: 'release', jobId: id, token: first.token }))).toBe('STALE_LEASE');
    expect(errorCode(h.apply({ op: 'release', jobId: 'nope', token: 'nope.1.0.0' }))).toBe('NOT_FOUND');
    // Its one attempt is still there to use.
    const second = h.leaseOne('q');
    expect(second.attempt).toBe(1);
    expect(value<'ack'>(h.ack(second))).toEqual({ state: 'completed' });
  });

  it('a lease that expires on the last attempt sends the job to the dead letters', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q', leaseMs: 1000, maxAttempts: 2 });
    for (let attempt = 1; attempt <= 2; attempt++) {
      expect(h.leaseOne('q').attempt).toBe(attempt);
      h.advance(1000);
      h.tick();
    }
    expect(h.machine.getJob(id)).toMatchObject({ state: 'dead', lastError: 'lease expired', redeliveries: 1 });
  });

  it('a heartbeat keeps the lease alive past its original expiry', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q', leaseMs: 1000 });
    const job = h.leaseOne('q');
    for (let i = 0; i < 5; i++) {
      h.advance(800);
      const beat = value<'heartbeat'>(h.apply({ op: 'heartbeat', jobId: id, token: job.token }));
      expect(beat.leaseExpiresAtMs).toBe(h.nowMs + 1000);
      expect(h.tick().expired).toBe(0);
    }
    expect(h.machine.getJob(id)?.state).toBe('active');
    expect(h.machine.nextDueMs()).toBe(h.nowMs + 1000);
    expect(value<'ack'>(h.ack(job))).toEqual({ state: 'completed' });
    expect(h.machine.nextDueMs()).toBeNull();
  });

  it('a heartbeat extends by the lease length the worker was granted, or by its own', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q' });
    const job = h.leaseOne('q', 2000);
    h.advance(500);
    expect(value<'heartbeat'>(h.apply({ op: 'heartbeat', jobId: id, token: job.token })).leaseExpiresAtMs).toBe(h.nowMs + 2000);
    expect(value<'heartbeat'>(h.apply({ op: 'heartbeat', jobId: id, token: job.token, leaseMs: 9000 })).leaseExpiresAtMs).toBe(h.nowMs + 9000);
  });

  it('a stale token on ack, fail or heartbeat gets STALE_LEASE and leaves the job unchanged', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q', leaseMs: 1000 });
    const old = h.leaseOne('q');
    h.advance(1000);
    h.tick();
    h.leaseOne('q');
    const before = h.machine.getJob(id);
    const statsBefore = h.machine.queueStats('q');
    expect(errorCode(h.ack(old, 'late'))).toBe('STALE_LEASE');
    expect(errorCode(h.fail(old))).toBe('STALE_LEASE');
    expect(errorCode(h.apply({ op: 'heartbeat', jobId: id, token: old.token }))).toBe('STALE_LEASE');
    expect(errorCode(h.apply({ op: 'ack', jobId: id, token: 'forged' }))).toBe('STALE_LEASE');
    expect(h.machine.getJob(id)).toEqual(before);
    expect(h.machine.queueStats('q')).toEqual(statsBefore);
  });

  it('ack, fail, heartbeat or cancel of an unknown job is NOT_FOUND', () => {
    const h = new Harness();
    expect(errorCode(h.apply({ op: 'ack', jobId: 'nope', token: 't' }))).toBe('NOT_FOUND');
    expect(errorCode(h.apply({ op: 'fail', jobId: 'nope', token: 't', error: 'e', retryable: true }))).toBe('NOT_FOUND');
    expect(errorCode(h.apply({ op: 'heartbeat', jobId: 'nope', token: 't' }))).toBe('NOT_FOUND');
    expect(errorCode(h.apply({ op: 'cancel', jobId: 'nope' }))).toBe('NOT_FOUND');
  });

  it('an ack of a job that is not active (never leased, completed) is STALE_LEASE', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q' });
    expect(errorCode(h.apply({ op: 'ack', jobId: id, token: `${id}.1.1.0` }))).toBe('STALE_LEASE');
    const job = h.leaseOne('q');
    h.ack(job, { n: 1 });
    expect(errorCode(h.ack(job, { n: 2 }))).toBe('STALE_LEASE');
    expect(h.machine.getJob(id)?.state).toBe('completed');
    expect(valueOf(h.machine.getJob(id)!.result)).toEqual({ n: 1 });
  });

  it('cancel of an active job wins over a later ack with its token', () => {
    const h = new Harness();
    const id = h.enqueueOne({ queue: 'q' });
    const job = h.leaseOne('q');
    expect(value<'cancel'>(h.apply({ op: 'cancel', jobId: id }))).toEqual({ state: 'cancelled', cancelled: true });
    expect(errorCode(h.ack(job))).toBe('STALE_LEASE');
    expect(errorCode(h.fail(job))).toBe('STALE_LEASE');
    expect(h.machine.getJob(id)).toMatchObject({ state: 'cancelled', lease: null });
    // Its lease no longer schedules a tick.
    expect(h.machine.nextDueMs()).toBeNull();
  });

  it('cancel: waiting, delayed and failed jobs are cancelled; finished ones report their state', () => {
    const h = new Harness();
    const waiting = h.enqueueOne({ queue: 'q' });
    const delayed = h.enqueueOne({ queue: 'q', delayMs: 5000 });
    expect(value<'cancel'>(h.apply({ op: 'cancel', jobId: waiting }))).toEqual({ state: 'cancelled', cancelled: true });
    expect(value<'cancel'>(h.apply({ op: 'cancel', jobId: delayed }))).toEqual({ state: 'cancelled', cancelled: true });
    expect(value<'cancel'>(h.apply({ op: 'cancel', jobId: waiting }))).toEqual({ state: 'cancelled', cancelled: false });
    // The cancelled jobs are never handed out, even once the delay has passed.
    h.advance(5000);
    expect(h.tick().promoted).toBe(0);
    expect(h.lease(['q'], 10)).toEqual([]);
    const done = h.enqueueOne({ queue: 'q' });
    h.ack(h.leaseOne('q'));
    expect(value<'cancel'>(h.apply({ op: 'cancel', jobId: done }))).toEqual({ state: 'completed', cancelled: false });
    const failed = h.enqueueOne({ queue: 'q' });
    h.fail(h.leaseOne('q'));
    expect(h.machine.getJob(failed)?.state).toBe('failed');
    expect(value<'cancel'>(h.apply({ op: 'cancel', jobId: failed }))).toEqual({ state: 'cancelled', cancelled: true });
    expect(h.machine.queueStats('q')?.counts).toMatchObject({ waiting: 0, delayed: 0, failed: 0, cancelled: 3, completed: 1 });
  });

  it('stops a lease before its answer outgrows a frame, always handing out at least one job', () => {
    const h = new Harness();
    const big = bytes('x'.repeat(1024 * 1024));
    for (let i = 0; i < 20; i++) h.enqueueOne({ queue: 'big', payload: big });
    const jobs = h.lease(['big'], 20);
    expect(jobs.length).toBeGreaterThan(0);
    expect(jobs.length).toBeLessThan(20);
    // Payloads count by their byte length: the answer stays within the cap plus one job, and fills it.
    const answerBytes = jobs.reduce((sum, job) => sum + (job.payload?.byteLength ?? 0), 0);
    expect(answerBytes - big.byteLength).toBeLessThan(LEASE_RESPONSE_BYTES_MAX);
    expect(answerBytes).toBeGreaterThanOrEqual(LEASE_RESPONSE_BYTES_MAX);
    expect(jobs.every((job) => Buffer.from(job.payload!).equals(big))).toBe(true);
    expect(h.lease(['big'], 20).length).toBeGreaterThan(0);
  });
});
