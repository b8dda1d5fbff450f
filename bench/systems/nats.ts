// NATS JetStream as a job queue: Debian's nats-server, three of them clustered on free loopback
// ports, one work-queue stream per workload with replicas 3 and file storage. Producers publish
// and await the PubAck; consumers are one durable pull consumer (explicit acks) whose messages
// are acknowledged with ackAck (the server confirms the ack), `concurrency` handlers at a time.

import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { AckPolicy, connect, RetentionPolicy, StorageType, type JetStreamClient, type JetStreamManager, type JsMsg, type NatsConnection } from 'nats';
import { Progress } from '../../src/cli/progress.js';
import { Histogram } from '../../cluster/bench/histogram.js';
import { closedLoop, openLoop, payloadMaker, timeCap, withStallWatchdog } from '../../cluster/bench/load.js';
import { freePorts } from '../../cluster/bench/spawn.js';
import { untilTrue } from './bullmq.js';
import { commandVersion, findBinary, packageVersion, Semaphore, startServer, stopServer, tempDir, waitForPort, type LatencyFigure, type System, type ThroughputFigure } from './common.js';

const SERVERS = 3;
const STALL_MS_MAX = 60_000;
const CLUSTER_READY_MS = 30_000;
const PREFILL_BATCH = 1000;
const PREFILL_INFLIGHT = 4;

export class NatsSystem implements System {
  readonly key = 'nats-r3';
  readonly label = 'NATS JetStream R3';
  private servers: ChildProcess[] = [];
  private dir = '';
  private clientPorts: number[] = [];
  private nc: NatsConnection | null = null;
  private js: JetStreamClient | null = null;
  private jsm: JetStreamManager | null = null;
  private seq = 0;
  private readonly payload: ReturnType<typeof payloadMaker>;
  private readonly encoder = new TextEncoder();

  constructor(
    payloadBytes: number,
    /** Caps each measured enqueue, batch and drain phase (0: all the jobs). */
    private readonly maxSeconds = 0,
  ) {
    this.payload = payloadMaker(payloadBytes);
  }

  describe(): Record<string, string> {
    return {
      'nats-server': commandVersion(findBinary('nats-server') ?? 'nats-server', ['--version']) ?? 'not installed',
      nats: packageVersion('nats'),
      config: `${SERVERS} servers on 127.0.0.1, one work-queue stream per workload, replicas 3, file storage, server defaults (no sync_interval setting in 2.9: fsync is periodic, not per write); publish awaits PubAck; durable pull consumer, explicit acks confirmed with ackAck`,
    };
  }

  async start(): Promise<void> {
    const binary = findBinary('nats-server');
    if (!binary) throw new Error('nats-server is not installed: apt-get install -y nats-server');
    this.dir = tempDir('raftq-bench-nats-');
    const ports = await freePorts(SERVERS * 2);
    this.clientPorts = ports.slice(0, SERVERS);
    const routePorts = ports.slice(SERVERS);
    for (let i = 0; i < SERVERS; i++) {
      const routes = routePorts.filter((_, j) => j !== i).map((p) => `"nats-route://127.0.0.1:${p}"`).join(', ');
      const conf = path.join(this.dir, `s${i + 1}.conf`);
      fs.writeFileSync(
        conf,
        [
          `server_name: s${i + 1}`,
          `host: 127.0.0.1`,
          `port: ${this.clientPorts[i]}`,
          `jetstream { store_dir: "${path.join(this.dir, `s${i + 1}`)}" }`,
          `cluster { name: bench, host: 127.0.0.1, port: ${routePorts[i]}, routes: [${routes}] }`,
        ].join('\n'),
      );
      this.servers.push(startServer(binary, ['-c', conf], path.join(this.dir, `s${i + 1}.log`)));
    }
    for (const port of this.clientPorts) await waitForPort(port, 10_000, 'nats-server');
    this.nc = await connect({ servers: this.clientPorts.map((p) => `127.0.0.1:${p}`) });
    this.js = this.nc.jetstream();
    this.jsm = await this.nc.jetstreamManager({ checkAPI: false });
    await this.waitForMetaLeader();
  }

