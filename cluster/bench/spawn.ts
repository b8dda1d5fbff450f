// A throwaway local cluster for benchmarks: N real `raftq node` processes on free loopback ports,
// data in a temp directory (fsync as always), logs in files beside it. The harness can SIGKILL
// and restart a node, read each node's RSS from /proc, and ends every process it started, by PID,
// even when the benchmark throws or the user presses Ctrl-C.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { NODE_V8_FLAGS } from '../../src/node-flags.js';

const MAIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'main.js');
/** How long a cluster may take to elect a leader and report every node ready. */
export const READY_TIMEOUT_MS = 30_000;
/** SIGTERM, then this long for a graceful exit (the CPU profile is written then), then SIGKILL. */
const STOP_GRACE_MS = 10_000;
const HOST = '127.0.0.1';
/** waitQuiet: a node is idle when it used less than this share of one CPU over one window. */
const QUIET_CPU_SHARE = 0.1;
const QUIET_WINDOW_MS = 500;

export interface SpawnOptions {
  count: number;
  /** Pass --cpu-prof to every node, writing profiles here. */
  cpuProfDir?: string;
  /** Label in profile file names, e.g. the scenario. */
  label?: string;
  logLevel?: string;
  /** Extra flags for `raftq node`. */
  nodeArgs?: string[];
  /** Parent of the temp data directory (default: the OS temp dir). A tmpfs here takes the disk out of the figures: a diagnostic, never a headline. */
  dataRoot?: string;
}

export interface SpawnedNode {
  readonly id: string;
  readonly client: string;
  readonly peer: string;
  readonly http: string;
  readonly dataDir: string;
  readonly logPath: string;
  child: ChildProcess | null;
  starts: number;
}

interface ReadyReport {
  ok: boolean;
  leader: string | null;
  reasons: string[];
}

const live = new Set<LocalCluster>();
let exitHookInstalled = false;

