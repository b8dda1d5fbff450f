import { describe, expect, it } from 'vitest';
import { setTimeout as sleep } from 'node:timers/promises';
import { prefetchFor, Worker } from '../../src/client/worker.js';
import type { WorkerJob, WorkerOptions } from '../../src/client/worker.js';
import type { RaftqError } from '../../src/errors.js';
import type { LeasedJob } from '../../src/jobs/types.js';
import type { ValidCommandRequest } from '../../src/protocol/messages.js';
import { FakeBroker, useFakeBrokers } from './fake-broker.js';

const { cleanups, broker } = useFakeBrokers();

function worker(options: Omit<WorkerOptions, 'retry' | 'handleSignals'> & Partial<WorkerOptions>): Worker {
  const w = new Worker({ handleSignals: false, retry: { attempts: 3, baseMs: 1, capMs: 5 }, pollWaitMs: 1000, ...options });
  w.on('error', () => undefined);
  cleanups.push(() => w.close({ graceMs: 0 }));
  return w;
}

function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

function leaseRequests(b: FakeBroker): ValidCommandRequest[] {
  return b.requests.filter((r): r is ValidCommandRequest => r.kind === 'command' && r.op === 'lease');
}

function states(b: FakeBroker): string[] {
  return [...b.jobs.values()].map((job) => job.state);
}

describe('prefetchFor', () => {
  it('leases nothing ahead until handlers are measured faster than a lease round trip', () => {
    expect(prefetchFor(10, 40, Number.NaN, 5)).toBe(0);
    expect(prefetchFor(10, 40, 1, Number.NaN)).toBe(0);
    expect(prefetchFor(10, 40, 5, 5)).toBe(0);
    expect(prefetchFor(10, 40, 8, 5)).toBe(0);
  });

  it('leases ahead what the slots finish in one round trip, up to the bound', () => {
    expect(prefetchFor(10, 40, 4, 5)).toBe(13); // 10 slots × 5 ms / 4 ms
    expect(prefetchFor(10, 40, 2.5, 5)).toBe(20);
    expect(prefetchFor(10, 40, 0.1, 5)).toBe(40);
    expect(prefetchFor(10, 40, 0, 5)).toBe(40);
    expect(prefetchFor(10, 0, 0.1, 5)).toBe(0);
  });
});

