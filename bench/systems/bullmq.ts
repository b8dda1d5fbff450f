// BullMQ on a Redis started here: Debian's redis-server on a free loopback port, AOF on, with
// `appendfsync everysec` (BullMQ's usual production setting) or `always` (fsync per write, like
// raftq). Producers use Queue.add / addBulk, consumers one Worker with `concurrency`.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { Progress } from '../../src/cli/progress.js';
import { Histogram } from '../../cluster/bench/histogram.js';
import { closedLoop, openLoop, payloadMaker, timeCap, withStallWatchdog } from '../../cluster/bench/load.js';
import { freePorts } from '../../cluster/bench/spawn.js';
import { commandVersion, findBinary, packageVersion, startServer, stopServer, tempDir, waitForPort, type LatencyFigure, type System, type ThroughputFigure } from './common.js';

const STALL_MS_MAX = 60_000;
const PREFILL_BATCH = 1000;
const PREFILL_INFLIGHT = 4;

export class BullmqSystem implements System {
  readonly key: string;
  readonly label: string;
  private server: ChildProcess | null = null;
  private dir = '';
  private port = 0;
  private seq = 0;
  private readonly payload: ReturnType<typeof payloadMaker>;

  constructor(
    private readonly fsync: 'everysec' | 'always',
    payloadBytes: number,
    /** Caps each measured enqueue, batch and drain phase (0: all the jobs). */
    private readonly maxSeconds = 0,
  ) {
    this.key = `bullmq-${fsync}`;
    this.label = `BullMQ, AOF ${fsync}`;
    this.payload = payloadMaker(payloadBytes);
  }

  describe(): Record<string, string> {
    return {
      bullmq: packageVersion('bullmq'),
      redis: commandVersion(findBinary('redis-server') ?? 'redis-server', ['--version']) ?? 'not installed',
      config: `appendonly yes, appendfsync ${this.fsync}, RDB snapshots off, one redis-server on 127.0.0.1; BullMQ defaults (completed jobs kept)`,
    };
  }

