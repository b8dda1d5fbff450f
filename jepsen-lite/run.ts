// One jepsen-lite run, start to finish: cluster behind proxies, workload, nemesis schedule, heal,
// drain, final observations, checkers, report. The CLI and the CI short run both come through
// runJepsen, so what CI checks is what people run by hand.

import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ClusterUnderTest } from './cluster-under-test.js';
import { replace, restartOrReplace, startFault, type FaultContext, type RunningFault } from './faults.js';
import { recordConvergence, recordFinalState, waitDrained, type DrainResult } from './finale.js';
import { recordScheduleProbe, setScheduleProbe } from './schedule-probe.js';
import { HistoryWriter, type Op } from './history.js';
import { Progress } from './progress.js';
import { Prng } from './random.js';
import { writeReport, type Results, type RunMeta } from './report.js';
import { describeSchedule, makeSchedule, parseNemeses, type ScheduleStep } from './schedule.js';
import { Workload } from './workload.js';

export interface RunOptions {
  nodes: number;
  timeS: number;
  nemeses: string[];
  /** Target enqueues per second. */
  rate: number;
  seed: number;
  /** Where run folders go (default ./runs). */
  runsDir?: string;
  /** Route client links through proxies as well. */
  proxyClients?: boolean;
  /** Live progress line on stderr. */
  progress?: boolean;
  /** Keep node data directories (under the run folder) for a post-mortem. */
  keepData?: boolean;
  /** `--snapshot-every` of every node: small, so snapshots and InstallSnapshot happen during the run. */
  snapshotEvery?: number;
  /** `--leader-snapshot-pause-max-ms` of every node (default: the node's). */
  leaderSnapshotPauseMaxMs?: number;
  /** Upper bound of the drain after healing (ms); default scales with the run. */
  drainMsMax?: number;
  convergeMsMax?: number;
  toxiproxyUrl?: string;
  forceOurToxiproxy?: boolean;
  /** Overrides the folder name (tests). */
  folderName?: string;
  /** `--log-level` of every node (default warn). */
  nodeLogLevel?: string;
}

export interface RunOutcome {
  folder: string;
  results: Results;
}

/** Waits for a leader after healing, at most this long. */
const LEADER_AFTER_HEAL_MS = 30_000;
export const SNAPSHOT_EVERY_DEFAULT = 2_000;

export function defaultSizes(rate: number, timeS: number): { producers: number; workers: number; queues: number } {
  const clamp = (v: number, lo: number, hi: number): number => Math.max(lo, Math.min(hi, v));
  return {
    // Each producer has one request in flight (a Jepsen process): ~20 ms per enqueue on our machines.
    producers: clamp(Math.ceil(rate / 20), 2, 32),
    workers: clamp(Math.ceil(rate / 150) + 1, 2, 8),
    // Retention keeps 10,000 completed jobs per queue: stay well below so the final read finds every job.
    queues: clamp(Math.ceil((rate * timeS) / 5_000), 2, 64),
  };
}

export function commandLine(o: RunOptions): string {
  const parts = [`npm run jepsen -- --nodes ${o.nodes} --time ${o.timeS} --nemesis ${o.nemeses.join(',')} --rate ${o.rate} --seed ${o.seed}`];
  if (o.proxyClients) parts.push('--proxy-clients');
  if (o.snapshotEvery !== undefined && o.snapshotEvery !== SNAPSHOT_EVERY_DEFAULT) parts.push(`--snapshot-every ${o.snapshotEvery}`);
  if (o.leaderSnapshotPauseMaxMs !== undefined) parts.push(`--leader-snapshot-pause-max-ms ${o.leaderSnapshotPauseMaxMs}`);
  return parts.join(' ');
}

/** Relative to the working directory when inside it, else absolute. */
function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? p : rel;
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, '').replace(/\..*$/, '').replace('T', '-');
}

