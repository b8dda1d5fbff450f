// Load for the multi-process tests: producers that submit unique jobs and remember which submits
// were acknowledged, workers that remember every handler run and every accepted ack, and the
// drain-and-read step that turns those records into assertions.

import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach } from 'vitest';
import { ProcessCluster, type ProcessClusterOptions } from '../../jepsen-lite/processes.js';
import { Client } from '../../src/client/client.js';
import type { RetryOptions } from '../../src/client/transport.js';
import { Worker } from '../../src/client/worker.js';
import type { Job } from '../../src/jobs/types.js';

/** Enough tries (with the SDK's capped backoff) to ride out a leader election or two. */
export const TEST_RETRY: Partial<RetryOptions> = { attempts: 40, baseMs: 25, capMs: 500 };
/** Below the node's own 10 s forward timeout, so a request stuck on a dead leader is retried sooner. */
export const TEST_REQUEST_TIMEOUT_MS = 4_000;
/** Jobs read at once when checking them all (each read is pipelined on one connection). */
const READ_CHUNK = 250;

/** Clusters started by this test file; every one is stopped after each test, pass or fail. */
export function useClusters(): (options?: ProcessClusterOptions) => Promise<ProcessCluster> {
  const started: ProcessCluster[] = [];
  afterEach(async () => {
    await Promise.all(started.splice(0).map((c) => c.stopAll()));
  });
  return async (options = {}) => {
    const cluster = await ProcessCluster.start(options);
    started.push(cluster);
    return cluster;
  };
}

/** The list rotated so that node `first` comes first: an SDK instance "attached" to that node. */
export function rotated<T>(items: readonly T[], first: number): T[] {
  const k = ((first % items.length) + items.length) % items.length;
  return [...items.slice(k), ...items.slice(0, k)];
}

export function testClient(nodes: string[]): Client {
  return new Client({ nodes, retry: TEST_RETRY, requestTimeoutMs: TEST_REQUEST_TIMEOUT_MS });
}

export interface SubmitRecord {
  id: string;
  sentAtMs: number;
  ackAtMs: number;
}

export interface ProducerOptions {
  queue: string;
  /** Prefix of the client-given job ids: ids are `${prefix}-${n}`, unique per run. */
  prefix: string;
  /** Submits each client has in flight at once. */
  inflight: number;
  /** Pause after each submit, so the load leaves CPU for the nodes on a small machine. */
  pauseMs: number;
}

/** Producers: every client runs `inflight` loops of one submit at a time, each with a fresh id. */
export class Producers {
  /** Submits the cluster acknowledged: these jobs must never be lost. */
  readonly acked = new Map<string, SubmitRecord>();
  /** Submits that failed after all retries: their outcome is unknown (they may or may not exist). */
  readonly unknown: { id: string; error: string }[] = [];
  private running = false;
  private loops: Promise<void>[] = [];
  private next = 0;

  constructor(
    private readonly clients: Client[],
    private readonly options: ProducerOptions,
  ) {}

  start(): this {
    this.running = true;
    for (const client of this.clients) for (let k = 0; k < this.options.inflight; k++) this.loops.push(this.loop(client));
    return this;
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** The first acknowledged submit that was sent at or after `tMs`. */
  firstAckSentSince(tMs: number): SubmitRecord | null {
    let first: SubmitRecord | null = null;
    for (const r of this.acked.values()) if (r.sentAtMs >= tMs && (first === null || r.ackAtMs < first.ackAtMs)) first = r;
    return first;
  }

  ackedSentSince(tMs: number): number {
    let n = 0;
    for (const r of this.acked.values()) if (r.sentAtMs >= tMs) n++;
    return n;
  }

  /** Longest time one acknowledged submit took, retries included. */
  latencyMsMax(): number {
    let max = 0;
    for (const r of this.acked.values()) max = Math.max(max, r.ackAtMs - r.sentAtMs);
    return max;
  }

  private async loop(client: Client): Promise<void> {
    while (this.running) {
      const id = `${this.options.prefix}-${this.next++}`;
      const sentAtMs = Date.now();
      try {
        const got = await client.submit(this.options.queue, { id }, { id, maxAttempts: 50 });
        if (got !== id) throw new Error(`submit of ${id} answered id ${got}`);
        this.acked.set(id, { id, sentAtMs, ackAtMs: Date.now() });
      } catch (error) {
        this.unknown.push({ id, error: (error as Error).message });
      }
      await sleep(this.options.pauseMs);
    }
  }
}

export interface WorkerPoolOptions {
  queue: string;
  concurrency: number;
  leaseMs: number;
}

/** Workers, each attached to its own list of nodes, recording runs and accepted acks per job. */
export class WorkerPool {
  /** Handler invocations per job id (delivery is at-least-once: may exceed 1). */
  readonly runs = new Map<string, number>();
  /** Acks the cluster accepted per job id: the Worker emits 'completed' only then. Must never exceed 1. */
  readonly acks = new Map<string, number>();
  readonly errors: string[] = [];
  leasesLost = 0;
  private readonly workers: Worker[];

