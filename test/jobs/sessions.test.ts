import { sessionResultBytes } from '../../src/jobs/sessions.js';
import { JobStateMachine } from '../../src/jobs/state-machine.js';
import type { Envelope, Outcome } from '../../src/jobs/types.js';
import { describe, expect, it } from 'vitest';
import { SESSION_IDLE_MS, SESSION_RESULTS_MAX, SESSIONS_MAX } from '../../src/limits.js';
import type { Command } from '../../src/jobs/types.js';
import { errorCode, Harness, value } from './harness.js';

const enqueueCmd: Command = { op: 'enqueue', jobs: [{ queue: 'q' }] };

describe('client sessions (exactly-once requests)', () => {
  it('the same (clientId, seq) applied twice applies once and answers the same outcome', () => {
    const h = new Harness();
    const first = h.apply(enqueueCmd, 'client-a', 7);
    const again = h.apply(enqueueCmd, 'client-a', 7);
    expect(again).toEqual(first);
    expect(h.machine.jobCount).toBe(1);
    // Even when the retry lands in the same entry as the original.
    const both = h.applyEntry([
      { clientId: 'client-a', seq: 8, cmd: enqueueCmd },
      { clientId: 'client-a', seq: 8, cmd: enqueueCmd },
    ]);
    expect(both[1]).toEqual(both[0]);
    expect(h.machine.jobCount).toBe(2);
  });

  it('a retried lease returns the same jobs and takes no more', () => {
    const h = new Harness();
    h.enqueue({ queue: 'q' }, { queue: 'q' }, { queue: 'q' });
    const cmd: Command = { op: 'lease', workerId: 'w', queues: ['q'], max: 2 };
    const first = value<'lease'>(h.apply(cmd, 'worker-1', 1));
    const retry = value<'lease'>(h.apply(cmd, 'worker-1', 1));
    expect(retry).toEqual(first);
    expect(h.machine.queueStats('q')?.counts).toMatchObject({ active: 2, waiting: 1 });
  });

  it('errors are remembered too: a retry of a refused ack is refused the same way', () => {
    const h = new Harness();
    const stale: Command = { op: 'ack', jobId: 'missing', token: 't' };
    const first = h.apply(stale, 'c', 1);
    h.enqueueOne({ queue: 'q', id: 'missing' });
    expect(h.apply(stale, 'c', 1)).toEqual(first);
  });

  it('seqs are per client, and clientId "" is never deduplicated', () => {
    const h = new Harness();
    h.apply(enqueueCmd, 'a', 1);
    h.apply(enqueueCmd, 'b', 1);
    h.apply(enqueueCmd, '', 1);
    h.apply(enqueueCmd, '', 1);
    expect(h.machine.jobCount).toBe(4);
  });

  it('keeps at most SESSION_RESULTS_MAX results per client, evicting the oldest seq, and refuses an evicted seq', () => {
    const h = new Harness();
    const envelopes = Array.from({ length: SESSION_RESULTS_MAX + 1 }, (_, seq) => ({ clientId: 'c', seq, cmd: { op: 'tick' } as Command }));
    h.applyEntry(envelopes);
    // seq 1 is still remembered (answered without applying); seq 0 was evicted and cannot be told apart from new.
    expect(h.apply(enqueueCmd, 'c', 1)).toEqual({ ok: true, value: { expired: 0, promoted: 0, removed: 0, fired: [] } });
    expect(errorCode(h.apply(enqueueCmd, 'c', 0))).toBe('BAD_REQUEST');
    expect(h.machine.jobCount).toBe(0);
  });

  it('keeps at most SESSIONS_MAX sessions, evicting the least recently used (then by clientId)', () => {
    const h = new Harness();
    h.apply(enqueueCmd, 'zzz-oldest-by-time', 1);
    h.advance(1);
    // All of these share one timestamp: the tie is broken by clientId.
    h.applyEntry(Array.from({ length: SESSIONS_MAX - 1 }, (_, i) => ({ clientId: `c${String(i).padStart(5, '0')}`, seq: 1, cmd: { op: 'tick' } as Command })));
    h.advance(1);
    h.apply({ op: 'tick' }, 'newcomer-1', 1); // evicts zzz-oldest-by-time
    h.apply({ op: 'tick' }, 'newcomer-2', 1); // evicts c00000, the smallest clientId of the oldest time
    expect(h.machine.jobCount).toBe(1);
    // A kept session answers from memory; a forgotten one applies its old seq again, as the
    // dissertation warns (each re-created session evicts the next least recently used).
    expect(h.apply(enqueueCmd, 'c00001', 1)).toEqual({ ok: true, value: { expired: 0, promoted: 0, removed: 0, fired: [] } });
    expect(h.machine.jobCount).toBe(1);
    h.apply(enqueueCmd, 'c00000', 1);
    expect(h.machine.jobCount).toBe(2);
    h.apply(enqueueCmd, 'zzz-oldest-by-time', 1);
    expect(h.machine.jobCount).toBe(3);
  });

  it('tick expires sessions idle for SESSION_IDLE_MS', () => {
    const h = new Harness();
    h.apply(enqueueCmd, 'idle', 1);
    h.apply(enqueueCmd, 'busy', 1);
    h.advance(SESSION_IDLE_MS - 1);
    h.apply({ op: 'tick' }, 'busy', 2);
    h.tick();
    expect(h.apply(enqueueCmd, 'idle', 1).ok).toBe(true);
    expect(h.machine.jobCount).toBe(2); // still remembered
    h.advance(SESSION_IDLE_MS);
    h.apply({ op: 'tick' }, 'busy', 3);
    h.tick();
    h.apply(enqueueCmd, 'idle', 1); // forgotten: applied afresh
    h.apply(enqueueCmd, 'busy', 1); // used recently: still remembered
    expect(h.machine.jobCount).toBe(3);
  });

  it('forgets the results below the seq floor a client sends, and refuses a replay of them', () => {
    const h = new Harness();
    const env = (seq: number, seqFloor?: number): Envelope => ({ clientId: 'c1', seq, ...(seqFloor === undefined ? {} : { seqFloor }), cmd: { op: 'enqueue', jobs: [{ queue: 'q' }] } });
    for (let seq = 1; seq <= 5; seq++) h.applyEntry([env(seq)]);
    const sixth = h.applyEntry([env(6, 5)])[0]!;
    expect(sixth.ok).toBe(true);
    // seq 5 is still awaited by the client: its retry answers the remembered result, creating nothing.
    const before = h.machine.jobCount;
    const replay5 = h.applyEntry([env(5, 5)])[0]!;
    expect(replay5.ok).toBe(true);
    expect(h.machine.jobCount).toBe(before);
    // seq 4 was below the floor: forgotten, so a replay is refused rather than applied again.
    const replay4 = h.applyEntry([env(4)])[0]!;
    expect(replay4.ok).toBe(false);
    expect(h.machine.jobCount).toBe(before);
  });
});

