// A small driver for the state machine in tests: one command per entry unless batched, a clock
// the test moves by hand, and typed accessors for outcomes.

import { expect } from 'vitest';
import { JobStateMachine } from '../../src/jobs/state-machine.js';
import type { Command, CommandResults, EnqueueSpec, Envelope, Outcome, WireLeasedJob as LeasedJob } from '../../src/jobs/types.js';
import { decodeValue, encodeValue } from '../../src/protocol/values.js';

export const T0 = 1_700_000_000_000;

export class Harness {
  machine = new JobStateMachine();
  index = 0;
  nowMs = T0;

  /** Applies one entry holding these envelopes. */
  applyEntry(envelopes: Envelope[]): Outcome[] {
    this.index += 1;
    return this.machine.applyBatch(this.index, { nowMs: this.nowMs, envelopes });
  }

  apply(cmd: Command, clientId = '', seq = 0): Outcome {
    return this.applyEntry([{ clientId, seq, cmd }])[0] as Outcome;
  }

  advance(ms: number): void {
    this.nowMs += ms;
  }

  enqueue(...jobs: EnqueueSpec[]): CommandResults['enqueue'] {
    return value<'enqueue'>(this.apply({ op: 'enqueue', jobs }));
  }

  enqueueOne(spec: EnqueueSpec): string {
    return this.enqueue(spec).ids[0] as string;
  }

  lease(queues: string[], max = 1, leaseMs?: number, workerId = 'w1'): LeasedJob[] {
    const cmd: Command = leaseMs === undefined ? { op: 'lease', workerId, queues, max } : { op: 'lease', workerId, queues, max, leaseMs };
    return value<'lease'>(this.apply(cmd)).jobs;
  }

  leaseOne(queue: string, leaseMs?: number): LeasedJob {
    const jobs = this.lease([queue], 1, leaseMs);
    expect(jobs.length).toBe(1);
    return jobs[0] as LeasedJob;
  }

  ack(job: LeasedJob, result: unknown = null): Outcome {
    return this.apply({ op: 'ack', jobId: job.id, token: job.token, result: bytes(result) });
  }

  fail(job: LeasedJob, retryable = true, error = 'boom'): Outcome {
    return this.apply({ op: 'fail', jobId: job.id, token: job.token, error, retryable });
  }

  tick(): CommandResults['tick'] {
    return value<'tick'>(this.apply({ op: 'tick' }));
  }
}

export function value<K extends keyof CommandResults>(outcome: Outcome): CommandResults[K] {
  if (!outcome.ok) throw new Error(`expected ok, got ${outcome.error.code}: ${outcome.error.message}`);
  return outcome.value as CommandResults[K];
}

export function errorCode(outcome: Outcome): string {
  if (outcome.ok) throw new Error(`expected an error, got ${JSON.stringify(outcome.value)}`);
  return outcome.error.code;
}

/** A value as a client sends it: its msgpack bytes. */
export function bytes(value: unknown): Uint8Array {
  return encodeValue(value);
}

/** The value held in payload or result bytes (throws when they are not msgpack). */
export function valueOf(stored: Uint8Array | null): unknown {
  if (stored === null) return null;
  const decoded = decodeValue(stored);
  if (!decoded.ok) throw decoded.error;
  return decoded.value;
}

/** mulberry32: a tiny seeded PRNG, so generated logs replay exactly from their seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
