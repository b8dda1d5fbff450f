// `npm run sim -- ...`: runs simulator seeds, in worker threads, with a live progress line.
//
//   --seed S            replay one seed (add --trace to print every event, --trace-all for heartbeats too)
//   --seeds N [--from F] run seeds F..F+N-1 (F defaults to 1)
//   --nodes 3|5         founding voters (default: odd seeds 3, even seeds 5)
//   --ticks T           chaos ticks per seed (default 3000)
//   --fault NAME        run a deliberately broken core (commitOldTermByCounting | voteWithoutLogCheck |
//                       sendVoteBeforePersist | appendWithoutPrevCheck)
//   --scenario NAME     nemesis weights aimed at NAME's bug (default: the --fault's); 'none' for the plain mix
//   --workers K         worker threads (default: available CPUs)
//   --keep-going        do not stop at the first violation; report them all
//   --no-membership     no voters added or removed (to look past a membership bug)
//
// Exit code 1 on a violation, printed with its replay command.

import { availableParallelism } from 'node:os';
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import { formatViolation, SimViolation, type ViolationInfo } from './checkers.js';
import { runSimulation, TICKS_DEFAULT, type SimOptions } from './cluster.js';
import { FAULT_NAMES, type FaultName } from './nemesis.js';

interface CliOptions {
  seed: number | null;
  seeds: number;
  from: number;
  nodes: number | null;
  ticks: number;
  fault: FaultName | null;
  /** undefined: the fault's own schedule. */
  scenario: FaultName | null | undefined;
  workers: number;
  trace: boolean;
  traceAll: boolean;
  keepGoing: boolean;
  membership: boolean;
}

/** What a worker reports for one chunk of seeds. */
interface ChunkResult {
  seeds: number;
  ticks: number;
  /** Per founding-voter count: seeds, ticks and milliseconds spent (on one core). */
  by: Record<number, { seeds: number; ticks: number; ms: number }>;
  violations: ViolationInfo[];
}

const CHUNK_SEEDS_MAX = 25;
const PROGRESS_INTERVAL_MS_TTY = 200;
const PROGRESS_INTERVAL_MS_LOG = 5000;

function usage(message: string): never {
  process.stderr.write(`${message}\nusage: npm run sim -- [--seed S [--trace|--trace-all] | --seeds N [--from F]] [--nodes 3|5] [--ticks T] [--fault NAME] [--scenario NAME|none] [--workers K] [--keep-going] [--no-membership]\n`);
  process.exit(2);
}

function parseArgs(argv: string[]): CliOptions {
  const o: CliOptions = {
    seed: null,
    seeds: 1000,
    from: 1,
    nodes: null,
    ticks: TICKS_DEFAULT,
    fault: null,
    scenario: undefined,
    workers: availableParallelism(),
    trace: false,
    traceAll: false,
    keepGoing: false,
    membership: true,
  };
  const int = (i: number, name: string): number => {
    const v = Number(argv[i]);
    if (!Number.isSafeInteger(v) || v < 0) usage(`${name} needs a non-negative integer, got ${argv[i]}`);
    return v;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    switch (a) {
      case '--seed':
        o.seed = int(++i, a);
        break;
      case '--seeds':
        o.seeds = int(++i, a);
        break;
      case '--from':
        o.from = int(++i, a);
        break;
      case '--nodes':
        o.nodes = int(++i, a);
        if (o.nodes < 3 || o.nodes > 9) usage('--nodes must be between 3 and 9');
        break;
      case '--ticks':
        o.ticks = int(++i, a);
        break;
      case '--workers':
        o.workers = Math.max(1, int(++i, a));
        break;
      case '--fault': {
        const f = argv[++i] as FaultName;
        if (!FAULT_NAMES.includes(f)) usage(`--fault must be one of ${FAULT_NAMES.join(', ')}`);
        o.fault = f;
        break;
      }
      case '--scenario': {
        const f = argv[++i];
        if (f !== 'none' && !FAULT_NAMES.includes(f as FaultName)) usage(`--scenario must be none or one of ${FAULT_NAMES.join(', ')}`);
        o.scenario = f === 'none' ? null : (f as FaultName);
        break;
      }
      case '--trace':
        o.trace = true;
        break;
      case '--trace-all':
        o.trace = true;
        o.traceAll = true;
        break;
      case '--keep-going':
        o.keepGoing = true;
        break;
      case '--no-membership':
        o.membership = false;
        break;
      default:
        usage(`unknown argument ${a}`);
    }
  }
  return o;
}

