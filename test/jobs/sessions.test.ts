import { JobStateMachine } from '../../src/jobs/state-machine.js';
import type { Envelope } from '../../src/jobs/types.js';
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
    expect(h.apply(enqueueCmd, 'c', 1)).toEqual({ ok: true, value: { expired: 0, promoted: 0, removed: 0 } });
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
    expect(h.apply(enqueueCmd, 'c00001', 1)).toEqual({ ok: true, value: { expired: 0, promoted: 0, removed: 0 } });
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