export async function runJepsen(options: RunOptions): Promise<RunOutcome> {
  const wallStart = Date.now();
  const nemeses = parseNemeses(options.nemeses);
  const runsDir = path.resolve(options.runsDir ?? 'runs');
  const folder = path.join(runsDir, options.folderName ?? `${timestamp()}-${options.seed}`);
  fs.mkdirSync(folder, { recursive: true });
  const durationMs = options.timeS * 1000;
  const schedule = makeSchedule({ seed: options.seed, nemeses, durationMs, nodes: options.nodes });
  const sizes = defaultSizes(options.rate, options.timeS);
  const queues = Array.from({ length: sizes.queues }, (_, i) => `q${i}`);
  const notes: string[] = [];
  const meta: RunMeta = {
    seed: options.seed,
    nodes: options.nodes,
    nemeses,
    timeS: options.timeS,
    rate: options.rate,
    producers: sizes.producers,
    workers: sizes.workers,
    queues,
    toxiproxy: '',
    startedAt: new Date(wallStart).toISOString(),
    schedule: describeSchedule(schedule),
    workloadEndMs: 0,
    drain: null,
    notes,
    command: commandLine({ ...options, nemeses }),
    replay: `npm run jepsen -- --replay ${displayPath(folder)}`,
    wallMs: 0,
  };
  fs.writeFileSync(path.join(folder, 'run.json'), `${JSON.stringify({ options, meta, schedule }, null, 2)}\n`);

  const cluster = await ClusterUnderTest.start({
    nodes: options.nodes,
    seed: options.seed,
    tag: `jl${options.seed}p${process.pid}`,
    proxyClients: options.proxyClients,
    logLevel: options.nodeLogLevel,
    nodeArgs: [
      '--snapshot-every',
      String(options.snapshotEvery ?? SNAPSHOT_EVERY_DEFAULT),
      ...(options.leaderSnapshotPauseMaxMs === undefined ? [] : ['--leader-snapshot-pause-max-ms', String(options.leaderSnapshotPauseMaxMs)]),
    ],
    toxiproxyUrl: options.toxiproxyUrl,
    forceOurToxiproxy: options.forceOurToxiproxy,
    keepRunDir: options.keepData,
    runDir: options.keepData ? path.join(folder, 'nodes') : undefined,
  });
  meta.toxiproxy = `${cluster.toxiproxyKind} (${cluster.net.url})`;
  const progress = new Progress(options.progress ?? false, durationMs);
  let history: HistoryWriter | null = null;
  let workload: Workload | null = null;
  let crashes: { stop(): void } | null = null;
  try {
    await cluster.processes.waitForLeader(LEADER_AFTER_HEAL_MS);
    const nodeIds = cluster.members();
    const h = new HistoryWriter(path.join(folder, 'history.jsonl'));
    history = h;
    const rng = new Prng(options.seed, 'workload');
    const w = new Workload({ history: h, onOp: (op) => progress.count(op), addresses: () => cluster.clientAddresses(), rng, rate: options.rate, producers: sizes.producers, workers: sizes.workers, queues });
    workload = w;
    await setScheduleProbe(cluster, h);
    const ctx = faultContext(cluster, h);
    crashes = watchCrashes(cluster, ctx, h);
    progress.start(h);
    w.start();
    const stop = new AbortController();
    const nemesis = runSchedule(schedule, ctx, h, stop.signal, progress);
    await sleep(durationMs);
    stop.abort();
    await w.stopProducers();
    meta.workloadEndMs = h.now();
    progress.phase('healing');
    await nemesis;
    await healEverything(cluster, ctx, notes, nodeIds);
    await cluster.processes.waitForLeader(LEADER_AFTER_HEAL_MS).catch((error: Error) => notes.push(`no leader after healing: ${error.message.split('\n')[0]}`));
    progress.phase('draining');
    w.drain();
    const drain: DrainResult = await waitDrained(cluster, queues, options.drainMsMax ?? Math.max(30_000, durationMs / 2));
    meta.drain = drain;
    if (!drain.drained) notes.push(`queues not drained within ${drain.elapsedMs} ms: ${JSON.stringify(drain.left)}`);
    await w.stopWorkers();
    progress.phase('observing');
    const finalState = await recordFinalState(cluster, w.book, h);
    if (finalState.unreadable > 0) notes.push(`${finalState.unreadable} of ${finalState.jobs} jobs could not be read at the end`);
    // Before convergence: it removes the schedule, so no firing changes the state while nodes are compared.
    await recordScheduleProbe(cluster, h);
    const converge = await recordConvergence(cluster, h, options.convergeMsMax ?? 30_000);
    if (!converge.converged) notes.push(`no convergence: ${converge.nodes.map((n) => `${n.node}@${n.appliedIndex}=${n.hash.slice(0, 16)}`).join(' ')}`);
  } catch (error) {
    notes.push(`run aborted: ${(error as Error).message.split('\n').slice(0, 3).join(' / ')}`);
    fs.writeFileSync(path.join(folder, 'error.txt'), `${(error as Error).stack ?? error}\n`);
  } finally {
    // Before the nodes are stopped: the history closes after them, and a run that aborted still stops watching.
    crashes?.stop();
    progress.stop();
    await workload?.close();
    copyNodeLogs(cluster, folder);
    await cluster.stop();
    history?.close();
  }
  meta.wallMs = Date.now() - wallStart;
  const ops: Op[] = history?.ops ?? [];
  const results = writeReport(folder, ops, meta);
  return { folder, results };
}

