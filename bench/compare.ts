// The side-by-side comparison: the same enqueue, enqueue-batch, process and latency workloads on
// BullMQ (Redis AOF everysec, then always), NATS JetStream (3 servers, R3) and raftq (3 nodes),
// medians of --runs runs each, then a drain-throughput sweep over worker concurrency for the
// chart. Everything on 127.0.0.1, servers started here on free ports, temp dirs removed.
//
//   npm run build && node dist/bench/compare.js            (about 10 minutes on 2 vCPU)
//
// Writes bench/results/<date>.json and .md and docs/perf/throughput.svg.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Command } from 'commander';
import type { Percentiles } from '../cluster/bench/histogram.js';
import { median } from '../cluster/bench/load.js';
import { throughputSvg, type Series } from './chart.js';
import { BullmqSystem } from './systems/bullmq.js';
import type { System } from './systems/common.js';
import { NatsSystem } from './systems/nats.js';
import { RaftqSystem } from './systems/raftq.js';

interface Flags {
  runs: string;
  jobs: string;
  batchJobs: string;
  batch: string;
  enqueueConcurrency: string;
  batchConcurrency: string;
  processConcurrency: string;
  rate: string;
  duration: string;
  systems: string;
  sweep: boolean;
  sweepConcurrency: string;
  sweepSystems: string;
  payloadBytes: string;
  out: string;
  svg: string;
  waitQuiet: string;
  maxSeconds: string;
  warmupJobs: string;
  sweepMaxSeconds: string;
}

type FigureKey = 'enqueue' | 'enqueueBatch' | 'process' | 'startP50' | 'startP99' | 'ackP50' | 'ackP99';

interface FigureDef {
  key: FigureKey;
  label: (f: Settings) => string;
  unit: 'jobs/s' | 'ms';
}

interface Settings {
  runs: number;
  jobs: number;
  batchJobs: number;
  batch: number;
  enqueueConcurrency: number;
  batchConcurrency: number;
  processConcurrency: number;
  rate: number;
  durationS: number;
  payloadBytes: number;
  maxSeconds: number;
  sweepMaxSeconds: number;
  warmupJobs: number;
}

const FIGURES: FigureDef[] = [
  { key: 'enqueue', label: (s) => `enqueue, ${s.enqueueConcurrency} in flight`, unit: 'jobs/s' },
  { key: 'enqueueBatch', label: (s) => `enqueue batches of ${s.batch}, ${s.batchConcurrency} in flight`, unit: 'jobs/s' },
  { key: 'process', label: (s) => `process (drain), worker concurrency ${s.processConcurrency}`, unit: 'jobs/s' },
  { key: 'startP50', label: (s) => `${s.rate}/s open loop: submit → handler start p50`, unit: 'ms' },
  { key: 'startP99', label: (s) => `${s.rate}/s open loop: submit → handler start p99`, unit: 'ms' },
  { key: 'ackP50', label: (s) => `${s.rate}/s open loop: submit → ack confirmed p50`, unit: 'ms' },
  { key: 'ackP99', label: (s) => `${s.rate}/s open loop: submit → ack confirmed p99`, unit: 'ms' },
];

const ALL_SYSTEMS = ['bullmq-everysec', 'bullmq-always', 'nats-r3', 'raftq-3'];

function makeSystem(key: string, payloadBytes: number, maxSeconds: number): System {
  if (key === 'bullmq-everysec') return new BullmqSystem('everysec', payloadBytes, maxSeconds);
  if (key === 'bullmq-always') return new BullmqSystem('always', payloadBytes, maxSeconds);
  if (key === 'nats-r3') return new NatsSystem(payloadBytes, maxSeconds);
  const m = /^raftq-(\d)$/.exec(key);
  if (m) return new RaftqSystem(Number(m[1]), payloadBytes, maxSeconds);
  throw new Error(`unknown system ${key} (known: ${ALL_SYSTEMS.join(', ')}, raftq-N)`);
}

