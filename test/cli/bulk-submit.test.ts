// `raftq submit` in bulk (--count, stdin): every job gets its own idempotency key and id, and a
// submit that fails part way says what was acknowledged, what may have been taken, and how a
// second run avoids duplicates. Run in process against the SDK's fake broker.

import { Readable } from 'node:stream';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { registerClientCommands } from '../../src/cli/commands.js';
import { RaftqError } from '../../src/errors.js';
import type { ValidCommandRequest } from '../../src/protocol/messages.js';
import { type FakeBroker, useFakeBrokers } from '../client/fake-broker.js';

const { broker } = useFakeBrokers();

/** Runs `raftq <args>` in this process; what it prints on stdout is returned. */
async function raftq(args: string[]): Promise<string> {
  const program = new Command().exitOverride();
  registerClientCommands(program);
  const printed: string[] = [];
  const log = console.log;
  console.log = (...values: unknown[]) => void printed.push(values.join(' '));
  try {
    await program.parseAsync(['node', 'raftq', ...args]);
  } finally {
    console.log = log;
  }
  return printed.join('\n');
}

function enqueuedJobs(b: FakeBroker): { idempotencyKey?: string; id?: string }[] {
  return b.requests
    .filter((r): r is ValidCommandRequest => r.kind === 'command' && r.envelope.cmd.op === 'enqueue')
    .flatMap((r) => (r.envelope.cmd.op === 'enqueue' ? r.envelope.cmd.jobs : []));
}

describe('raftq submit in bulk (--count, stdin)', () => {
  it('keys job n <key>-<n> and names it <id>-<n>, so no two jobs share a key or an id', async () => {
    const { broker: b, address } = await broker();
    await raftq(['--nodes', address, 'submit', 'q', '{"n":1}', '--count', '2500', '--idempotency-key', 'batch7', '--id', 'mail']);
    const jobs = enqueuedJobs(b);
    expect(jobs).toHaveLength(2500);
    expect(new Set(jobs.map((j) => j.idempotencyKey))).toEqual(new Set(Array.from({ length: 2500 }, (_, n) => `batch7-${n}`)));
    expect(new Set(jobs.map((j) => j.id))).toEqual(new Set(Array.from({ length: 2500 }, (_, n) => `mail-${n}`)));
  });

  it('from stdin, keys each line its own <key>-<n> (one shared key would make them one job) and prints every id', async () => {
    const { broker: b, address } = await broker();
    const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!;
    Object.defineProperty(process, 'stdin', { value: Readable.from(['{"to":"a"}\n', '\n{"to":"b"}\n{"to":"c"}\n']), configurable: true });
    let printed: string;
    try {
      printed = await raftq(['--nodes', address, 'submit', 'q', '-', '--idempotency-key', 'import-3']);
    } finally {
      Object.defineProperty(process, 'stdin', stdin);
    }
    expect(enqueuedJobs(b).map((j) => j.idempotencyKey)).toEqual(['import-3-0', 'import-3-1', 'import-3-2']);
    expect(printed.split('\n')).toEqual([...b.jobs.keys()]);
  });

  it('says, when it fails part way, how many jobs were acknowledged, in flight and not sent', async () => {
    const { broker: b, address } = await broker();
    let batches = 0;
    b.intercept = (request) => {
      // The third batch is refused; the others in flight go through.
      if (request.kind === 'command' && request.op === 'enqueue' && ++batches === 3) throw new RaftqError('INTERNAL', 'disk full', { retryable: false });
    };
    const failure = raftq(['--nodes', address, 'submit', 'q', '{"n":1}', '--count', '20000']);
    await expect(failure).rejects.toThrow(/^submit q: (\d+) of 20000 jobs acknowledged \(committed: they will not be lost\), then: disk full\n(\d+) more were in flight and may or may not have been taken; (\d+) were not sent\. Running it again would submit the acknowledged jobs twice; with --idempotency-key/);
    const message = await failure.catch((error: Error) => error.message);
    const [, acknowledged, inFlight, notSent] = /(\d+) of 20000 .*\n(\d+) more .*; (\d+) were not sent/.exec(message)!.map(Number);
    // Eight batches of 1,000 go out first; the third is refused while the other seven are taken.
    expect(acknowledged).toBeGreaterThanOrEqual(2000);
    expect(acknowledged! % 1000).toBe(0);
    expect(acknowledged! + inFlight! + notSent!).toBe(20000);
    expect(b.jobs.size).toBeGreaterThanOrEqual(acknowledged!);
    expect(b.jobs.size).toBeLessThanOrEqual(acknowledged! + inFlight!);
  });

  it('tells a keyed submit that failed part way to run the same command again', async () => {
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      if (request.kind === 'command' && request.op === 'enqueue') throw new RaftqError('QUEUE_PAUSED', 'queue q is paused');
    };
    await expect(raftq(['--nodes', address, 'submit', 'q', '1', '--count', '10', '--idempotency-key', 'k'])).rejects.toThrow(
      /^submit q: 0 of 10 jobs acknowledged .*then: queue q is paused\n10 more were in flight .*; 0 were not sent\. Run the same command again within 10 minutes/,
    );
  });
});