/** Last resort: a benchmark that dies must not leave node processes behind. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const cluster of live) cluster.killAllSync();
  });
}

export class LocalCluster {
  readonly nodes: SpawnedNode[];
  private stopped = false;

  private constructor(
    readonly dir: string,
    nodes: SpawnedNode[],
    private readonly opts: SpawnOptions,
  ) {
    this.nodes = nodes;
  }

  /** Starts the nodes and resolves once a leader is elected and every node reports ready. */
  static async start(opts: SpawnOptions): Promise<LocalCluster> {
    if (!Number.isInteger(opts.count) || opts.count < 1 || opts.count > 9) throw new Error('--spawn: 1..9 nodes');
    const dir = fs.mkdtempSync(path.join(opts.dataRoot ?? os.tmpdir(), 'raftq-bench-'));
    const ports = await freePorts(opts.count * 3);
    const nodes: SpawnedNode[] = Array.from({ length: opts.count }, (_, k) => ({
      id: `n${k + 1}`,
      client: `${HOST}:${ports[3 * k]}`,
      peer: `${HOST}:${ports[3 * k + 1]}`,
      http: `${HOST}:${ports[3 * k + 2]}`,
      dataDir: path.join(dir, `n${k + 1}`),
      logPath: path.join(dir, `n${k + 1}.log`),
      child: null,
      starts: 0,
    }));
    const cluster = new LocalCluster(dir, nodes, opts);
    installExitHook();
    live.add(cluster);
    try {
      for (const node of nodes) cluster.launch(node);
      await cluster.waitReady(READY_TIMEOUT_MS);
    } catch (error) {
      await cluster.stop();
      throw error;
    }
    return cluster;
  }

  get clientAddresses(): string[] {
    return this.nodes.map((n) => n.client);
  }

  node(id: string): SpawnedNode {
    const node = this.nodes.find((n) => n.id === id);
    if (!node) throw new Error(`no spawned node ${id}`);
    return node;
  }

  private launch(node: SpawnedNode): void {
    const peers = this.nodes.filter((p) => p.id !== node.id).map((p) => `${p.id}=${p.peer}`).join(',');
    // --peers always, even empty: without it a node named n1..n3 assumes the default local cluster.
    const nodeFlags = ['node', '--id', node.id, '--listen', node.client, '--peer-listen', node.peer, '--http', node.http, '--peers', peers, '--data-dir', node.dataDir, '--log-level', this.opts.logLevel ?? 'warn'];
    nodeFlags.push(...(this.opts.nodeArgs ?? []));
    const v8Flags: string[] = [];
    if (this.opts.cpuProfDir) {
      fs.mkdirSync(this.opts.cpuProfDir, { recursive: true });
      const name = `${this.opts.label ?? 'bench'}-${node.id}-${Date.now()}-${node.starts}.cpuprofile`;
      v8Flags.push('--cpu-prof', '--cpu-prof-dir', this.opts.cpuProfDir, '--cpu-prof-name', name);
    }
    const log = fs.openSync(node.logPath, 'a');
    const child = spawn(process.execPath, [...NODE_V8_FLAGS, ...v8Flags, MAIN, ...nodeFlags], { stdio: ['ignore', log, log] });
    fs.closeSync(log);
    node.child = child;
    node.starts += 1;
    child.on('exit', () => {
      if (node.child === child) node.child = null;
    });
  }

  /** GET /ready on every running node until all answer 200 and agree on a leader. */
  async waitReady(timeoutMs: number): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer yet';
    while (Date.now() < deadline) {
      const running = this.nodes.filter((n) => n.child !== null);
      const reports = await Promise.all(running.map((n) => readyReport(n.http)));
      const leaders = new Set(reports.map((r) => r?.leader ?? null));
      if (reports.length > 0 && reports.every((r) => r?.ok === true) && leaders.size === 1 && !leaders.has(null)) return [...leaders][0]!;
      last = reports.map((r, i) => `${running[i]!.id}: ${r ? (r.ok ? `ready, leader ${r.leader}` : r.reasons.join('; ')) : 'down'}`).join(', ');
      for (const node of this.nodes) if (node.child === null && node.starts > 0 && !this.stopped) this.throwIfCrashed(node);
      await sleep(50);
    }
    throw new Error(`cluster not ready within ${timeoutMs} ms (${last}); logs in ${this.dir}`);
  }

  private throwIfCrashed(node: SpawnedNode): void {
    throw new Error(`node ${node.id} exited while starting; last log lines:\n${tail(node.logPath, 20)}`);
  }

  /** The leader as the first node that answers /ready knows it (never `exceptId`); null during an election. */
  async leader(exceptId?: string): Promise<string | null> {
    for (const node of this.nodes) {
      if (node.child === null || node.id === exceptId) continue;
      const report = await readyReport(node.http);
      if (report?.leader && report.leader !== exceptId) return report.leader;
    }
    return null;
  }

  /** SIGKILL: no goodbye, no flush, no CPU profile. */
  kill(id: string): void {
    const node = this.node(id);
    node.child?.kill('SIGKILL');
  }

  async waitExited(id: string, timeoutMs = 5_000): Promise<void> {
    const node = this.node(id);
    const deadline = Date.now() + timeoutMs;
    while (node.child !== null && Date.now() < deadline) await sleep(10);
    if (node.child !== null) throw new Error(`node ${id} did not exit within ${timeoutMs} ms`);
  }

  /** Starts a node that was killed, with the same ports and data directory. */
  restart(id: string): void {
    const node = this.node(id);
    if (node.child !== null) throw new Error(`node ${id} is still running`);
    this.launch(node);
  }

  /** VmRSS of each node process in MB (null when not running or unreadable). */
  rssMb(): Record<string, number | null> {
    const out: Record<string, number | null> = {};
    for (const node of this.nodes) out[node.id] = node.child?.pid !== undefined ? vmRssMb(node.child.pid) : null;
    return out;
  }

  /**
   * Waits until every running node has been near idle (under QUIET_CPU_SHARE of a CPU) for one
   * QUIET_WINDOW_MS window, or `timeoutMs` passed; resolves with the seconds waited. After a large
   * prefill the nodes still apply its tail and snapshot the state it built (a few µs per job, seconds
   * at a million jobs): a measurement started at once would measure that too.
   */
  async waitQuiet(timeoutMs: number): Promise<number> {
    const startedMs = Date.now();
    while (Date.now() - startedMs < timeoutMs) {
      const before = this.counters();
      await sleep(QUIET_WINDOW_MS);
      const after = this.counters();
      const busiest = Math.max(0, ...Object.entries(after).map(([id, a]) => (a && before[id] ? a.cpuMs - before[id]!.cpuMs : 0)));
      if (busiest < QUIET_CPU_SHARE * QUIET_WINDOW_MS) break;
    }
    return (Date.now() - startedMs) / 1000;
  }

  /** CPU time and syscall counts of each running node, to turn into per-job costs. */
  counters(): Record<string, ProcCounters | null> {
    const out: Record<string, ProcCounters | null> = {};
    for (const node of this.nodes) out[node.id] = node.child?.pid !== undefined ? procCounters(node.child.pid) : null;
    return out;
  }

  pids(): Record<string, number | null> {
    return Object.fromEntries(this.nodes.map((n) => [n.id, n.child?.pid ?? null]));
  }

  /** SIGTERM every node (a graceful exit writes CPU profiles), SIGKILL stragglers, remove the data. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const node of this.nodes) node.child?.kill('SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (this.nodes.some((n) => n.child !== null) && Date.now() < deadline) await sleep(20);
    this.killAllSync();
    while (this.nodes.some((n) => n.child !== null)) await sleep(10);
    live.delete(this);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** Synchronous, for process 'exit': SIGKILL by PID and remove the temp directory. */
  killAllSync(): void {
    for (const node of this.nodes) {
      const pid = node.child?.pid;
      if (pid === undefined) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (!live.has(this)) return;
    try {
      fs.rmSync(this.dir, { recursive: true, force: true });
    } catch {
      // best effort at exit
    }
  }
}