/** Busy fraction of all CPUs over `ms`, from /proc/stat (null off Linux). */
async function cpuBusy(ms: number): Promise<number | null> {
  const read = (): number[] | null => {
    try {
      return fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    } catch {
      return null;
    }
  };
  const a = read();
  await sleep(ms);
  const b = read();
  if (!a || !b) return null;
  const delta = b.map((v, i) => v - a[i]!);
  const total = delta.reduce((x, y) => x + y, 0);
  const idle = (delta[3] ?? 0) + (delta[4] ?? 0);
  return total > 0 ? Math.round((1 - idle / total) * 1000) / 1000 : null;
}

/** Jiffies: all CPUs busy, all CPUs total, and this process plus its reaped children (the servers). */
function cpuJiffies(): { busy: number; total: number; own: number } | null {
  try {
    const all = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const total = all.reduce((x, y) => x + y, 0);
    const busy = total - (all[3] ?? 0) - (all[4] ?? 0);
    // /proc/self/stat: fields 14-17 are utime, stime, cutime, cstime (after the parenthesized name).
    const self = fs.readFileSync('/proc/self/stat', 'utf8');
    const fields = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    const own = fields[11]! + fields[12]! + fields[13]! + fields[14]!;
    return { busy, total, own };
  } catch {
    return null;
  }
}

class Steps {
  private done = 0;
  private readonly startedMs = performance.now();
  constructor(private readonly total: number) {}

  next(what: string): void {
    this.done += 1;
    const elapsedS = (performance.now() - this.startedMs) / 1000;
    process.stderr.write(`\n[${this.done}/${this.total}  ${fmtDuration(elapsedS)} elapsed] ${what}\n`);
  }

  get elapsedS(): number {
    return (performance.now() - this.startedMs) / 1000;
  }
}

function fmtDuration(s: number): string {
  const m = Math.floor(s / 60);
  return `${m}:${String(Math.round(s - m * 60)).padStart(2, '0')}`;
}

/**
 * The measured paths once, figures discarded, so that every process (the servers, the client
 * libraries, this one) runs warm code: a fresh Node process is up to twice as slow for its first
 * ~100,000 jobs (see warmUpPaths in cluster/bench/scenarios.ts).
 */
async function warmUp(system: System, settings: Settings, steps: Steps): Promise<void> {
  const third = Math.ceil(settings.warmupJobs / 3);
  if (third <= 0) return;
  steps.next(`${system.label}: warm-up, ${(3 * third).toLocaleString('en-US')} jobs enqueued singly, in batches and processed`);
  await system.enqueue(third, settings.enqueueConcurrency);
  await system.enqueueBatch(third, settings.batch, settings.batchConcurrency);
  await system.process(third, settings.processConcurrency);
}

