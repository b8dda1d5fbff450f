// The client and admin commands of the `raftq` CLI. They speak only the wire protocol (through
// the SDK), never the node's internals; cluster/main.ts registers them next to `node` and `dev`.

import { spawn } from 'node:child_process';
import readline from 'node:readline';
import type { Command } from 'commander';
import { Client, type JobToSubmit, type SubmitOptions } from '../client/client.js';
import { SubmitManyError } from '../client/submit-outcome.js';
import { Transport } from '../client/transport.js';
import { Worker } from '../client/worker.js';
import { RaftqError } from '../errors.js';
import type { Job } from '../jobs/types.js';
import { ENQUEUE_BATCH_MAX, IDEMPOTENCY_WINDOW_MS } from '../limits.js';
import type { ClusterStatus, NodeStatus } from '../protocol/messages.js';
import { formatTime, parseDurationMs, parseJsonArg, table } from './format.js';
import { Progress } from './progress.js';

export const DEFAULT_NODE_LIST = '127.0.0.1:7001,127.0.0.1:7002,127.0.0.1:7003';
/** Batches (of ENQUEUE_BATCH_MAX jobs) in flight while submitting from stdin or with --count. */
const SUBMIT_BATCHES_INFLIGHT = 8;

interface GlobalOptions {
  nodes?: string;
  json?: boolean;
}

export function nodeList(opts: GlobalOptions): string[] {
  const text = opts.nodes ?? process.env.RAFTQ_NODES ?? DEFAULT_NODE_LIST;
  const nodes = text.split(',').map((s) => s.trim()).filter(Boolean);
  if (nodes.length === 0) throw new Error('no nodes: use --nodes host:port,... or RAFTQ_NODES');
  return nodes;
}

function globals(cmd: Command): GlobalOptions {
  return cmd.optsWithGlobals<GlobalOptions>();
}

export async function withClient<T>(cmd: Command, fn: (client: Client, opts: GlobalOptions) => Promise<T>): Promise<T> {
  const opts = globals(cmd);
  const client = new Client({ nodes: nodeList(opts) });
  try {
    return await fn(client, opts);
  } finally {
    await client.close();
  }
}

export function print(opts: GlobalOptions, value: unknown, text: () => string): void {
  console.log(opts.json ? JSON.stringify(value, null, 2) : text());
}

function submitOptions(o: Record<string, string | undefined>): SubmitOptions {
  const out: SubmitOptions = {};
  if (o.priority !== undefined) out.priority = /^\d+$/.test(o.priority) ? Number(o.priority) : (o.priority as SubmitOptions['priority']);
  if (o.delay !== undefined) out.delayMs = parseDurationMs(o.delay);
  if (o.maxAttempts !== undefined) out.maxAttempts = Number(o.maxAttempts);
  if (o.idempotencyKey !== undefined) out.idempotencyKey = o.idempotencyKey;
  if (o.id !== undefined) out.id = o.id;
  if (o.name !== undefined) out.name = o.name;
  if (o.lease !== undefined) out.leaseMs = parseDurationMs(o.lease);
  return out;
}

function jobLine(job: Job): string {
  return table(
    ['field', 'value'],
    [
      ['id', job.id], ['queue', job.queue], ['name', job.name], ['state', job.state], ['priority', job.priority],
      ['attempts', `${job.attempts}/${job.maxAttempts}`], ['redeliveries', job.redeliveries], ['created', formatTime(job.createdAtMs)],
      ['runAt', formatTime(job.runAtMs)], ['started', formatTime(job.startedAtMs)], ['finished', formatTime(job.finishedAtMs)],
      ['lastError', job.lastError], ['payload', JSON.stringify(job.payload)], ['result', job.result === undefined ? null : JSON.stringify(job.result)],
    ],
  );
}