export function nodesForSeed(seed: number, nodes: number | null): number {
  return nodes ?? (seed % 2 === 1 ? 3 : 5);
}

function simOptions(o: CliOptions, seed: number): SimOptions {
  return { seed, nodes: nodesForSeed(seed, o.nodes), ticks: o.ticks, fault: o.fault, membership: o.membership, ...(o.scenario !== undefined ? { scenario: o.scenario } : {}) };
}

/** Runs seeds [from, to) in this thread. */
function runChunk(o: CliOptions, from: number, to: number): ChunkResult {
  const r: ChunkResult = { seeds: 0, ticks: 0, by: {}, violations: [] };
  for (let seed = from; seed < to; seed++) {
    const so = simOptions(o, seed);
    const by = (r.by[so.nodes] ??= { seeds: 0, ticks: 0, ms: 0 });
    const t0 = performance.now();
    try {
      const res = runSimulation(so);
      r.ticks += res.stats.ticks;
      by.ticks += res.stats.ticks;
    } catch (err) {
      if (!(err instanceof SimViolation)) throw err;
      r.violations.push(err.info());
      r.ticks += err.tick;
      by.ticks += err.tick;
    }
    by.ms += performance.now() - t0;
    by.seeds++;
    r.seeds++;
    if (r.violations.length > 0 && !o.keepGoing) break;
  }
  return r;
}

function replayOne(o: CliOptions, seed: number): number {
  const so: SimOptions = { ...simOptions(o, seed), trace: o.trace ? (line) => process.stdout.write(`${line}\n`) : null, traceQuiet: o.traceAll };
  const t0 = performance.now();
  try {
    const res = runSimulation(so);
    const s = res.stats;
    const sec = (performance.now() - t0) / 1000;
    process.stdout.write(
      `seed ${seed} (${so.nodes} nodes${o.fault ? `, fault ${o.fault}` : ''}): OK in ${sec.toFixed(2)} s — ${s.ticks} ticks, ${s.messages} messages ` +
        `(${s.lost} lost, ${s.blocked} blocked, ${s.duplicated} duplicated), ${s.leaderships} leaderships, ${s.committed} committed, ` +
        `${s.crashes} crashes, ${s.snapshotsInstalled} snapshots installed, ${s.configChanges} config changes, ${s.transfers} transfers, ` +
        `${s.reads} reads, ${s.healCycles} heal cycles (worst recovery ${s.recoveryTicksMax} ticks); trace hash ${res.traceHash.toString(16)}\n`,
    );
    return 0;
  } catch (err) {
    if (!(err instanceof SimViolation)) throw err;
    process.stdout.write(`${err.message}\n`);
    return 1;
  }
}