async function main(): Promise<void> {
  const program = new Command()
    .name('compare')
    .description('raftq side by side with BullMQ (Redis AOF everysec and always) and NATS JetStream R3, on loopback')
    .option('--runs <n>', 'runs per figure (the median is reported)', '3')
    .option('--jobs <n>', 'jobs per enqueue and process run', '20000')
    .option('--batch-jobs <n>', 'jobs per enqueue-batch run', '50000')
    .option('--batch <b>', 'jobs per batch (addBulk, submitMany)', '500')
    .option('--enqueue-concurrency <c>', 'single enqueues in flight', '64')
    .option('--batch-concurrency <c>', 'batches in flight', '4')
    .option('--process-concurrency <c>', 'worker concurrency', '50')
    .option('--rate <r>', 'open-loop jobs per second (latency)', '1000')
    .option('--duration <s>', 'seconds of open-loop load (latency)', '10')
    .option('--systems <list>', 'systems to run', ALL_SYSTEMS.join(','))
    .option('--no-sweep', 'skip the concurrency sweep (the chart)')
    .option('--sweep-concurrency <list>', 'worker concurrencies of the sweep', '1,5,10,25,50,100')
    .option('--sweep-systems <list>', 'systems of the sweep', 'raftq-1,raftq-3,raftq-5,bullmq-everysec')
    .option('--payload-bytes <n>', 'bytes of JSON per job', '100')
    .option('--out <dir>', 'where results go', path.join('bench', 'results'))
    .option('--svg <file>', 'where the chart goes', path.join('docs', 'perf', 'throughput.svg'))
    .option('--max-seconds <s>', 'cap on each measured enqueue, batch and drain phase (throughput = jobs done / time)', '12')
    .option('--sweep-max-seconds <s>', 'the same cap for each sweep point', '6')
    .option('--warmup-jobs <n>', 'after starting a system: jobs through it before its figures, a third each enqueued singly, in batches and processed (0: measure cold)', '60000')
    .option('--wait-quiet <s>', 'first wait up to this many seconds for the machine to be idle (< 15% CPU busy)', '0')
    .parse();
  const flags = program.opts<Flags>();
  const settings: Settings = {
    runs: Number(flags.runs),
    jobs: Number(flags.jobs),
    batchJobs: Number(flags.batchJobs),
    batch: Number(flags.batch),
    enqueueConcurrency: Number(flags.enqueueConcurrency),
    batchConcurrency: Number(flags.batchConcurrency),
    processConcurrency: Number(flags.processConcurrency),
    rate: Number(flags.rate),
    durationS: Number(flags.duration),
    payloadBytes: Number(flags.payloadBytes),
    maxSeconds: Number(flags.maxSeconds),
    sweepMaxSeconds: Number(flags.sweepMaxSeconds),
    warmupJobs: Number(flags.warmupJobs),
  };
  const systemKeys = flags.systems.split(',').map((s) => s.trim()).filter(Boolean);
  const sweepKeys = flags.sweep ? flags.sweepSystems.split(',').map((s) => s.trim()).filter(Boolean) : [];
  const sweepConcurrency = flags.sweepConcurrency.split(',').map(Number);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));

  const quietS = Number(flags.waitQuiet);
  let busyBefore = await cpuBusy(2_000);
  for (const deadline = Date.now() + quietS * 1000; quietS > 0 && (busyBefore ?? 0) > 0.15 && Date.now() < deadline; ) {
    process.stderr.write(`machine busy (${Math.round((busyBefore ?? 0) * 100)}% CPU); waiting for it to be idle...\n`);
    busyBefore = await cpuBusy(5_000);
  }
  if ((busyBefore ?? 0) > 0.15) process.stderr.write(`warning: other processes keep the CPUs ${Math.round((busyBefore ?? 0) * 100)}% busy; figures will be noisy\n`);

  const jiffiesBefore = cpuJiffies();
  const warmupSteps = settings.warmupJobs > 0 ? 1 : 0;
  const steps = new Steps(systemKeys.length * (warmupSteps + 4 * settings.runs) + sweepKeys.length * (warmupSteps + sweepConcurrency.length));
  const figures: Record<string, Record<FigureKey, number[]>> = {};
  const describe: Record<string, { label: string } & Record<string, string>> = {};
  const startedAt = new Date();

  for (const key of systemKeys) {
    const system = makeSystem(key, settings.payloadBytes, settings.maxSeconds);
    describe[key] = { label: system.label, ...system.describe() };
    const f: Record<FigureKey, number[]> = { enqueue: [], enqueueBatch: [], process: [], startP50: [], startP99: [], ackP50: [], ackP99: [] };
    figures[key] = f;
    process.stderr.write(`\n== ${system.label}: starting\n`);
    try {
      await system.start();
      await warmUp(system, settings, steps);
      for (let r = 1; r <= settings.runs; r++) {
        const tag = `${system.label}, run ${r}/${settings.runs}`;
        steps.next(`${tag}: enqueue, ${settings.enqueueConcurrency} in flight`);
        f.enqueue.push((await system.enqueue(settings.jobs, settings.enqueueConcurrency)).jobsPerSec);
        steps.next(`${tag}: enqueue batches of ${settings.batch}`);
        f.enqueueBatch.push((await system.enqueueBatch(settings.batchJobs, settings.batch, settings.batchConcurrency)).jobsPerSec);
        steps.next(`${tag}: process, concurrency ${settings.processConcurrency}`);
        f.process.push((await system.process(settings.jobs, settings.processConcurrency)).jobsPerSec);
        steps.next(`${tag}: latency at ${settings.rate}/s for ${settings.durationS} s`);
        const lat = await system.latency(settings.rate, settings.durationS, settings.processConcurrency);
        f.startP50.push(lat.startMs.p50);
        f.startP99.push(lat.startMs.p99);
        f.ackP50.push(lat.ackMs.p50);
        f.ackP99.push(lat.ackMs.p99);
      }
    } finally {
      await system.stop();
    }
  }

  const sweep: { key: string; label: string; points: { concurrency: number; jobs: number; jobsPerSec: number; latencyMs: Percentiles }[] }[] = [];
  for (const key of sweepKeys) {
    const system = makeSystem(key, settings.payloadBytes, settings.sweepMaxSeconds);
    describe[key] ??= { label: system.label, ...system.describe() };
    const series = { key, label: system.label, points: [] as { concurrency: number; jobs: number; jobsPerSec: number; latencyMs: Percentiles }[] };
    process.stderr.write(`\n== sweep ${system.label}: starting\n`);
    try {
      await system.start();
      await warmUp(system, settings, steps);
      for (const c of sweepConcurrency) {
        // Enough jobs for a few seconds at each concurrency, without spending minutes on c = 1.
        const jobs = Math.min(settings.jobs, Math.max(2_000, c * 400));
        steps.next(`sweep ${system.label}: process ${jobs} jobs, concurrency ${c}`);
        const fig = await system.process(jobs, c);
        series.points.push({ concurrency: c, jobs, jobsPerSec: fig.jobsPerSec, latencyMs: fig.latencyMs });
      }
    } finally {
      await system.stop();
    }
    sweep.push(series);
  }

  // Every server has stopped and been reaped: its CPU time is in our cutime/cstime now.
  const jiffiesAfter = cpuJiffies();
  const foreignCpuShare =
    jiffiesBefore && jiffiesAfter ? Math.round((1000 * (jiffiesAfter.busy - jiffiesBefore.busy - (jiffiesAfter.own - jiffiesBefore.own))) / Math.max(1, jiffiesAfter.total - jiffiesBefore.total)) / 1000 : null;
  const busyAfter = await cpuBusy(2_000);
  const medians: Record<string, Record<FigureKey, number>> = {};
  for (const [key, f] of Object.entries(figures)) {
    medians[key] = Object.fromEntries(Object.entries(f).map(([k, v]) => [k, round(median(v))])) as Record<FigureKey, number>;
  }
  const date = startedAt.toISOString().slice(0, 19).replace(/:/g, '-');
  const results = {
    date: startedAt.toISOString(),
    durationS: Math.round(steps.elapsedS),
    host: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? 'unknown', memGb: Math.round(os.totalmem() / 2 ** 30), node: process.version, platform: `${os.type()} ${os.release()}`, cpuBusyBefore: busyBefore, cpuBusyAfter: busyAfter, foreignCpuShareDuringRun: foreignCpuShare },
    settings,
    systems: describe,
    figures,
    medians,
    sweep,
  };
  fs.mkdirSync(flags.out, { recursive: true });
  const jsonPath = path.join(flags.out, `${date}.json`);
  const mdPath = path.join(flags.out, `${date}.md`);
  fs.writeFileSync(jsonPath, `${JSON.stringify(results, null, 2)}\n`);
  const markdown = renderMarkdown(results, settings, systemKeys);
  fs.writeFileSync(mdPath, markdown);
  if (sweep.length > 0) {
    fs.mkdirSync(path.dirname(flags.svg), { recursive: true });
    const series: Series[] = sweep.map((s) => ({ label: s.label, points: s.points.map((p) => [p.concurrency, p.jobsPerSec] as [number, number]) }));
    fs.writeFileSync(flags.svg, throughputSvg(series, 'Drain throughput vs worker concurrency', `one worker, ${settings.payloadBytes}-byte jobs, ${os.cpus().length} vCPU (${pctOf(foreignCpuShare)} used by other processes), loopback, ${startedAt.toISOString().slice(0, 10)}`));
  }
  process.stdout.write(`\n${markdown}\nwrote ${jsonPath}, ${mdPath}${sweep.length > 0 ? `, ${flags.svg}` : ''} in ${fmtDuration(steps.elapsedS)}\n`);
}