function faultContext(cluster: ClusterUnderTest, history: HistoryWriter): FaultContext {
  return {
    cluster,
    quarantined: new Set<string>(),
    damaged: new Set<string>(),
    event: (fault, detail) => history.record({ type: 'info', f: 'nemesis', process: -1, timeMs: history.now(), value: { phase: 'event', fault, detail } }),
  };
}

/** Runs each step's faults for their window, then heals them; on abort heals what is running and returns. */
async function runSchedule(schedule: ScheduleStep[], ctx: FaultContext, history: HistoryWriter, stop: AbortSignal, progress: Progress): Promise<void> {
  const nemesisOp = (phase: 'start' | 'stop', fault: string, detail: string, timeMs = history.now()): void =>
    history.record({ type: 'info', f: 'nemesis', process: -1, timeMs, value: { phase, fault, detail } });
  const until = async (ms: number): Promise<void> => {
    const wait = ms - history.now();
    if (wait > 0 && !stop.aborted) await sleep(wait, undefined, { signal: stop }).catch(() => undefined);
  };
  for (const step of schedule) {
    await until(step.atMs);
    if (stop.aborted) return;
    const running: RunningFault[] = [];
    for (const f of step.faults) {
      const startedMs = history.now();
      try {
        const r = await startFault(ctx, f);
        if (r.skipped) {
          ctx.event(r.fault, r.detail);
          continue;
        }
        running.push(r);
        nemesisOp('start', r.fault, r.detail, startedMs);
      } catch (error) {
        ctx.event(f.fault, `could not start: ${(error as Error).message.split('\n')[0]}`);
      }
    }
    progress.faults(running.map((r) => r.fault));
    await until(step.atMs + step.durationMs);
    for (const r of running.reverse()) {
      try {
        await r.heal();
      } catch (error) {
        ctx.event(r.fault, `heal failed: ${(error as Error).message.split('\n')[0]}`);
      }
      nemesisOp('stop', r.fault, r.detail);
    }
    progress.faults([]);
  }
}

/** After the last fault: every link healed, every member running, every node that should be a member one again. */
async function healEverything(cluster: ClusterUnderTest, ctx: FaultContext, notes: string[], nodeIds: string[]): Promise<void> {
  try {
    const done = await cluster.healAll();
    if (done.length > 0) notes.push(`final heal: ${done.join('; ')}`);
  } catch (error) {
    notes.push(`final heal failed: ${(error as Error).message.split('\n')[0]}`);
    for (const id of cluster.members()) await restartOrReplace(ctx, id, 'final heal').catch(() => undefined);
  }
  for (const id of nodeIds.filter((n) => !cluster.members().includes(n))) {
    try {
      await replace(ctx, id);
      notes.push(`final heal: ${id} was no longer a member; a fresh ${id} joined`);
    } catch (error) {
      notes.push(`final heal: could not add ${id} back: ${(error as Error).message.split('\n')[0]}`);
    }
  }
}

/**
 * Records an event for every node process that exited without the harness asking it to, judged
 * when it exits: exits of quarantined nodes are their fault's business (a disk refusal, a failed
 * restart it reports itself), and a fault lifts its quarantine soon after.
 */
function watchCrashes(cluster: ClusterUnderTest, ctx: FaultContext, history: HistoryWriter): { stop(): void } {
  const stop = cluster.processes.onUnexpectedExit((e) => {
    if (ctx.quarantined.has(e.id)) return;
    const tail = cluster.processes.logTail(e.id, 20).split('\n').filter((l) => /error|fatal|invariant|assert/i.test(l)).at(-1) ?? '';
    history.record({ type: 'info', f: 'nemesis', process: -1, timeMs: history.now(), value: { phase: 'event', fault: 'crash', detail: `${e.id} pid ${e.pid} exited on its own (${e.signal ?? `code ${e.code}`}): ${tail.slice(0, 300)}` } });
  });
  return { stop };
}

function copyNodeLogs(cluster: ClusterUnderTest, folder: string): void {
  const dir = path.join(folder, 'logs');
  fs.mkdirSync(dir, { recursive: true });
  for (const id of cluster.processes.ids()) {
    try {
      fs.copyFileSync(cluster.processes.node(id).logFile, path.join(dir, `${id}.log`));
    } catch {
      // a node that never started has no log
    }
  }
}
