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

/** Runs `fn` with process.stdin reading `chunks`. */
async function withStdin<T>(chunks: string[], fn: () => Promise<T>): Promise<T> {
  const stdin = Object.getOwnPropertyDescriptor(process, 'stdin')!;
  Object.defineProperty(process, 'stdin', { value: Readable.from(chunks), configurable: true });
  try {
    return await fn();
  } finally {
    Object.defineProperty(process, 'stdin', stdin);
  }
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

  it('from stdin, keys each line <key>-<line number> (one shared key would make them one job) and prints every id', async () => {
    const { broker: b, address } = await broker();
    const printed = await withStdin(['{"to":"a"}\n', '\n{"to":"b"}\n{"to":"c"}\n'], () => raftq(['--nodes', address, 'submit', 'q', '-', '--idempotency-key', 'import-3']));
    expect(enqueuedJobs(b).map((j) => j.idempotencyKey)).toEqual(['import-3-1', 'import-3-3', 'import-3-4']);
    expect(printed.split('\n')).toEqual([...b.jobs.keys()]);
  });

  it('says, when it fails part way, how many jobs were taken, of unknown outcome, refused and not sent', async () => {
    const { broker: b, address } = await broker();
    let batches = 0;
    b.intercept = (request) => {
      // The third request fails in a way that leaves its outcome unknown; no batch starts after it.
      if (request.kind === 'command' && request.op === 'enqueue' && ++batches === 3) throw new RaftqError('INTERNAL', 'a bug (ref 7)');
    };
    const failure = raftq(['--nodes', address, 'submit', 'q', '{"n":1}', '--count', '20000']);
    const message = await failure.then(() => '', (error: Error) => error.message);
    expect(message).toMatch(
      /^submit q: (\d+) of 20000 jobs acknowledged \(committed: they will not be lost\), 1000 may or may not have been taken, 0 refused, (\d+) not sent\. The failure: a bug \(ref 7\)\nRunning it again would submit the jobs already taken twice; with --idempotency-key/,
    );
    const [, taken, notSent] = /(\d+) of 20000 .* (\d+) not sent/.exec(message)!.map(Number);
    // Eight batches of 1,000 go out at once, and lanes answered before the failure start more; none
    // starts once it is known (without that stop, all 19 other batches would be taken).
    expect(taken! % 1000).toBe(0);
    expect(taken).toBeGreaterThanOrEqual(7000);
    expect(taken).toBeLessThanOrEqual(15000);
    expect(taken! + 1000 + notSent!).toBe(20000);
    expect(b.jobs.size).toBe(taken);
  });

  it('names the stdin line of a refused job, and counts its batch refused, the rest taken', async () => {
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      if (request.kind !== 'command' || request.envelope.cmd.op !== 'enqueue') return;
      const at = request.envelope.cmd.jobs.findIndex((job) => job.idempotencyKey === 'imp-1504');
      if (at >= 0) throw new RaftqError('PAYLOAD_TOO_LARGE', `jobs[${at}].payload: payload of 2000000 bytes exceeds 1048576`, { field: `jobs[${at}].payload` });
    };
    // 2,500 payloads, one per line, and a blank line first: job 1502 is on line 1504.
    const lines = ['\n', ...Array.from({ length: 2500 }, (_, n) => `{"n":${n}}\n`)];
    const message = await withStdin(lines, () => raftq(['--nodes', address, 'submit', 'q', '-', '--idempotency-key', 'imp'])).then(
      () => '',
      (error: Error) => error.message,
    );
    expect(message).toBe(
      'submit q: 1500 of 2500 jobs acknowledged (committed: they will not be lost), 0 may or may not have been taken, 1000 refused, 0 not sent. ' +
        'The failure: stdin line 1504: payload: payload of 2000000 bytes exceeds 1048576\n' +
        'Once what was refused is mended (in place), run the same command again within 10 minutes to submit the rest: a job whose idempotency key was already taken is not taken twice.',
    );
    expect(b.jobs.size).toBe(1500);
  });

  it('says a submit that took nothing is safe to run again', async () => {
    const { broker: b, address } = await broker();
    b.intercept = (request) => {
      if (request.kind === 'command' && request.op === 'enqueue') throw new RaftqError('QUEUE_PAUSED', 'queue q is paused');
    };
    await expect(raftq(['--nodes', address, 'submit', 'q', '1', '--count', '10'])).rejects.toThrow(
      /^submit q: 0 of 10 jobs acknowledged .*, 0 may or may not have been taken, 10 refused, 0 not sent\. The failure: queue q is paused\nNothing was taken: once what was refused is mended \(in place\), run the command again\.$/,
    );
  });
});
