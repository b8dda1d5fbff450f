// raftq in the comparison: N real node processes (fsync per write batch, as always) started by the
// same harness `raftq bench --spawn N` uses, driven by the same scenario code.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { LocalCluster } from '../../cluster/bench/spawn.js';
import { RUNNERS, type BenchResult, type ScenarioOptions, type Target, type TargetSource } from '../../cluster/bench/scenarios.js';
import type { Percentiles } from '../../cluster/bench/histogram.js';
import { type LatencyFigure, type System, type ThroughputFigure } from './common.js';
import { NODE_V8_FLAGS } from '../../src/node-flags.js';

export class RaftqSystem implements System {
  readonly key: string;
  readonly label: string;
  private cluster: LocalCluster | null = null;

  constructor(
    private readonly nodeCount: number,
    private readonly payloadBytes: number,
    private readonly maxSeconds = 0,
    private readonly cpuProfDir?: string,
  ) {
    this.key = `raftq-${nodeCount}`;
    this.label = `raftq, ${nodeCount} node${nodeCount === 1 ? '' : 's'}`;
  }

  describe(): Record<string, string> {
    return {
      raftq: `${ownVersion()} (${gitRevision()})`,
      config: `${this.nodeCount} node processes on 127.0.0.1 (node ${NODE_V8_FLAGS.join(' ')}), the Raft log in segment files, one O_DSYNC write per Raft save, defaults (tick 50 ms, snapshot every 20,000 entries)`,
    };
  }

  async start(): Promise<void> {
    this.cluster = await LocalCluster.start({ count: this.nodeCount, label: `compare-${this.key}`, cpuProfDir: this.cpuProfDir });
  }

  async stop(): Promise<void> {
    await this.cluster?.stop();
    this.cluster = null;
  }

  private source(): TargetSource {
    const target: Target = { nodes: this.cluster!.clientAddresses, cluster: this.cluster };
    return { spawned: true, acquire: async () => target, release: async () => undefined };
  }

  /** The comparison warms each system up once, after start (compare.ts), not before every figure. */
  private options(fields: Partial<ScenarioOptions>): ScenarioOptions {
    return { jobs: 0, concurrency: 1, batch: 1, rate: 1, durationS: 1, backlogs: [], kills: 0, memoryLevels: [], payloadBytes: this.payloadBytes, maxSeconds: this.maxSeconds, warmupJobs: 0, snapshotJobs: 0, ...fields };
  }

  private static figure(r: BenchResult): ThroughputFigure {
    return { jobsPerSec: r.jobsPerSec, seconds: r.seconds, latencyMs: r.latencyMs };
  }

  async enqueue(jobs: number, concurrency: number): Promise<ThroughputFigure> {
    return RaftqSystem.figure(await RUNNERS.enqueue(this.source(), this.options({ jobs, concurrency })));
  }

  async enqueueBatch(jobs: number, batch: number, concurrency: number): Promise<ThroughputFigure> {
    return RaftqSystem.figure(await RUNNERS['enqueue-batch'](this.source(), this.options({ jobs, batch, concurrency })));
  }

  async process(jobs: number, concurrency: number): Promise<ThroughputFigure> {
    return RaftqSystem.figure(await RUNNERS.process(this.source(), this.options({ jobs, concurrency })));
  }

  async latency(rate: number, durationS: number, concurrency: number): Promise<LatencyFigure> {
    const r = await RUNNERS.latency(this.source(), this.options({ rate, durationS, concurrency }));
    return { rate, startMs: r.latencyMs, ackMs: r['ackLatencyMs'] as Percentiles };
  }
}

function gitRevision(): string {
  try {
    const rev = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--untracked-files=no'], { encoding: 'utf8' }).trim() !== '';
    return `${rev}${dirty ? '+uncommitted changes' : ''}`;
  } catch {
    return 'no git';
  }
}

function ownVersion(): string {
  try {
    return (JSON.parse(fs.readFileSync('package.json', 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}