describe('client sessions bounded in bytes (a client that never sends seqFloor)', () => {
  const KIB = 1024;
  const payload = (fill: number): Uint8Array => new Uint8Array(16 * KIB).fill(fill);
  const lease = (workerId: string): Command => ({ op: 'lease', workerId, queues: ['q'], max: 1 });

  /** A harness whose sessions keep at most `perClientKib` per client and `totalKib` in all, with `jobs` queued jobs of 16 KiB. */
  const bounded = (perClientKib: number, totalKib: number, jobs: number): Harness => {
    const h = new Harness();
    h.machine = new JobStateMachine({ sessionResultBytesMax: perClientKib * KIB, sessionsResultBytesMax: totalKib * KIB });
    h.enqueue(...Array.from({ length: jobs }, (_, i) => ({ queue: 'q', payload: payload(i) })));
    return h;
  };

  it('measures a result as its snapshot restores it: a property holding undefined counts as absent', () => {
    const withUndefined = { ok: true, value: { ids: ['a'], note: undefined } } as unknown as Outcome;
    const restored = { ok: true, value: { ids: ['a'] } } as unknown as Outcome;
    expect(sessionResultBytes(withUndefined)).toBe(sessionResultBytes(restored));
  });

  it('counts a lease answer by its payloads, and a client past its bytes loses its oldest results, whose retries are refused', () => {
    const h = bounded(64, 1024, 10);
    const first = h.apply(lease('w'), 'w', 1);
    const oneAnswer = sessionResultBytes(first);
    expect(oneAnswer).toBeGreaterThan(16 * KIB);
    expect(oneAnswer).toBeLessThan(17 * KIB);
    for (let seq = 2; seq <= 10; seq++) h.apply(lease('w'), 'w', seq);
    const kept = Math.floor((64 * KIB) / oneAnswer);
    expect(h.machine.sessionResultBytes).toBe(kept * oneAnswer);
    // The newest answers are kept: a retry gets the same jobs and leases nothing more.
    expect(h.apply(lease('w'), 'w', 10)).toEqual(h.apply(lease('w'), 'w', 10));
    // The oldest were evicted: a retry is refused, never applied a second time.
    expect(errorCode(h.apply(lease('w'), 'w', 1))).toBe('BAD_REQUEST');
    expect(errorCode(h.apply(lease('w'), 'w', 10 - kept))).toBe('BAD_REQUEST');
    expect(h.machine.queueStats('q')?.counts).toMatchObject({ active: 10, waiting: 0 });
  });

  it('past the bytes of all sessions, takes the oldest results of the least recently used session holding any', () => {
    const h = bounded(64, 100, 20);
    // "emptied" is the least recently used, but its client acknowledged every answer (seqFloor): nothing to take there.
    h.applyEntry([{ clientId: 'emptied', seq: 1, cmd: lease('emptied') }]);
    h.applyEntry([{ clientId: 'emptied', seq: 2, seqFloor: 3, cmd: { op: 'tick' } }]);
    h.applyEntry([{ clientId: 'emptied', seq: 3, seqFloor: 3, cmd: { op: 'tick' } }]);
    h.advance(1);
    for (const client of ['a', 'b', 'c']) {
      h.apply(lease(client), client, 1);
      h.apply(lease(client), client, 2);
      h.advance(1);
    }
    const before = h.machine.sessionResultBytes;
    expect(before).toBeLessThanOrEqual(100 * KIB);
    h.apply(lease('d'), 'd', 1);
    expect(h.machine.sessionResultBytes).toBeLessThanOrEqual(100 * KIB);
    // a is the least recently used session with results: its oldest went, its newest stayed; b's are whole.
    expect(errorCode(h.apply(lease('a'), 'a', 1))).toBe('BAD_REQUEST');
    const active = h.machine.queueStats('q')?.counts.active;
    for (const [client, seq] of [['a', 2], ['b', 1], ['b', 2], ['c', 1], ['d', 1]] as const) expect(h.apply(lease(client), client, seq).ok).toBe(true);
    expect(h.machine.queueStats('q')?.counts.active).toBe(active);
  });

  it('a session emptied and passed over by the bound takes its place again once it holds results', () => {
    const h = bounded(64, 100, 20);
    const at = (clientId: string, seq: number, seqFloor?: number): Envelope => ({ clientId, seq, ...(seqFloor === undefined ? {} : { seqFloor }), cmd: lease(clientId) });
    // One entry, one timestamp: the order is by clientId, so a0 comes first.
    h.applyEntry([
      at('a0', 1),
      at('a0', 2, 3), // a0 acknowledged both answers: its session is empty
      at('b', 1), at('b', 2), at('c', 1), at('c', 2), at('d', 1), at('d', 2),
      at('e', 1), // past the bound: a0 is passed over (empty), b's oldest goes
      at('a0', 3), // past it again: a0, first in the order, holds a result now and loses it
    ]);
    expect(h.machine.sessionResultBytes).toBeLessThanOrEqual(100 * KIB);
    const active = h.machine.queueStats('q')?.counts.active;
    expect(errorCode(h.apply(lease('b'), 'b', 1))).toBe('BAD_REQUEST');
    expect(errorCode(h.apply(lease('a0'), 'a0', 3))).toBe('BAD_REQUEST');
    for (const [client, seq] of [['b', 2], ['c', 1], ['e', 1]] as const) expect(h.apply(lease(client), client, seq).ok).toBe(true);
    expect(h.machine.queueStats('q')?.counts.active).toBe(active);
  });

  it('a node restored from a snapshot counts the same bytes and evicts the same results as one that applied the log', () => {
    const h = bounded(64, 100, 40);
    for (const client of ['a', 'b', 'c']) {
      h.apply(lease(client), client, 1);
      h.advance(1);
    }
    const restored = JobStateMachine.restore(h.machine.snapshot(), { sessionResultBytesMax: 64 * KIB, sessionsResultBytesMax: 100 * KIB });
    expect(restored.sessionResultBytes).toBe(h.machine.sessionResultBytes);
    const rest: Envelope[] = [];
    for (let seq = 2; seq <= 8; seq++) for (const client of ['a', 'b', 'c', 'd']) rest.push({ clientId: client, seq, cmd: lease(client) });
    rest.push({ clientId: 'a', seq: 1, cmd: lease('a') }, { clientId: 'c', seq: 5, cmd: lease('c') });
    let index = h.index;
    for (const envelope of rest) {
      h.advance(1);
      const straight = h.applyEntry([envelope]);
      expect(restored.applyBatch(++index, { nowMs: h.nowMs, envelopes: [envelope] })).toEqual(straight);
    }
    expect(restored.sessionResultBytes).toBe(h.machine.sessionResultBytes);
    expect(restored.stateHash()).toBe(h.machine.stateHash());
  });
});

describe('client sessions restored from a snapshot', () => {
  it('hold copies of the bytes they remember, not views of the image (which would keep it allocated)', () => {
    const h = new Harness();
    h.enqueueOne({ queue: 'q', payload: new Uint8Array(64).fill(7) });
    const lease: Command = { op: 'lease', workerId: 'w1', queues: ['q'], max: 1 };
    const first = h.apply(lease, 'worker-a', 1);
    expect(first.ok).toBe(true);
    const image = h.machine.snapshot();
    const restored = JobStateMachine.restore(image);
    // The retry of seq 1 answers from the restored session.
    const again = restored.applyBatch(h.index + 1, { nowMs: h.nowMs, envelopes: [{ clientId: 'worker-a', seq: 1, cmd: lease }] })[0]!;
    const payload = (again.ok ? (again.value as { jobs: { payload: Uint8Array }[] }).jobs[0]!.payload : null)!;
    expect(Buffer.from(payload).equals(Buffer.alloc(64, 7))).toBe(true);
    expect(payload.buffer).not.toBe(image.buffer);
    expect(payload.buffer.byteLength).toBeLessThan(image.byteLength);
  });
});