export function registerClientCommands(program: Command): void {
  program.option('--nodes <list>', 'node client addresses, comma-separated (or RAFTQ_NODES)').option('--json', 'machine-readable output');

  program
    .command('submit <queue> <payload>')
    .description("submit a job; <payload> is JSON, or '-' to read one JSON payload per line from stdin")
    .option('--priority <p>', '0..9 (9 highest) or low|normal|high')
    .option('--delay <duration>', 'run no sooner than this from now (e.g. 5s, 2m)')
    .option('--max-attempts <n>', 'attempts before the job goes to the dead-letter queue')
    .option('--idempotency-key <key>', 'a second submit with this key returns the first job (in bulk: <key>-<n>, n from 0 with --count, the line number from stdin)')
    .option('--id <id>', 'your own job id (in bulk: <id>-<n>, as for --idempotency-key)')
    .option('--name <name>', 'job name')
    .option('--lease <duration>', 'visibility timeout of each attempt')
    .option('--count <n>', 'submit the payload this many times (in batches)', '1')
    .action(async (queue: string, payloadText: string, o: Record<string, string | undefined>, cmd: Command) => {
      await withClient(cmd, async (client, opts) => {
        const base = submitOptions(o);
        if (payloadText === '-') return submitFromStdin(client, queue, base, opts);
        const payload = parseJsonArg(payloadText, 'payload');
        const count = Number(o.count ?? '1');
        if (!Number.isInteger(count) || count < 1) throw new Error('--count: a positive integer');
        if (count === 1) {
          const id = await client.submit(queue, payload, base);
          print(opts, { id }, () => id);
          return;
        }
        const ids = await submitCounted(client, queue, countedJobs(payload, base, count), bulkKeys(base), (n) => `job ${n}`);
        print(opts, { ids }, () => `submitted ${ids.length} jobs to ${queue} (first ${ids[0]}, last ${ids[ids.length - 1]})`);
      });
    });

  program
    .command('job <id>')
    .description('show one job')
    .option('--stale', 'read from the node you reach, without a leader round trip')
    .option('--wait <duration>', 'wait until the job is finished (or the duration passes)')
    .action(async (id: string, o: { stale?: boolean; wait?: string }, cmd: Command) => {
      await withClient(cmd, async (client, opts) => {
        const job = o.wait ? await client.waitForResult(id, { timeoutMs: parseDurationMs(o.wait) }) : await client.get(id, { stale: o.stale });
        if (!job) throw new RaftqError('NOT_FOUND', `no job ${id}`);
        print(opts, job, () => jobLine(job));
      });
    });

  program
    .command('cancel <id>')
    .description('cancel a job (an active one: its worker can no longer ack it)')
    .action(async (id: string, _o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, opts) => {
        const r = await client.cancel(id);
        print(opts, r, () => (r.cancelled ? `cancelled ${id}` : `not cancelled: ${id} is ${r.state}`));
      });
    });

  program
    .command('queues')
    .description('list queues with their job counts')
    .action(async (_o: unknown, cmd: Command) => {
      await withClient(cmd, async (client, opts) => {
        const queues = await client.queues();
        print(opts, queues, () =>
          queues.length === 0
            ? '(no queues)'
            : table(
                ['queue', 'paused', 'waiting', 'delayed', 'active', 'failed', 'completed', 'dead', 'cancelled'],
                queues.map((q) => [q.queue, q.paused ? 'yes' : 'no', q.counts.waiting, q.counts.delayed, q.counts.active, q.counts.failed, q.counts.completed, q.counts.dead, q.counts.cancelled]),
              ),
        );
      });
    });

  const queue = program.command('queue').description('one queue: stats, pause, resume');
  queue.command('stats <queue>').action(async (name: string, _o: unknown, cmd: Command) => {
    await withClient(cmd, async (client, opts) => {
      const s = await client.stats(name);
      print(opts, s, () => table(['state', 'jobs'], Object.entries(s.counts)) + `\npaused: ${s.paused}\ntotals: ${JSON.stringify(s.totals)}`);
    });
  });
  queue.command('pause <queue>').description('hand out nothing from this queue (it still accepts jobs)').action(async (name: string, _o: unknown, cmd: Command) => {
    await withClient(cmd, async (client, opts) => {
      await client.pause(name);
      print(opts, { queue: name, paused: true }, () => `paused ${name}`);
    });
  });
  queue.command('resume <queue>').action(async (name: string, _o: unknown, cmd: Command) => {
    await withClient(cmd, async (client, opts) => {
      await client.resume(name);
      print(opts, { queue: name, paused: false }, () => `resumed ${name}`);
    });
  });

  registerDlqCommands(program);
  registerWorkerCommand(program);
  registerClusterCommands(program);
}