async function readyReport(http: string): Promise<ReadyReport | null> {
  try {
    const res = await fetch(`http://${http}/ready`, { signal: AbortSignal.timeout(1_000) });
    const body = (await res.json()) as Partial<ReadyReport>;
    return { ok: res.status === 200 && body.ok === true, leader: typeof body.leader === 'string' ? body.leader : null, reasons: Array.isArray(body.reasons) ? body.reasons : [] };
  } catch {
    return null;
  }
}

export interface ProcCounters {
  /** User + system CPU time. */
  cpuMs: number;
  /** read/write-family system calls (socket and file): /proc/<pid>/io syscr, syscw. */
  readCalls: number;
  writeCalls: number;
}

const CLOCK_TICKS_PER_SECOND = 100;

/** CPU time from /proc/<pid>/stat and syscall counts from /proc/<pid>/io (Linux); null elsewhere. */
export function procCounters(pid: number): ProcCounters | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
    const io = fs.readFileSync(`/proc/${pid}/io`, 'utf8');
    const field = (name: string): number => Number(new RegExp(`^${name}:\\s+(\\d+)`, 'm').exec(io)?.[1] ?? NaN);
    // After the name: state is field 3, utime 14 and stime 15 (1-based) -> indexes 11 and 12 here.
    return { cpuMs: ((fields[11]! + fields[12]!) * 1000) / CLOCK_TICKS_PER_SECOND, readCalls: field('syscr'), writeCalls: field('syscw') };
  } catch {
    return null;
  }
}

/** Resident set size from /proc/<pid>/status (Linux); null elsewhere or when the process is gone. */
export function vmRssMb(pid: number): number | null {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return match ? Math.round((Number(match[1]) / 1024) * 10) / 10 : null;
  } catch {
    return null;
  }
}

/**
 * `count` distinct free loopback ports: all are held open together, then released, so two of
 * them can never be the same port (another process may still take one before we bind it).
 */
export async function freePorts(count: number): Promise<number[]> {
  const servers: net.Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = net.createServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, HOST, () => resolve());
      });
      servers.push(server);
    }
    return servers.map((s) => (s.address() as net.AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

export function tail(file: string, lines: number): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