  constructor(nodeLists: string[][], options: WorkerPoolOptions) {
    this.workers = nodeLists.map((nodes, i) => {
      const worker = new Worker({
        nodes,
        queues: options.queue,
        concurrency: options.concurrency,
        leaseMs: options.leaseMs,
        pollWaitMs: 1_000,
        shutdownGraceMs: 2_000,
        handleSignals: false,
        workerId: `w${i}`,
        retry: TEST_RETRY,
        requestTimeoutMs: TEST_REQUEST_TIMEOUT_MS,
        handler: async (job) => {
          this.runs.set(job.id, (this.runs.get(job.id) ?? 0) + 1);
          return { by: `w${i}` };
        },
      });
      worker.on('completed', (job) => this.acks.set(job.id, (this.acks.get(job.id) ?? 0) + 1));
      worker.on('leaseLost', () => this.leasesLost++);
      worker.on('error', (error) => this.errors.push(error.message));
      return worker;
    });
  }

  start(): this {
    for (const w of this.workers) w.start();
    return this;
  }

  async close(): Promise<void> {
    await Promise.all(this.workers.map((w) => w.close({ graceMs: 2_000 })));
  }

  /** Job ids whose ack was accepted more than once: a broken exactly-once completion. */
  doubleAcks(): string[] {
    return [...this.acks].filter(([, n]) => n > 1).map(([id]) => id);
  }

  redeliveries(): number {
    let n = 0;
    for (const runs of this.runs.values()) n += runs - 1;
    return n;
  }
}

/** Reads every job (linearizable reads, pipelined in chunks). */
export async function readJobs(client: Client, ids: Iterable<string>): Promise<Map<string, Job | null>> {
  const all = [...ids];
  const out = new Map<string, Job | null>();
  for (let i = 0; i < all.length; i += READ_CHUNK) {
    const chunk = all.slice(i, i + READ_CHUNK);
    const jobs = await Promise.all(chunk.map((id) => client.get(id)));
    chunk.forEach((id, k) => out.set(id, jobs[k]!));
  }
  return out;
}

/** Waits until the queue holds nothing left to do (every job completed, dead or cancelled). */
export async function waitDrained(cluster: ProcessCluster, client: Client, queue: string, timeoutMs: number): Promise<void> {
  let last = '';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const { counts } = await client.stats(queue);
      last = JSON.stringify(counts);
      if (counts.waiting + counts.active + counts.delayed + counts.failed === 0) return;
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() >= deadline) throw cluster.failure(`queue ${queue} not drained within ${timeoutMs} ms: ${last}`);
    await sleep(100);
  }
}

/** Acknowledged submits that are missing, or not in the expected state. At most `max` listed. */
export function lostOrUnfinished(acked: Iterable<string>, jobs: Map<string, Job | null>, states: readonly string[], max = 20): string[] {
  const bad: string[] = [];
  for (const id of acked) {
    const job = jobs.get(id);
    if (job === null || job === undefined) bad.push(`${id}: missing`);
    else if (!states.includes(job.state)) bad.push(`${id}: ${job.state}`);
    if (bad.length >= max) break;
  }
  return bad;
}

/** Distinct hashes among the nodes (1 when every node holds the same state). */
export function distinctHashes(hashes: Map<string, { appliedIndex: number; hash: string }>): string[] {
  return [...new Set([...hashes.values()].map((h) => h.hash))];
}

export function describeHashes(hashes: Map<string, { appliedIndex: number; hash: string }>): string {
  return [...hashes].map(([id, h]) => `${id}@${h.appliedIndex}:${h.hash.slice(0, 12)}`).join(' ');
}

/** One line of figures, greppable in CI output. */
export function report(test: string, figures: Record<string, string | number>): void {
  console.log(`[cluster:${test}] ${Object.entries(figures).map(([k, v]) => `${k}=${v}`).join(' ')}`);
}