describe('Worker', () => {
  it('runs at most `concurrency` handlers at once and leases in batches', async () => {
    const { broker: b, address } = await broker();
    b.add('q', 10);
    let running = 0;
    let runningMax = 0;
    const release = gate();
    const threeRunning = gate();
    const w = worker({
      nodes: [address],
      queues: 'q',
      concurrency: 3,
      handler: async (job) => {
        running++;
        runningMax = Math.max(runningMax, running);
        if (running === 3) threeRunning.open();
        await release.promise;
        running--;
        return { done: job.id };
      },
    });
    const completed: string[] = [];
    w.on('completed', (job) => completed.push(job.id));
    w.start();
    await threeRunning.promise;
    expect(w.activeCount).toBe(3);
    expect(states(b).filter((s) => s === 'active')).toHaveLength(3);
    // One lease request for all three slots.
    expect(leaseRequests(b)[0]!.envelope.cmd).toMatchObject({ op: 'lease', queues: ['q'], max: 3 });
    release.open();
    await b.until(() => states(b).every((s) => s === 'completed'));
    expect(runningMax).toBe(3);
    // Once handlers outpace a lease round trip, the worker leases up to `prefetch` (4 × concurrency) ahead.
    for (const lease of leaseRequests(b)) expect((lease.envelope.cmd as { max: number }).max).toBeLessThanOrEqual(3 + 12);
    expect(b.decoded('job-1')!.result).toEqual({ done: 'job-1' });
    await b.until(() => completed.length === 10);
  });

  it('leases ahead of free slots only while handlers finish faster than a lease round trip', async () => {
    const { broker: b, address } = await broker();
    b.add('fast', 60);
    let running = 0;
    let runningMax = 0;
    const fast = worker({
      nodes: [address],
      queues: 'fast',
      concurrency: 2,
      prefetch: 2,
      handler: async () => {
        runningMax = Math.max(runningMax, ++running);
        await Promise.resolve();
        running--;
      },
    });
    fast.start();
    await b.until(() => states(b).every((s) => s === 'completed'));
    await fast.close();
    const fastMax = Math.max(...leaseRequests(b).map((r) => (r.envelope.cmd as { max: number }).max));
    expect(fastMax).toBe(4); // 2 slots + 2 ahead
    expect(runningMax).toBe(2);

    const { broker: slowBroker, address: slowAddress } = await broker();
    slowBroker.add('slow', 6);
    const slow = worker({ nodes: [slowAddress], queues: 'slow', concurrency: 2, handler: () => sleep(30) });
    slow.start();
    await slowBroker.until(() => states(slowBroker).every((s) => s === 'completed'));
    await slow.close();
    for (const lease of leaseRequests(slowBroker)) expect((lease.envelope.cmd as { max: number }).max).toBeLessThanOrEqual(2);

    const { broker: offBroker, address: offAddress } = await broker();
    offBroker.add('off', 30);
    const off = worker({ nodes: [offAddress], queues: 'off', concurrency: 2, prefetch: 0, handler: async () => undefined });
    off.start();
    await offBroker.until(() => states(offBroker).every((s) => s === 'completed'));
    await off.close();
    for (const lease of leaseRequests(offBroker)) expect((lease.envelope.cmd as { max: number }).max).toBeLessThanOrEqual(2);
  });

  it('keeps four lease requests waiting while the queues are drained, one while they are busy', async () => {
    const { broker: b, address } = await broker();
    /** Per lease request: the worker's requests in flight, and the jobs still queued when it came. */
    const seen: { inFlight: number; queued: number }[] = [];
    const w = worker({ nodes: [address], queues: 'lanes', concurrency: 8, prefetch: 0, handler: async () => undefined });
    b.intercept = (request) => {
      if (request.kind === 'command' && request.op === 'lease') seen.push({ inFlight: w.leaseRequestsInFlight, queued: b.waiting.length });
    };
    let completed = 0;
    const allCompleted = (count: number): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (completed < count) return;
          w.off('completed', onCompleted);
          resolve();
        };
        const onCompleted = (): void => {
          completed++;
          check();
        };
        w.on('completed', onCompleted);
        check();
      });
    w.start();
    // Nothing known yet: one request for every slot.
    await b.until(() => b.parkedCount === 1);
    expect((leaseRequests(b)[0]!.envelope.cmd as { max: number }).max).toBe(8);
    // Its answer is short (1 of 8): the queue is drained, so four long polls wait, sharing the slots.
    b.add('lanes', 1);
    await allCompleted(1);
    await b.until(() => b.parkedCount === 4);
    const waiting = leaseRequests(b).slice(-4).map((r) => (r.envelope.cmd as { max: number }).max);
    expect(waiting.reduce((sum, max) => sum + max, 0)).toBeLessThanOrEqual(8);
    expect(Math.min(...waiting)).toBeGreaterThanOrEqual(1);
    // A backlog answers every request in full: the extra lanes stop, one request at a time goes on
    // (until the backlog runs short, when the lanes open again).
    b.add('lanes', 200);
    await allCompleted(201);
    const whileBusy = seen.filter((s) => s.queued >= 16).map((s) => s.inFlight);
    expect(whileBusy.length).toBeGreaterThan(10);
    expect(whileBusy.slice(-5)).toEqual([1, 1, 1, 1, 1]);
  });

  it('runs the jobs it leased ahead before it closes, within the grace period', async () => {
    const { broker: b, address } = await broker();
    b.add('drain', 40);
    const ran = new Set<string>();
    const w = worker({
      nodes: [address],
      queues: 'drain',
      concurrency: 2,
      handler: async (job) => {
        ran.add(job.id);
      },
    });
    w.start();
    await b.until(() => ran.size >= 20);
    await w.close();
    // Every job it took was run and acked, none handed back: leased-ahead jobs drain on close.
    const taken = [...b.jobs.values()].filter((job) => job.state !== 'waiting');
    expect(taken.every((job) => job.state === 'completed')).toBe(true);
    // Nothing failed back: a lease answered during close is released (no attempt used).
    expect(b.requests.filter((r) => r.kind === 'command' && r.op === 'fail')).toEqual([]);
    expect(taken.every((job) => job.attempts === 1)).toBe(true);
    expect(taken.map((job) => job.id).sort()).toEqual([...ran].sort());
  });

  it('acks the jobs that finish together in one ackMany request', async () => {
    const { broker: b, address } = await broker();
    b.add('q', 3);
    const release = gate();
    const threeRunning = gate();
    let running = 0;
    const w = worker({
      nodes: [address],
      queues: 'q',
      concurrency: 3,
      handler: async (job) => {
        if (++running === 3) threeRunning.open();
        await release.promise;
        return job.id === 'job-2' ? undefined : { done: job.id };
      },
    });
    const completed: string[] = [];
    w.on('completed', (job) => completed.push(job.id));
    w.start();
    await threeRunning.promise;
    release.open();
    await b.until(() => completed.length === 3);
    const acks = b.requests.filter((r): r is ValidCommandRequest => r.kind === 'command' && (r.op === 'ack' || r.op === 'ackMany'));
    expect(acks).toHaveLength(1);
    expect(acks[0]!.envelope.cmd).toMatchObject({ op: 'ackMany', acks: [{ jobId: 'job-1' }, { jobId: 'job-2' }, { jobId: 'job-3' }] });
    expect(b.decoded('job-1')!.result).toEqual({ done: 'job-1' });
    expect(b.decoded('job-2')!.result).toBeNull();
    expect(states(b)).toEqual(['completed', 'completed', 'completed']);
  });

  it('hands the handler the decoded payload, and dead-letters a payload that is not msgpack without running it', async () => {
    const { broker: b, address } = await broker();
    const [good] = b.add('q', 1, () => ({ to: 'a@b.c', n: [1, 2] }));
    const bad = b.addRaw('q', Uint8Array.of(0x92, 0x01)); // an array of two announced, one given
    const seen: unknown[] = [];
    const w = worker({ nodes: [address], queues: 'q', concurrency: 2, handler: async (job) => void seen.push(job.payload) });
    const failed = new Promise<{ id: string; error: unknown; state: string }>((resolve) => w.on('failed', (job, error, outcome) => resolve({ id: job.id, error, state: outcome.state })));
    w.start();
    expect(await failed).toMatchObject({ id: bad, state: 'dead', error: { code: 'BAD_REQUEST', field: 'payload' } });
    await b.until(() => b.jobs.get(good!)!.state === 'completed');
    expect(seen).toEqual([{ to: 'a@b.c', n: [1, 2] }]);
    expect(b.jobs.get(bad)!.lastError).toMatch(/payload: 2 bytes that are not one msgpack value/);
    expect(b.jobs.get(bad)!.attempts).toBe(1);
  });

  it('sends heartbeats every leaseMs / 3 while a handler runs', async () => {
    const { broker: b, address } = await broker();
    const [id] = b.add('q', 1);
    const w = worker({
      nodes: [address],
      queues: ['q'],
      leaseMs: 150,
      handler: async () => {
        await b.until(() => (b.heartbeats.get(id!) ?? 0) >= 3);
        return 'ok';
      },
    });
    const completed = new Promise((resolve) => w.on('completed', resolve));
    w.start();
    await completed;
    const heartbeat = b.requests.find((r): r is ValidCommandRequest => r.kind === 'command' && r.op === 'heartbeat')!;
    expect(heartbeat.envelope.cmd).toEqual({ op: 'heartbeat', jobId: id, token: `${id}:1`, leaseMs: 150 });
    expect(b.decoded(id!)).toMatchObject({ state: 'completed', result: 'ok' });
  });

  it('aborts the handler signal and emits leaseLost when a heartbeat answers STALE_LEASE, without acking', async () => {
    const { broker: b, address } = await broker();
    const [id] = b.add('q', 1);
    let seenJob: WorkerJob | null = null;
    const w = worker({
      nodes: [address],
      queues: 'q',
      leaseMs: 150,
      handler: async (job) => {
        seenJob = job;
        b.revokeLease(job.id);
        await new Promise((resolve) => job.signal.addEventListener('abort', resolve));
        return 'too late';
      },
    });
    const lost = new Promise<[LeasedJob, RaftqError]>((resolve) => w.on('leaseLost', (job, error) => resolve([job, error])));
    w.start();
    const [job, error] = await lost;
    expect(job.id).toBe(id);
    expect(error.code).toBe('STALE_LEASE');
    expect(seenJob!.signal.aborted).toBe(true);
    expect(seenJob!.signal.reason).toBe(error);
    await w.close({ graceMs: 1000 });
    expect(b.count('ack')).toBe(0);
    expect(b.count('fail')).toBe(0);
  });

  it('never retries an ack answered STALE_LEASE', async () => {
    const { broker: b, address } = await broker();
    const [id] = b.add('q', 1);
    const w = worker({
      nodes: [address],
      queues: 'q',
      handler: async (job) => {
        b.revokeLease(job.id);
        return 'result';
      },
    });
    const lost = new Promise<RaftqError>((resolve) => w.on('leaseLost', (_job, error) => resolve(error)));
    w.start();
    expect((await lost).code).toBe('STALE_LEASE');
    await w.close({ graceMs: 1000 });
    expect(b.count('ack')).toBe(1);
    expect(b.jobs.get(id!)!.state).toBe('active');
  });

  it('fails a job with the error message, retryable unless the error says retryable === false', async () => {
    const { broker: b, address } = await broker();
    b.add('q', 2, (i) => i);
    const w = worker({
      nodes: [address],
      queues: 'q',
      handler: async (job) => {
        if (job.payload === 0) throw new Error('smtp down');
        throw Object.assign(new Error('bad address'), { retryable: false });
      },
    });
    const failed: [string, string, string][] = [];
    w.on('failed', (job, error, outcome) => failed.push([job.id, (error as Error).message, outcome.state]));
    w.start();
    await b.until(() => b.count('fail') >= 2);
    const fails = b.requests.filter((r): r is ValidCommandRequest => r.kind === 'command' && r.op === 'fail').slice(0, 2);
    expect(fails.map((r) => r.envelope.cmd)).toEqual([
      { op: 'fail', jobId: 'job-1', token: 'job-1:1', error: 'smtp down', retryable: true },
      { op: 'fail', jobId: 'job-2', token: 'job-2:1', error: 'bad address', retryable: false },
    ]);
    await w.close({ graceMs: 0 });
    expect(failed.slice(0, 2)).toEqual([['job-1', 'smtp down', 'failed'], ['job-2', 'bad address', 'dead']]);
  });

  it('close stops leasing and waits for running handlers to finish and ack', async () => {
    const { broker: b, address } = await broker();
    const [id] = b.add('q', 1);
    const release = gate();
    const started = gate();
    const w = worker({
      nodes: [address],
      queues: 'q',
      handler: async () => {
        started.open();
        await release.promise;
        return 'drained';
      },
    });
    w.start();
    await started.promise;
    b.add('q', 5); // must not be leased: the worker is closing
    const closed = w.close({ graceMs: 30_000 });
    const leasesAtClose = leaseRequests(b).length;
    release.open();
    await closed;
    expect(b.decoded(id!)).toMatchObject({ state: 'completed', result: 'drained' });
    expect(leaseRequests(b)).toHaveLength(leasesAtClose);
    expect(states(b).filter((s) => s === 'waiting')).toHaveLength(5);
  });

  it('after the grace period, aborts unfinished handlers and fails their jobs back as retryable', async () => {
    const { broker: b, address } = await broker();
    const [id] = b.add('q', 1);
    const started = gate();
    let signal: AbortSignal | null = null;
    const w = worker({
      nodes: [address],
      queues: 'q',
      handler: async (job) => {
        signal = job.signal;
        started.open();
        await new Promise(() => undefined); // ignores its signal, never returns
      },
    });
    w.start();
    await started.promise;
    await w.close({ graceMs: 20 });
    expect(signal!.aborted).toBe(true);
    const fail = b.requests.find((r): r is ValidCommandRequest => r.kind === 'command' && r.op === 'fail')!;
    expect(fail.envelope.cmd).toMatchObject({ op: 'fail', jobId: id, retryable: true });
    expect(b.jobs.get(id!)!.state).toBe('waiting');
    expect(w.activeCount).toBe(0);
  });

  it('a drained worker closes without waiting for its four long polls', async () => {
    const { broker: b, address } = await broker();
    const w = worker({ nodes: [address], queues: 'q', concurrency: 8, pollWaitMs: 60_000, handler: async () => 'x' });
    const firstCompleted = new Promise<void>((resolve) => w.once('completed', () => resolve()));
    w.start();
    await b.until(() => b.parkedCount === 1);
    b.add('q', 1); // answered short: the queue is drained, four polls wait
    await firstCompleted;
    await b.until(() => b.parkedCount === 4);
    const startedMs = Date.now();
    await w.close({ graceMs: 60_000 }); // would take a minute if it waited for the polls
    expect(Date.now() - startedMs).toBeLessThan(30_000);
    await b.until(() => b.parkedCount === 0);
    b.add('q', 1);
    expect(states(b).filter((s) => s === 'waiting')).toHaveLength(1);
  });

  it('an idle worker closes without waiting for its long poll', async () => {
    const { broker: b, address } = await broker();
    const w = worker({ nodes: [address], queues: 'q', pollWaitMs: 60_000, handler: async () => 'x' });
    w.start();
    await b.until(() => leaseRequests(b).length === 1);
    await w.close({ graceMs: 60_000 }); // would take a minute if it waited for the poll
    // The node drops a parked poll when its connection closes, so a job added after takes no lease.
    await b.until(() => b.parkedCount === 0);
    b.add('q', 1);
    expect(states(b)).toEqual(['waiting']);
  });

  it('closes every worker gracefully on SIGTERM when handleSignals is on', async () => {
    const { broker: b, address } = await broker();
    const listenersBefore = process.listeners('SIGTERM');
    const release = gate();
    const started = gate();
    const busy = worker({
      nodes: [address],
      queues: 'q',
      handleSignals: true,
      handler: async () => {
        started.open();
        await release.promise;
        return 'finished during shutdown';
      },
    });
    const idle = worker({ nodes: [address], queues: 'other', handleSignals: true, handler: async () => 'x' });
    // Another listener, as an application would have: the workers then leave the process alone.
    const appListener = (): void => undefined;
    process.on('SIGTERM', appListener);
    cleanups.push(() => void process.off('SIGTERM', appListener));
    const [id] = b.add('q', 1);
    busy.start();
    idle.start();
    await started.promise;
    process.emit('SIGTERM', 'SIGTERM');
    await idle.close(); // the shutdown the signal started
    release.open();
    await busy.close();
    expect(b.decoded(id!)).toMatchObject({ state: 'completed', result: 'finished during shutdown' });
    expect(process.listeners('SIGTERM')).toEqual([...listenersBefore, appListener]);
  });
});