/**
 * Jobs submitted in bulk each get their own id and idempotency key, `<given>-<n>`: with --count n
 * counts from 0, from stdin it is the job's line number. One key shared by all would make them
 * one job, and numbered keys let the same command, run again after a failure, skip the jobs
 * already taken (a line mended in place keeps its number).
 */
function numberedJob(job: JobToSubmit, n: number): JobToSubmit {
  return { ...job, ...(job.idempotencyKey ? { idempotencyKey: `${job.idempotencyKey}-${n}` } : {}), ...(job.id ? { id: `${job.id}-${n}` } : {}) };
}

function countedJobs(payload: unknown, base: SubmitOptions, count: number): JobToSubmit[] {
  return Array.from({ length: count }, (_, n) => numberedJob({ ...base, payload }, n));
}

/** How a second run of a bulk submit recognizes the jobs the first one took, if it can. */
type BulkKeys = 'idempotency key' | 'id' | null;

function bulkKeys(base: SubmitOptions): BulkKeys {
  if (base.id !== undefined) return 'id';
  return base.idempotencyKey !== undefined ? 'idempotency key' : null;
}

/** Jobs of a bulk submit by what became of them. */
interface BulkCounts {
  total: number;
  /** Acknowledged: committed on a majority, never lost. */
  taken: number;
  /** Answered with a refusal of their request: certainly not taken. */
  refused: number;
  /** In a request whose outcome is unknown: taken or not. */
  unknown: number;
}

/** A bulk submit that failed part way: what was taken, what may have been, what to do next. */
export class BulkSubmitError extends Error {
  constructor(queue: string, cause: unknown, counts: BulkCounts, keys: BulkKeys) {
    const notSent = counts.total - counts.taken - counts.refused - counts.unknown;
    const what = cause instanceof Error ? cause.message : String(cause);
    super(
      `submit ${queue}: ${counts.taken} of ${counts.total} jobs acknowledged (committed: they will not be lost), ` +
        `${counts.unknown} may or may not have been taken, ${counts.refused} refused, ${notSent} not sent. The failure: ${what}\n` +
        rerunAdvice(counts, keys),
      { cause },
    );
    this.name = 'BulkSubmitError';
  }
}

function rerunAdvice(counts: BulkCounts, keys: BulkKeys): string {
  // A refusal is for what the request holds: the same jobs would be refused again.
  const run = counts.refused > 0 ? 'Once what was refused is mended (in place), run' : 'Run';
  if (counts.taken === 0 && counts.unknown === 0) return `Nothing was taken: ${run.toLowerCase()} the command again.`;
  if (keys === 'id') return `${run} the same command again to submit the rest: a job whose id was already taken is not taken twice.`;
  if (keys === 'idempotency key') {
    return `${run} the same command again within ${IDEMPOTENCY_WINDOW_MS / 60_000} minutes to submit the rest: a job whose idempotency key was already taken is not taken twice.`;
  }
  return 'Running it again would submit the jobs already taken twice; with --idempotency-key (each job keyed <key>-<n>) a second run skips them.';
}

/**
 * Submits `jobs` in batches of ENQUEUE_BATCH_MAX, several in flight, with a progress line. After
 * a failure no new batch starts; the ones in flight are waited for, so the error counts them.
 */
async function submitCounted(client: Client, queue: string, jobs: JobToSubmit[], keys: BulkKeys, describeJob: (n: number) => string): Promise<string[]> {
  const progress = new Progress({ label: `submit ${queue}`, total: jobs.length, unit: 'jobs' });
  const ids: string[] = new Array(jobs.length);
  const counts: BulkCounts = { total: jobs.length, taken: 0, refused: 0, unknown: 0 };
  let firstFailure: unknown = null;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < jobs.length && firstFailure === null) {
      const start = next;
      const end = Math.min(jobs.length, start + ENQUEUE_BATCH_MAX);
      next = end;
      try {
        const got = await client.submitMany(queue, jobs.slice(start, end));
        for (let i = 0; i < got.length; i++) ids[start + i] = got[i]!;
        counts.taken += got.length;
        progress.add(got.length);
      } catch (error) {
        firstFailure ??= locateFailure(error, start, describeJob);
        if (!(error instanceof SubmitManyError)) {
          counts.unknown += end - start;
          continue;
        }
        const batch = error.counts;
        counts.taken += batch.taken;
        counts.refused += batch.refused;
        counts.unknown += batch.unknown;
        progress.add(batch.taken);
        error.outcomes.forEach((outcome, i) => {
          if ('id' in outcome) ids[start + i] = outcome.id;
        });
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: SUBMIT_BATCHES_INFLIGHT }, lane));
  } finally {
    progress.finish();
  }
  if (firstFailure !== null) throw new BulkSubmitError(queue, firstFailure, counts, keys);
  return ids;
}

