// `raftq bench`: load a cluster (a running one, or N node processes it spawns) through the SDK
// and print throughput, latency percentiles and memory, as a table or as one JSON object.

import path from 'node:path';
import { Command, Option } from 'commander';
import { LocalCluster } from './spawn.js';
import { RUNNERS, SCENARIOS, type BenchResult, type Scenario, type ScenarioOptions, type Target, type TargetSource } from './scenarios.js';
import { formatResult } from './report.js';

/** Default concurrency (operations or handler slots in flight) of each scenario. */
export const CONCURRENCY_DEFAULT: Record<Scenario, number> = {
  enqueue: 64,
  'enqueue-batch': 4,
  process: 50,
  latency: 50,
  backlog: 50,
  failover: 16,
  memory: 4,
  snapshot: 1,
  catchup: 1,
};

/** Which figure picks the median run, and whether bigger is better. */
const PRIMARY: Record<Scenario, { of: string; pick: (r: BenchResult) => number }> = {
  enqueue: { of: 'jobsPerSec', pick: (r) => r.jobsPerSec },
  'enqueue-batch': { of: 'jobsPerSec', pick: (r) => r.jobsPerSec },
  process: { of: 'jobsPerSec', pick: (r) => r.jobsPerSec },
  backlog: { of: 'jobsPerSec (largest backlog)', pick: (r) => r.jobsPerSec },
  latency: { of: 'latencyMs.p99', pick: (r) => r.latencyMs.p99 },
  failover: { of: 'failover.recoveryMs.p50', pick: (r) => (r['failover'] as { recoveryMs: { p50: number } }).recoveryMs.p50 },
  memory: { of: 'bytesPerJobBeyondPayloadMax', pick: (r) => (r['bytesPerJobBeyondPayloadMax'] as number | null) ?? NaN },
  snapshot: { of: 'latencyMs.max', pick: (r) => r.latencyMs.max },
  catchup: { of: 'catchup.catchUpSeconds', pick: (r) => (r['catchup'] as { catchUpSeconds: number }).catchUpSeconds },
};

interface BenchFlags {
  scenario: string;
  spawn?: string;
  nodes?: string;
  jobs: string;
  concurrency?: string;
  batch: string;
  rate: string;
  duration: string;
  backlog: string;
  memoryJobs: string;
  kills: string;
  payloadBytes: string;
  maxSeconds: string;
  warmupJobs: string;
  snapshotJobs: string;
  runs: string;
  cpuProf?: boolean;
  cpuProfDir: string;
  dataRoot?: string;
  json?: boolean;
}

export function registerBenchCommand(program: Command): void {
  program
    .command('bench')
    .description('benchmark a cluster: throughput, latency percentiles, memory (a running one with --nodes, or N spawned processes with --spawn N; neither: --spawn 3)')
    .addOption(new Option('--scenario <name>', 'what to measure').choices([...SCENARIOS]).default('process'))
    .option('--spawn <n>', 'start N node processes on free loopback ports, data in a temp dir removed at the end')
    .option('--nodes <list>', 'benchmark a running cluster: client host:port list (or RAFTQ_NODES); jobs left by enqueue, memory and backlog stay in its bench-* queues')
    .option('--jobs <n>', 'jobs per run (enqueue, enqueue-batch, process; backlog: jobs processed per level)', '20000')
    .option('--concurrency <c>', `in flight: submits, batches or worker slots (default ${Object.entries(CONCURRENCY_DEFAULT).map(([s, c]) => `${s} ${c}`).join(', ')})`)
    .option('--batch <b>', 'jobs per submitMany (enqueue-batch)', '500')
    .option('--rate <r>', 'open-loop submits per second (latency)', '1000')
    .option('--duration <s>', 'seconds of open-loop load (latency)', '10')
    .option('--backlog <list>', 'queued jobs behind the measured ones (backlog)', '1000,100000,1000000')
    .option('--memory-jobs <list>', 'queued jobs at which RSS is read (memory)', '100000,1000000')
    .option('--kills <k>', 'leader SIGKILLs (failover)', '3')
    .option('--payload-bytes <n>', 'bytes of JSON per job payload', '100')
    .option('--max-seconds <s>', 'stop enqueue, enqueue-batch and process runs after this long (0: never); throughput counts the jobs done', '0')
    .option('--warmup-jobs <n>', 'jobs sent (half single, half batched) and drained before measuring enqueue, enqueue-batch, process, latency and backlog, so every process runs warm JIT-compiled code (0: measure cold)', '100000')
    .option('--snapshot-jobs <n>', 'jobs queued before the leader is asked for a snapshot (snapshot), or submitted while a follower is down (catchup)', '1000000')
    .option('--runs <r>', 'repeat, report the median run', '1')
    .option('--cpu-prof', 'run spawned nodes with node --cpu-prof (profiles written when they stop)')
    .option('--cpu-prof-dir <dir>', 'where --cpu-prof writes', path.join('docs', 'perf', 'profiles'))
    .option('--data-root <dir>', 'where spawned nodes keep their temp data dir (default: the OS temp dir); a tmpfs here is a diagnostic that takes the disk out')
    .option('--json', 'print one JSON object instead of the table')
    .action(async (_local: BenchFlags, command: Command) => {
      // The program defines --nodes and --json for every client command; they land there.
      const flags = command.optsWithGlobals<BenchFlags>();
      const result = await runBench(flags);
      process.stdout.write(flags.json ? `${JSON.stringify(result)}\n` : formatResult(result));
    });
}