  /** A replicated stream can be created only once the JetStream meta group has a leader. */
  private async waitForMetaLeader(): Promise<void> {
    const deadline = Date.now() + CLUSTER_READY_MS;
    for (;;) {
      try {
        const name = await this.createStream();
        await this.jsm!.streams.delete(name);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`NATS JetStream cluster not ready within ${CLUSTER_READY_MS} ms: ${(error as Error).message}`);
        await sleep(250);
      }
    }
  }

  async stop(): Promise<void> {
    await this.nc?.close();
    this.nc = null;
    await Promise.all(this.servers.map((s) => stopServer(s)));
    this.servers = [];
    // Also after a start that failed half-way: whatever was started is ended, whatever was made removed.
    if (this.dir) fs.rmSync(this.dir, { recursive: true, force: true });
    this.dir = '';
  }

  /** A fresh work-queue stream (replicas 3, file storage); returns its name, subject `<name>.jobs`. */
  private async createStream(): Promise<string> {
    const name = `BENCH_${++this.seq}`;
    await this.jsm!.streams.add({ name, subjects: [`${name}.jobs`], retention: RetentionPolicy.Workqueue, storage: StorageType.File, num_replicas: SERVERS });
    return name;
  }

  private encode(i: number, t = 0): Uint8Array {
    return this.encoder.encode(JSON.stringify(this.payload(i, t)));
  }

  async enqueue(jobs: number, concurrency: number): Promise<ThroughputFigure> {
    const stream = await this.createStream();
    const progress = new Progress({ label: `${this.label}: publish`, total: jobs, unit: 'jobs' });
    try {
      await this.js!.publish(`${stream}.jobs`, this.encode(0));
      const run = await closedLoop({
        total: jobs,
        concurrency,
        maxSeconds: this.maxSeconds,
        progress,
        op: async (i) => {
          await this.js!.publish(`${stream}.jobs`, this.encode(i));
          return 1;
        },
      });
      return { jobsPerSec: Math.round(run.units / run.seconds), seconds: run.seconds, latencyMs: run.latency.percentiles() };
    } finally {
      progress.finish();
      await this.jsm!.streams.delete(stream);
    }
  }

  /** JetStream has no batch publish: a "batch" is `batch` publishes sent together, all PubAcks awaited. */
  async enqueueBatch(jobs: number, batch: number, concurrency: number): Promise<ThroughputFigure> {
    const stream = await this.createStream();
    const progress = new Progress({ label: `${this.label}: publish x${batch}`, total: jobs, unit: 'jobs' });
    try {
      await this.js!.publish(`${stream}.jobs`, this.encode(0));
      const run = await this.publishBatches(stream, jobs, batch, concurrency, progress, this.maxSeconds);
      return { jobsPerSec: Math.round(run.units / run.seconds), seconds: run.seconds, latencyMs: run.latency.percentiles() };
    } finally {
      progress.finish();
      await this.jsm!.streams.delete(stream);
    }
  }

  private publishBatches(stream: string, jobs: number, batch: number, concurrency: number, progress: Progress, maxSeconds = 0): ReturnType<typeof closedLoop> {
    return closedLoop({
      total: Math.ceil(jobs / batch),
      concurrency,
      maxSeconds,
      progress,
      op: async (b) => {
        const n = Math.min(batch, jobs - b * batch);
        await Promise.all(Array.from({ length: n }, (_, k) => this.js!.publish(`${stream}.jobs`, this.encode(b * batch + k))));
        return n;
      },
    });
  }

  /** A durable pull consumer; `handle` runs for each message, at most `concurrency` at once. */
  private async consume(stream: string, concurrency: number, handle: (m: JsMsg) => Promise<void>): Promise<() => Promise<void>> {
    const durable = `${stream}_worker`;
    await this.jsm!.consumers.add(stream, { durable_name: durable, ack_policy: AckPolicy.Explicit, max_ack_pending: Math.max(1000, concurrency * 4) });
    const consumer = await this.js!.consumers.get(stream, durable);
    const messages = await consumer.consume({ max_messages: concurrency });
    const slots = new Semaphore(concurrency);
    const loop = (async () => {
      for await (const m of messages) {
        await slots.acquire();
        void handle(m).finally(() => slots.release());
      }
    })();
    return async () => {
      messages.stop();
      await loop;
    };
  }

  async process(jobs: number, concurrency: number): Promise<ThroughputFigure> {
    const stream = await this.createStream();
    const prefill = new Progress({ label: `${this.label}: prefill`, total: jobs, unit: 'jobs' });
    await this.publishBatches(stream, jobs, PREFILL_BATCH, PREFILL_INFLIGHT, prefill);
    prefill.finish();
    const latency = new Histogram();
    let completed = 0;
    let firstError: unknown = null;
    let finish!: () => void;
    const finished = new Promise<void>((resolve) => (finish = resolve));
    const progress = new Progress({ label: `${this.label}: consumer c=${concurrency}`, total: jobs, unit: 'jobs' });
    const cap = timeCap(this.maxSeconds);
    const startedMs = performance.now();
    const stop = await this.consume(stream, concurrency, async (m) => {
      const t = performance.now();
      try {
        await m.ackAck();
      } catch (error) {
        firstError ??= error;
        return;
      }
      latency.recordMs(performance.now() - t);
      completed += 1;
      progress.add(1);
      if (completed === jobs) finish();
    });
    try {
      await withStallWatchdog(Promise.race([finished, cap.expired]), () => completed, STALL_MS_MAX, `${this.label}: process (first error: ${String(firstError)})`);
      const seconds = (performance.now() - startedMs) / 1000;
      return { jobsPerSec: Math.round(completed / seconds), seconds, latencyMs: latency.percentiles() };
    } finally {
      cap.cancel();
      progress.finish();
      await stop();
      await this.jsm!.streams.delete(stream);
    }
  }

  async latency(rate: number, durationS: number, concurrency: number): Promise<LatencyFigure> {
    const stream = await this.createStream();
    const toStart = new Histogram();
    const toAck = new Histogram();
    let acked = 0;
    let warmDone!: () => void;
    const warm = new Promise<void>((resolve) => (warmDone = resolve));
    const stop = await this.consume(stream, concurrency, async (m) => {
      const t = (m.json() as { t?: number }).t;
      const measured = typeof t === 'number' && t > 0;
      if (measured) toStart.recordMs(performance.now() - t);
      await m.ackAck();
      if (!measured) {
        warmDone();
        return;
      }
      toAck.recordMs(performance.now() - t);
      acked += 1;
    });
    const progress = new Progress({ label: `${this.label}: latency ${rate}/s`, total: Math.round(rate * durationS), unit: 'jobs' });
    try {
      await this.js!.publish(`${stream}.jobs`, this.encode(0, 0));
      await warm;
      const load = await openLoop({
        rate,
        durationS,
        progress,
        op: async (i) => {
          await this.js!.publish(`${stream}.jobs`, this.encode(i + 1, performance.now()));
        },
      });
      if (load.failed > 0) throw new Error(`${this.label}: ${load.failed} publishes failed: ${(load.firstError as Error)?.message}`);
      await withStallWatchdog(untilTrue(() => acked >= load.issued), () => acked, STALL_MS_MAX, `${this.label}: latency drain`);
      return { rate, startMs: toStart.percentiles(), ackMs: toAck.percentiles() };
    } finally {
      progress.finish();
      await stop();
      await this.jsm!.streams.delete(stream);
    }
  }
}