function fmt(n: number): string {
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)}M`;
  if (n < 100) return n.toFixed(1);
  return Math.round(n).toLocaleString('en-US');
}

class Progress {
  readonly tty = process.stderr.isTTY === true;
  private last = 0;
  private readonly t0 = performance.now();
  done = 0;
  ticks = 0;
  constructor(private readonly total: number) {}

  update(force = false): void {
    const now = performance.now();
    if (!force && now - this.last < (this.tty ? PROGRESS_INTERVAL_MS_TTY : PROGRESS_INTERVAL_MS_LOG)) return;
    this.last = now;
    const sec = Math.max((now - this.t0) / 1000, 1e-3);
    const rate = this.done / sec;
    const eta = rate > 0 ? (this.total - this.done) / rate : 0;
    const line = `seeds ${this.done}/${this.total}  ${fmt(rate)} seeds/s  ${fmt(this.ticks / sec)} ticks/s  ETA ${Math.ceil(eta)}s`;
    if (this.tty) process.stderr.write(`\r${line}   `);
    else process.stderr.write(`${line}\n`);
  }

  end(): void {
    if (this.tty) process.stderr.write('\n');
  }

  elapsedSec(): number {
    return (performance.now() - this.t0) / 1000;
  }
}

async function runMany(o: CliOptions): Promise<number> {
  const total = o.seeds;
  const end = o.from + total;
  const progress = new Progress(total);
  const by: ChunkResult['by'] = {};
  const violations: ViolationInfo[] = [];
  let next = o.from;
  // CPU time of the whole process (all workers): rates per CPU-second hold even on a busy machine.
  const cpu0 = process.cpuUsage();
  const chunkSize = Math.max(1, Math.min(CHUNK_SEEDS_MAX, Math.floor(total / (o.workers * 8))));
  const absorb = (r: ChunkResult): void => {
    progress.done += r.seeds;
    progress.ticks += r.ticks;
    for (const [k, v] of Object.entries(r.by)) {
      const acc = (by[Number(k)] ??= { seeds: 0, ticks: 0, ms: 0 });
      acc.seeds += v.seeds;
      acc.ticks += v.ticks;
      acc.ms += v.ms;
    }
    for (const v of r.violations) {
      violations.push(v);
      if (progress.tty) process.stderr.write('\n');
      process.stdout.write(`${formatViolation(v)}\n`);
    }
    progress.update();
  };
  const stopped = (): boolean => violations.length > 0 && !o.keepGoing;

  if (o.workers <= 1) {
    while (next < end && !stopped()) {
      const to = Math.min(end, next + chunkSize);
      absorb(runChunk(o, next, to));
      next = to;
    }
  } else {
    const workers: Worker[] = [];
    await new Promise<void>((resolve, reject) => {
      let active = 0;
      const feed = (w: Worker): void => {
        if (next >= end || stopped()) {
          void w.terminate();
          if (--active === 0) resolve();
          return;
        }
        const to = Math.min(end, next + chunkSize);
        w.postMessage({ from: next, to });
        next = to;
      };
      for (let i = 0; i < Math.min(o.workers, Math.ceil(total / chunkSize)); i++) {
        const w = new Worker(new URL(import.meta.url), { workerData: o });
        workers.push(w);
        active++;
        w.on('message', (r: ChunkResult) => {
          absorb(r);
          if (stopped()) {
            for (const x of workers) void x.terminate();
            resolve();
            return;
          }
          feed(w);
        });
        w.on('error', reject);
        feed(w);
      }
      if (active === 0) resolve();
    });
  }
  progress.update(true);
  progress.end();
  const sec = progress.elapsedSec();
  const cpu = process.cpuUsage(cpu0);
  const cpuSec = (cpu.user + cpu.system) / 1e6;
  const parts = Object.entries(by).map(([k, v]) => {
    const coreSec = Math.max(v.ms / 1000, 1e-3);
    return `${k} nodes: ${v.seeds} seeds, ${fmt(v.ticks / v.seeds)} ticks/seed, ${fmt(v.seeds / coreSec)} seeds/s and ${fmt(v.ticks / coreSec)} ticks/s per worker (wall)`;
  });
  process.stdout.write(
    `${progress.done} seeds${o.fault ? ` with fault ${o.fault}` : ''} in ${sec.toFixed(1)} s on ${o.workers} worker(s): ` +
      `${fmt(progress.done / sec)} seeds/s, ${fmt(progress.ticks / sec)} ticks/s; ` +
      `${cpuSec.toFixed(1)} CPU-s: ${fmt(progress.done / cpuSec)} seeds and ${fmt(progress.ticks / cpuSec)} ticks per CPU-second` +
      `${parts.length > 0 ? `\n  ${parts.join('\n  ')}` : ''}\n` +
      (violations.length === 0 ? 'no violations\n' : `${violations.length} violation(s); first replay: ${violations[0]!.replay}\n`),
  );
  return violations.length === 0 ? 0 : 1;
}

if (isMainThread) {
  const o = parseArgs(process.argv.slice(2));
  if (o.seed !== null) {
    process.exitCode = replayOne(o, o.seed);
  } else {
    runMany(o).then(
      (code) => {
        process.exitCode = code;
      },
      (err: unknown) => {
        process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
        process.exitCode = 3;
      },
    );
  }
} else {
  const o = workerData as CliOptions;
  parentPort!.on('message', (m: { from: number; to: number }) => {
    parentPort!.postMessage(runChunk(o, m.from, m.to));
  });
}