/** A failure that names a job (`jobs[3].payload`) says which of the whole submit it is. */
function locateFailure(error: unknown, batchStart: number, describeJob: (n: number) => string): unknown {
  if (!(error instanceof RaftqError) || error.field === undefined) return error;
  const at = /^jobs\[(\d+)\]/.exec(error.field);
  if (at === null) return error;
  const what = error.message.startsWith(at[0]) ? error.message.slice(at[0].length).replace(/^\./, '') : error.message;
  return new Error(`${describeJob(batchStart + Number(at[1]))}: ${what}`, { cause: error });
}

async function submitFromStdin(client: Client, queue: string, base: SubmitOptions, opts: GlobalOptions): Promise<void> {
  const jobs: JobToSubmit[] = [];
  const lineNos: number[] = [];
  let lineNo = 0;
  for await (const line of readline.createInterface({ input: process.stdin })) {
    lineNo++;
    if (line.trim() === '') continue;
    jobs.push(numberedJob({ ...base, payload: parseJsonArg(line, `stdin line ${lineNo}`) }, lineNo));
    lineNos.push(lineNo);
  }
  const ids = await submitCounted(client, queue, jobs, bulkKeys(base), (n) => `stdin line ${lineNos[n]}`);
  print(opts, { ids }, () => ids.join('\n'));
}

function registerDlqCommands(program: Command): void {
  const dlq = program.command('dlq').description('the dead-letter queue of a queue: jobs that used up their attempts');
  dlq
    .command('list <queue>')
    .option('--offset <n>', 'skip this many', '0')
    .option('--limit <n>', 'show this many (at most 100)', '20')
    .action(async (name: string, o: { offset: string; limit: string }, cmd: Command) => {
      await withClient(cmd, async (client, opts) => {
        const r = await client.dlq.list(name, { offset: Number(o.offset), limit: Number(o.limit) });
        print(opts, r, () =>
          `${r.total} dead job(s) in ${name}\n` +
          table(['id', 'attempts', 'finished', 'lastError'], r.jobs.map((j) => [j.id, j.attempts, formatTime(j.finishedAtMs), (j.lastError ?? '').slice(0, 80)])),
        );
      });
    });
  for (const action of ['retry', 'purge'] as const) {
    dlq
      .command(`${action} <queue>`)
      .description(action === 'retry' ? 'move dead jobs back to waiting, attempts reset' : 'delete dead jobs')
      .option('--ids <ids>', 'comma-separated job ids')
      .option('--max <n>', 'at most this many (oldest first)')
      .option('--all', 'every dead job of the queue (in batches, with progress)')
      .action(async (name: string, o: { ids?: string; max?: string; all?: boolean }, cmd: Command) => {
        await withClient(cmd, async (client, opts) => {
          const run = (sel: { jobIds?: string[]; max?: number }): Promise<number> => (action === 'retry' ? client.dlq.retry(name, sel) : client.dlq.purge(name, sel));
          let moved = 0;
          if (o.all) {
            const total = (await client.dlq.list(name, { limit: 1 })).total;
            const progress = new Progress({ label: `dlq ${action} ${name}`, total, unit: 'jobs' });
            for (;;) {
              const n = await run({ max: ENQUEUE_BATCH_MAX });
              moved += n;
              progress.add(n);
              if (n === 0) break;
            }
            progress.finish();
          } else {
            if (!o.ids && !o.max) throw new Error('say which jobs: --ids, --max or --all');
            moved = await run({ jobIds: o.ids ? o.ids.split(',') : undefined, max: o.max ? Number(o.max) : undefined });
          }
          print(opts, { [action === 'retry' ? 'retried' : 'purged']: moved }, () => `${action === 'retry' ? 'retried' : 'purged'} ${moved} job(s) in ${name}`);
        });
      });
  }
}