async function runBench(flags: BenchFlags): Promise<BenchResult> {
  const scenario = flags.scenario as Scenario;
  const opts: ScenarioOptions = {
    jobs: intFlag('--jobs', flags.jobs, 1),
    concurrency: flags.concurrency !== undefined ? intFlag('--concurrency', flags.concurrency, 1) : CONCURRENCY_DEFAULT[scenario],
    batch: intFlag('--batch', flags.batch, 1),
    rate: intFlag('--rate', flags.rate, 1),
    durationS: numberFlag('--duration', flags.duration),
    backlogs: listFlag('--backlog', flags.backlog),
    memoryLevels: listFlag('--memory-jobs', flags.memoryJobs),
    kills: intFlag('--kills', flags.kills, 1),
    payloadBytes: intFlag('--payload-bytes', flags.payloadBytes, 0),
    maxSeconds: intFlag('--max-seconds', flags.maxSeconds, 0),
    warmupJobs: intFlag('--warmup-jobs', flags.warmupJobs, 0),
    snapshotJobs: intFlag('--snapshot-jobs', flags.snapshotJobs, 0),
  };
  const runs = intFlag('--runs', flags.runs, 1);
  const source = targetSource(flags);
  // Ctrl-C or a kill must still end the nodes we started: exit through the 'exit' hook.
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
  const results: BenchResult[] = [];
  for (let r = 0; r < runs; r++) {
    if (runs > 1) process.stderr.write(`run ${r + 1}/${runs}\n`);
    results.push(await RUNNERS[scenario](source, opts));
  }
  return medianRun(scenario, results);
}

function targetSource(flags: BenchFlags): TargetSource {
  const nodesText = flags.nodes ?? (flags.spawn === undefined ? process.env['RAFTQ_NODES'] : undefined);
  if (flags.spawn !== undefined && flags.nodes !== undefined) throw new Error('bench: give --spawn or --nodes, not both');
  if (nodesText !== undefined && nodesText.trim() !== '') {
    if (flags.cpuProf) throw new Error('bench: --cpu-prof needs --spawn (it profiles the processes it starts)');
    const nodes = nodesText.split(',').map((s) => s.trim()).filter(Boolean);
    const target: Target = { nodes, cluster: null };
    return { spawned: false, acquire: async () => target, release: async () => undefined };
  }
  const count = flags.spawn !== undefined ? intFlag('--spawn', flags.spawn, 1) : 3;
  return {
    spawned: true,
    acquire: async (label) => {
      process.stderr.write(`starting ${count} node${count === 1 ? '' : 's'}...\n`);
      const cluster = await LocalCluster.start({ count, label, cpuProfDir: flags.cpuProf ? path.resolve(flags.cpuProfDir) : undefined, dataRoot: flags.dataRoot });
      return { nodes: cluster.clientAddresses, cluster };
    },
    release: async (target) => {
      await target.cluster?.stop();
    },
  };
}

/** The run whose primary figure is the median; the others' figures are listed beside it. */
function medianRun(scenario: Scenario, results: BenchResult[]): BenchResult {
  if (results.length === 1) return results[0]!;
  const primary = PRIMARY[scenario];
  const sorted = [...results].sort((a, b) => primary.pick(a) - primary.pick(b));
  const chosen = sorted[Math.floor((sorted.length - 1) / 2)]!;
  return { ...chosen, runs: results.length, runsOf: primary.of, runsValues: results.map(primary.pick) };
}

function intFlag(name: string, text: string, min: number): number {
  const n = Number(text.replace(/_/g, ''));
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}: expected an integer >= ${min}, got "${text}"`);
  return n;
}

function numberFlag(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${name}: expected a positive number, got "${text}"`);
  return n;
}

function listFlag(name: string, text: string): number[] {
  const values = text.split(',').map((s) => s.trim()).filter(Boolean).map((s) => intFlag(name, s.replace(/k$/i, '000').replace(/m$/i, '000000'), 1));
  if (values.length === 0) throw new Error(`${name}: expected a comma-separated list of counts`);
  return values;
}