  async start(): Promise<void> {
    const binary = findBinary('redis-server');
    if (!binary) throw new Error('redis-server is not installed: apt-get install -y redis-server');
    this.dir = tempDir('raftq-bench-redis-');
    [this.port] = await freePorts(1);
    this.server = startServer(binary, ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--appendonly', 'yes', '--appendfsync', this.fsync, '--save', '', '--protected-mode', 'no', '--daemonize', 'no', '--maxmemory-policy', 'noeviction'], path.join(this.dir, 'redis.log'));
    await waitForPort(this.port, 10_000, 'redis-server');
  }

  async stop(): Promise<void> {
    if (this.server) await stopServer(this.server);
    this.server = null;
    // Also after a start that failed half-way: whatever was started is ended, whatever was made removed.
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = '';
  }

  private readonly clients: Redis[] = [];

  /** BullMQ 6 under native ESM wants a constructed ioredis client; we close them all after each workload. */
  private connection(): Redis {
    const client = new Redis({ host: '127.0.0.1', port: this.port, maxRetriesPerRequest: null });
    this.clients.push(client);
    return client;
  }

  private async closeClients(): Promise<void> {
    await Promise.all(this.clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  }

  private queueName(what: string): string {
    return `bench-${what}-${++this.seq}`;
  }

  async enqueue(jobs: number, concurrency: number): Promise<ThroughputFigure> {
    const queue = new Queue(this.queueName('add'), { connection: this.connection() });
    const progress = new Progress({ label: `${this.label}: add`, total: jobs, unit: 'jobs' });
    try {
      await queue.add('warmup', { warmup: true });
      const run = await closedLoop({
        total: jobs,
        concurrency,
        maxSeconds: this.maxSeconds,
        progress,
        op: async (i) => {
          await queue.add('job', this.payload(i));
          return 1;
        },
      });
      return { jobsPerSec: Math.round(run.units / run.seconds), seconds: run.seconds, latencyMs: run.latency.percentiles() };
    } finally {
      progress.finish();
      await queue.close();
      await this.closeClients();
    }
  }

  async enqueueBatch(jobs: number, batch: number, concurrency: number): Promise<ThroughputFigure> {
    const queue = new Queue(this.queueName('bulk'), { connection: this.connection() });
    const progress = new Progress({ label: `${this.label}: addBulk(${batch})`, total: jobs, unit: 'jobs' });
    try {
      await queue.add('warmup', { warmup: true });
      const run = await this.bulk(queue, jobs, batch, concurrency, progress, this.maxSeconds);
      return { jobsPerSec: Math.round(run.units / run.seconds), seconds: run.seconds, latencyMs: run.latency.percentiles() };
    } finally {
      progress.finish();
      await queue.close();
      await this.closeClients();
    }
  }

  private bulk(queue: Queue, jobs: number, batch: number, concurrency: number, progress: Progress, maxSeconds = 0): ReturnType<typeof closedLoop> {
    return closedLoop({
      total: Math.ceil(jobs / batch),
      concurrency,
      maxSeconds,
      progress,
      op: async (b) => {
        const n = Math.min(batch, jobs - b * batch);
        await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name: 'job', data: this.payload(b * batch + k) })));
        return n;
      },
    });
  }

  async process(jobs: number, concurrency: number): Promise<ThroughputFigure> {
    const name = this.queueName('process');
    const queue = new Queue(name, { connection: this.connection() });
    const prefill = new Progress({ label: `${this.label}: prefill`, total: jobs, unit: 'jobs' });
    await this.bulk(queue, jobs, PREFILL_BATCH, PREFILL_INFLIGHT, prefill);
    prefill.finish();
    await queue.close();
    const startedAt = new Map<string, number>();
    const latency = new Histogram();
    let completed = 0;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const progress = new Progress({ label: `${this.label}: worker c=${concurrency}`, total: jobs, unit: 'jobs' });
    const worker = new Worker(
      name,
      async (job) => {
        startedAt.set(job.id!, performance.now());
        return null;
      },
      { connection: this.connection(), concurrency, autorun: false },
    );
    worker.on('completed', (job) => {
      const t = startedAt.get(job.id!);
      startedAt.delete(job.id!);
      if (t !== undefined) latency.recordMs(performance.now() - t);
      completed += 1;
      progress.add(1);
      if (completed === jobs) finish();
    });
    await worker.waitUntilReady();
    const cap = timeCap(this.maxSeconds);
    const startedMs = performance.now();
    void worker.run();
    try {
      await withStallWatchdog(Promise.race([finished, cap.expired]), () => completed, STALL_MS_MAX, `${this.label}: process`);
      const seconds = (performance.now() - startedMs) / 1000;
      return { jobsPerSec: Math.round(completed / seconds), seconds, latencyMs: latency.percentiles() };
    } finally {
      cap.cancel();
      progress.finish();
      await worker.close();
      await this.closeClients();
    }
  }

  async latency(rate: number, durationS: number, concurrency: number): Promise<LatencyFigure> {
    const name = this.queueName('latency');
    const queue = new Queue(name, { connection: this.connection() });
    const toStart = new Histogram();
    const toAck = new Histogram();
    let acked = 0;
    let warmDone!: () => void;
    const warm = new Promise<void>((resolve) => (warmDone = resolve));
    const worker = new Worker(
      name,
      async (job) => {
        const t = (job.data as { t?: number }).t;
        if (typeof t === 'number' && t > 0) toStart.recordMs(performance.now() - t);
        return null;
      },
      { connection: this.connection(), concurrency },
    );
    worker.on('completed', (job) => {
      const t = (job.data as { t?: number }).t;
      if (typeof t === 'number' && t > 0) {
        toAck.recordMs(performance.now() - t);
        acked += 1;
      } else warmDone();
    });
    const progress = new Progress({ label: `${this.label}: latency ${rate}/s`, total: Math.round(rate * durationS), unit: 'jobs' });
    try {
      await worker.waitUntilReady();
      await queue.add('warmup', this.payload(0, 0));
      await warm;
      const load = await openLoop({
        rate,
        durationS,
        progress,
        op: async (i) => {
          await queue.add('job', this.payload(i + 1, performance.now()));
        },
      });
      if (load.failed > 0) throw new Error(`${this.label}: ${load.failed} adds failed: ${(load.firstError as Error)?.message}`);
      await withStallWatchdog(untilTrue(() => acked >= load.issued), () => acked, STALL_MS_MAX, `${this.label}: latency drain`);
      return { rate, startMs: toStart.percentiles(), ackMs: toAck.percentiles() };
    } finally {
      progress.finish();
      await worker.close();
      await queue.close();
      await this.closeClients();
    }
  }
}

export async function untilTrue(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((r) => setTimeout(r, 1));
}