function registerWorkerCommand(program: Command): void {
  program
    .command('worker <queue> <command...>')
    .description('run <command> once per job with the payload as JSON on stdin: exit 0 acks with stdout as the result, non-zero fails with stderr')
    .option('--concurrency <n>', 'jobs at once', '1')
    .option('--lease <duration>', 'visibility timeout; heartbeats keep it while the command runs', '30s')
    .option('--max-jobs <n>', 'stop after this many jobs')
    .action(async (queue: string, command: string[], o: { concurrency: string; lease: string; maxJobs?: string }, cmd: Command) => {
      const opts = globals(cmd);
      let handled = 0;
      const maxJobs = o.maxJobs ? Number(o.maxJobs) : Infinity;
      const worker = new Worker({
        nodes: nodeList(opts),
        queues: queue.split(','),
        concurrency: Number(o.concurrency),
        leaseMs: parseDurationMs(o.lease),
        handler: (job) => runCommand(command, job.payload, job.signal),
      });
      const done = new Promise<void>((resolve) => {
        const count = (): void => {
          handled++;
          if (handled >= maxJobs) void worker.close().then(resolve);
        };
        worker.on('completed', (job) => {
          console.error(`completed ${job.id} (attempt ${job.attempt})`);
          count();
        });
        worker.on('failed', (job, error, outcome) => {
          console.error(`failed ${job.id} (attempt ${job.attempt}/${job.maxAttempts}) -> ${outcome.state}: ${(error as Error).message.split('\n')[0]}`);
          count();
        });
        worker.on('leaseLost', (job, error) => console.error(`lease lost ${job.id}: ${error.message}`));
        worker.on('error', (error) => console.error(`worker error: ${error.message}`));
      });
      console.error(`worker on ${queue}, concurrency ${o.concurrency}, running: ${command.join(' ')}`);
      worker.start();
      await done;
    });
}

function runCommand(command: string[], payload: unknown, abort: AbortSignal): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const child = spawn(command[0]!, command.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], signal: abort });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    child.stderr.on('data', (c: Buffer) => err.push(c));
    child.on('error', (e) => reject(abort.aborted ? new Error(`stopped by the worker (${String(abort.reason ?? 'aborted')})`) : e));
    child.on('close', (code, signal) => {
      const stdout = Buffer.concat(out).toString('utf8').trim();
      if (code === 0) {
        try {
          resolve(stdout === '' ? null : JSON.parse(stdout));
        } catch {
          resolve(stdout);
        }
      } else {
        const stderr = Buffer.concat(err).toString('utf8').trim();
        // An aborted job (worker shutting down, or lease lost) kills the command: say so, not "exit null".
        const how = abort.aborted ? `stopped by the worker (${String(abort.reason ?? 'aborted')})` : signal !== null ? `killed by ${signal}` : `exit code ${code}`;
        reject(new Error(stderr || how));
      }
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(JSON.stringify(payload));
  });
}

