// The entries a leader proposes are encoded by MsgpackWriter.plain (twice as fast as msgpackr's
// pack on them), and every node decodes them with msgpackr: both ways must agree on every command.

import { describe, expect, it } from 'vitest';
import { decodeBatch, encodeBatch } from '../../cluster/broker.js';
import type { EntryBatch } from '../../src/jobs/types.js';

describe('entry encoding', () => {
  it('decodes every command to what the leader encoded', () => {
    const payload = Buffer.from([0x82, 0xa2, 0x74, 0x6f, 0xa1, 0x78, 0xa1, 0x6e, 0x05]);
    const batch: EntryBatch = {
      nowMs: 1_795_425_237_502,
      envelopes: [
        {
          clientId: 'app-1',
          seq: 41,
          seqFloor: 40,
          cmd: {
            op: 'enqueue',
            jobs: [
              { queue: 'emails', payload },
              { queue: 'emails', name: 'welcome ✉', id: 'job-1', priority: 9, runAtMs: 1_795_425_300_000, maxAttempts: 5, backoff: { baseMs: 100, capMs: 60_000, jitter: 0.5 }, leaseMs: 30_000, idempotencyKey: 'k-1' },
            ],
          },
        },
        { clientId: 'w-1', seq: 3, cmd: { op: 'lease', workerId: 'w-1', queues: ['emails', 'sms'], max: 64, leaseMs: 10_000 } },
        { clientId: 'w-1', seq: 4, cmd: { op: 'ackMany', acks: [{ jobId: 'job-1', token: '7', result: Buffer.from([0xc3]) }, { jobId: 'job-2', token: '8' }] } },
        { clientId: 'w-1', seq: 5, cmd: { op: 'fail', jobId: 'job-3', token: '9', error: 'timeout: 😀', retryable: true } },
        { clientId: 'admin', seq: 1, cmd: { op: 'dlqRetry', queue: 'emails', jobIds: ['job-4'] } },
        { clientId: '', seq: 0, cmd: { op: 'tick' } },
      ],
    };
    expect(decodeBatch(encodeBatch(batch))).toEqual(batch);
  });

  it('copies each entry out of the shared buffer: a later entry does not change an earlier one', () => {
    const first = encodeBatch({ nowMs: 1, envelopes: [{ clientId: 'a', seq: 1, cmd: { op: 'cancel', jobId: 'x'.repeat(1000) } }] });
    const before = Buffer.from(first);
    encodeBatch({ nowMs: 2, envelopes: [{ clientId: 'b', seq: 2, cmd: { op: 'cancel', jobId: 'y'.repeat(2000) } }] });
    expect(Buffer.from(first).equals(before)).toBe(true);
    expect(first.byteLength).toBeLessThan(1100);
  });

  it('still encodes a value that is not plain data (through msgpackr)', () => {
    const odd = { nowMs: 5, envelopes: [{ clientId: 'a', seq: 1, cmd: { op: 'cancel', jobId: 'j', at: new Date(0) } }] } as unknown as EntryBatch;
    expect(decodeBatch(encodeBatch(odd))).toEqual(odd);
  });
});