function pctOf(x: number | null): string {
  return x === null ? 'n/a' : `${Math.round(x * 100)}%`;
}

function round(x: number): number {
  return x >= 100 ? Math.round(x) : Math.round(x * 100) / 100;
}

function fmt(x: number | undefined, unit: string): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return unit === 'ms' ? (x >= 10 ? x.toFixed(1) : x.toFixed(2)) : Math.round(x).toLocaleString('en-US');
}

interface RenderInput {
  date: string;
  durationS: number;
  host: { cpus: number; cpuModel: string; node: string; cpuBusyBefore: number | null; cpuBusyAfter: number | null; foreignCpuShareDuringRun: number | null };
  systems: Record<string, { label: string } & Record<string, string>>;
  medians: Record<string, Record<FigureKey, number>>;
  figures: Record<string, Record<FigureKey, number[]>>;
  sweep: { label: string; points: { concurrency: number; jobsPerSec: number }[] }[];
}

/** The table: one row per figure, one column per system, then raftq's ratio to each anchor. */
export function renderMarkdown(r: RenderInput, s: Settings, systemKeys: string[]): string {
  const raftqKey = systemKeys.find((k) => k.startsWith('raftq-'));
  const anchors = systemKeys.filter((k) => !k.startsWith('raftq-'));
  const lines: string[] = [];
  lines.push(`# raftq vs BullMQ vs NATS JetStream — ${r.date.slice(0, 10)}`);
  lines.push('');
  lines.push(`${r.host.cpus} × ${r.host.cpuModel}, Node ${r.host.node}; everything on 127.0.0.1. Medians of ${s.runs} runs${s.warmupJobs > 0 ? `, each system warmed up first (${s.warmupJobs.toLocaleString('en-US')} jobs enqueued singly, in batches and processed, not counted)` : s.warmupJobs === 0 ? ', no warm-up' : ''}; ${s.payloadBytes}-byte JSON payloads; each enqueue and drain phase ends at ${s.jobs.toLocaleString('en-US')} jobs (${s.batchJobs.toLocaleString('en-US')} batched) or ${s.maxSeconds} s, whichever comes first. Other processes' share of the CPUs: ${pctOf(r.host.cpuBusyBefore)} just before, ${pctOf(r.host.foreignCpuShareDuringRun)} during the run (0% = the machine was ours). Took ${fmtDuration(r.durationS)}.`);
  lines.push('');
  const header = ['figure', ...systemKeys.map((k) => r.systems[k]?.label ?? k), ...(raftqKey ? anchors.map((a) => `raftq / ${r.systems[a]?.label ?? a}`) : [])];
  lines.push(`| ${header.join(' | ')} |`);
  lines.push(`|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
  for (const def of FIGURES) {
    const row = [`${def.label(s)} (${def.unit})`];
    for (const k of systemKeys) row.push(fmt(r.medians[k]?.[def.key], def.unit));
    if (raftqKey) {
      for (const a of anchors) {
        const ours = r.medians[raftqKey]?.[def.key];
        const theirs = r.medians[a]?.[def.key];
        row.push(ours !== undefined && theirs !== undefined && theirs > 0 ? `${(ours / theirs).toFixed(2)}×` : '–');
      }
    }
    lines.push(`| ${row.join(' | ')} |`);
  }
  lines.push('');
  lines.push('Throughput ratios above 1 favour raftq; latency ratios below 1 favour raftq. Every run\'s value is in the JSON file beside this one.');
  lines.push('');
  lines.push('## Systems');
  lines.push('');
  for (const k of Object.keys(r.systems)) {
    const { label, ...rest } = r.systems[k]!;
    lines.push(`- **${label}**: ${Object.entries(rest).map(([a, b]) => `${a} ${b}`).join('; ')}`);
  }
  if (r.sweep.length > 0) {
    lines.push('');
    lines.push('## Drain throughput vs worker concurrency (jobs/s, one run each)');
    lines.push('');
    const cs = [...new Set(r.sweep.flatMap((x) => x.points.map((p) => p.concurrency)))].sort((a, b) => a - b);
    lines.push(`| system | ${cs.map((c) => `c=${c}`).join(' | ')} |`);
    lines.push(`|---|${cs.map(() => '---:').join('|')}|`);
    for (const series of r.sweep) lines.push(`| ${series.label} | ${cs.map((c) => fmt(series.points.find((p) => p.concurrency === c)?.jobsPerSec, 'jobs/s')).join(' | ')} |`);
  }
  lines.push('');
  return `${lines.join('\n')}\n`;
}

main().catch((error: unknown) => {
  console.error(`compare: ${(error as Error).stack ?? String(error)}`);
  process.exit(1);
});