function registerClusterCommands(program: Command): void {
  const cluster = program.command('cluster').description('inspect and change the cluster');
  cluster
    .command('status')
    .description('one row per node: role, term, commit/applied index, lag, last contact')
    .action(async (_o: unknown, cmd: Command) => {
      const opts = globals(cmd);
      const status = await gatherStatus(nodeList(opts));
      print(opts, status, () => statusTable(status));
    });
  const admin = async (cmd: Command, op: 'transferLeader' | 'addNode' | 'removeNode' | 'snapshot' | 'stateHash', fields: Record<string, unknown>, text: (r: unknown) => string): Promise<void> => {
    const opts = globals(cmd);
    const transport = new Transport({ nodes: nodeList(opts), retry: { attempts: 3 } });
    try {
      const r = await transport.call(op, fields as never);
      print(opts, r, () => text(r));
    } finally {
      await transport.close();
    }
  };
  cluster.command('transfer-leader <id>').description('hand leadership to node <id>').action(async (id: string, _o: unknown, cmd: Command) => {
    await admin(cmd, 'transferLeader', { to: id }, (r) => `leader is now ${(r as { leader: string }).leader}`);
  });
  cluster
    .command('add <id> <peerAddr> <clientAddr> <httpAddr>')
    .description('add a voter (start it first with `raftq node --join`)')
    .action(async (id: string, peerAddr: string, clientAddr: string, httpAddr: string, _o: unknown, cmd: Command) => {
      await admin(cmd, 'addNode', { nodeId: id, peerAddr, clientAddr, httpAddr }, (r) => `added ${id}; members: ${(r as { nodes: { id: string }[] }).nodes.map((n) => n.id).join(', ')}`);
    });
  cluster.command('remove <id>').description('remove a voter (the leader too: it steps down)').action(async (id: string, _o: unknown, cmd: Command) => {
    await admin(cmd, 'removeNode', { nodeId: id }, (r) => `removed ${id}; members: ${(r as { nodes: { id: string }[] }).nodes.map((n) => n.id).join(', ')}`);
  });
  cluster.command('snapshot').description('snapshot the state machine and compact the log on the node reached').action(async (_o: unknown, cmd: Command) => {
    await admin(cmd, 'snapshot', {}, (r) => `snapshot at index ${(r as { index: number }).index}`);
  });
}

/** Asks every node for its own row (exact) and merges in the leader's view of lag and last contact. */
export async function gatherStatus(listed: string[]): Promise<ClusterStatus & { unreachable: string[] }> {
  const ask = (addresses: string[]): Promise<(ClusterStatus | null)[]> => Promise.all(
    addresses.map(async (addr) => {
      const t = new Transport({ nodes: [addr], requestTimeoutMs: 2000, retry: { attempts: 1 } });
      try {
        return await t.call('clusterStatus', {});
      } catch {
        return null;
      } finally {
        await t.close();
      }
    }),
  );
  let addresses = listed;
  let answers = await ask(addresses);
  // Members the list left out (e.g. a node added later) are asked too, at the address they advertise.
  const members = answers.flatMap((a) => a?.nodes.map((n) => n.clientAddr) ?? []).filter((addr) => addr && !addresses.includes(addr));
  const extra = [...new Set(members)];
  if (extra.length > 0) {
    answers = [...answers, ...(await ask(extra))];
    addresses = [...addresses, ...extra];
  }
  const got = answers.filter((a): a is ClusterStatus => a !== null);
  if (got.length === 0) throw new RaftqError('NO_LEADER', `no node answered at ${addresses.join(', ')}`);
  const leaderView = got.find((s) => s.leader === s.nodeId);
  const base = leaderView ?? got[0]!;
  const rows = new Map<string, NodeStatus>();
  for (const n of base.nodes) rows.set(n.id, { ...n, reachable: false, role: 'unknown' });
  for (const s of got) {
    const own = s.nodes.find((n) => n.id === s.nodeId);
    if (!own) continue;
    const lv = leaderView?.nodes.find((n) => n.id === own.id);
    rows.set(own.id, { ...own, lagEntries: lv?.lagEntries ?? own.lagEntries, lastContactMs: lv?.lastContactMs ?? own.lastContactMs, reachable: true });
  }
  const unreachable = addresses.filter((_, i) => answers[i] === null);
  return { nodeId: base.nodeId, leader: leaderView?.nodeId ?? base.leader, term: Math.max(...got.map((s) => s.term)), nodes: [...rows.values()], unreachable };
}

function statusTable(s: ClusterStatus & { unreachable: string[] }): string {
  const rows = s.nodes.map((n) => [
    n.id + (n.id === s.leader ? ' *' : ''), n.role, n.term, n.commitIndex >= 0 ? n.commitIndex : null, n.appliedIndex >= 0 ? n.appliedIndex : null,
    n.lagEntries, n.lastContactMs === null ? null : `${n.lastContactMs} ms`, n.clientAddr, n.peerAddr, n.httpAddr, n.reachable ? 'yes' : 'no',
  ]);
  const head = `leader: ${s.leader ?? '(none)'}   term: ${s.term}${s.unreachable.length ? `   unreachable: ${s.unreachable.join(', ')}` : ''}`;
  return `${head}\n${table(['node', 'role', 'term', 'commit', 'applied', 'lag', 'last contact', 'client', 'peer', 'http', 'up'], rows)}`;
}
