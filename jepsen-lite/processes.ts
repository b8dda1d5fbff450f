// Real `raftq node` processes on loopback, for integration tests and jepsen-lite: free ports, a
// temp data directory and a log file per node, kill -9 / SIGTERM, restart on the same ports and
// data, pause (SIGSTOP), fresh nodes that join, membership changes, and the state hash of every
// node. Every process is ended by PID: stopAll() in the caller's cleanup, and a process 'exit'
// hook that SIGKILLs whatever is left when the runner dies first. Every wait polls a condition
// until a deadline; a failed wait throws with the tail of every node's log.

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { Transport, type CallFields } from '../src/client/transport.js';
import { RaftqError } from '../src/errors.js';
import { NODE_V8_FLAGS } from '../src/node-flags.js';
import type { ClusterStatus, NodeAddresses, Op, OpResults } from '../src/protocol/messages.js';

/** How long a spawned node may take to serve /health. */
export const NODE_START_TIMEOUT_MS = 20_000;
/** How long a node may take to exit after SIGTERM (SIGKILL is immediate). */
export const NODE_STOP_TIMEOUT_MS = 10_000;
/** One admin request (clusterStatus, stateHash, ...) to one node. */
export const ADMIN_REQUEST_TIMEOUT_MS = 2_000;
/** Between two probes of a polled condition. */
export const POLL_INTERVAL_MS = 50;
/** Lines of each node's log quoted in an error. */
export const LOG_TAIL_LINES = 30;
/** Attempts at a first start whose ports another process took between our probe and the node's bind. */
const START_ATTEMPTS_MAX = 3;
const PORT_PROBES_MAX = 100;
/** The default node ports (7001..7003, 7101..7103, 8001..8003) and their neighbours are never handed out. */
const DEFAULT_PORTS_AVOIDED = { min: 7000, max: 8999 } as const;
const HOST = '127.0.0.1';

export type StopSignal = 'SIGKILL' | 'SIGTERM';
export type NodeState = 'running' | 'paused' | 'stopped';

export interface ProcessClusterOptions {
  /** Ids of the nodes that bootstrap the cluster together. Default n1..n<size>. */
  ids?: string[];
  /** Default 3; ignored when `ids` is given. */
  size?: number;
  /** Where data directories and logs go. Default: a fresh directory under the OS temp dir. */
  runDir?: string;
  /** `--log-level` of every node. Default 'warn'. */
  logLevel?: string;
  /** Extra `raftq node` flags for every node, e.g. ['--snapshot-every', '500']. */
  nodeArgs?: string[];
  /** Extra flags for one node (after `nodeArgs`, so they win). */
  nodeArgsById?: Record<string, string[]>;
  /**
   * The peer address node `from` dials to reach node `to` (its `--peers` entry). Default: `to`'s
   * own peer listener. A proxy layer returns a Toxiproxy listener here; it is asked again at
   * every (re)start. Nodes added later are dialled by the others at the address given to
   * addNode (their own listener) unless those others restart.
   */
  dialAddress?: (from: string, to: string, direct: string) => string;
  /** Extra environment of every node (RAFTQ_* of the caller's environment are never passed on). */
  env?: Record<string, string>;
  /** The `raftq` entry point. Default: dist/cluster/main.js of this repository. */
  mainPath?: string;
  startTimeoutMs?: number;
  /** Keep the run directory after stopAll (default: removed, unless RAFTQ_KEEP_RUN_DIR=1). */
  keepRunDir?: boolean;
}

export interface NodeInfo {
  readonly id: string;
  readonly clientAddr: string;
  readonly peerAddr: string;
  readonly httpAddr: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly state: NodeState;
  readonly pid: number | null;
  /** Times this node was spawned. */
  readonly starts: number;
}

export interface StateHash {
  appliedIndex: number;
  hash: string;
}

/** A node that exited without being told to (crash, failed start). */
export interface UnexpectedExit {
  id: string;
  pid: number;
  code: number | null;
  signal: NodeJS.Signals | null;
}

interface NodeRecord {
  id: string;
  ports: { client: number; peer: number; http: number };
  dataDir: string;
  logFile: string;
  join: boolean;
  state: NodeState;
  child: ChildProcess | null;
  exited: Promise<void>;
  /** Set before we signal the process, so its exit is not reported as unexpected. */
  stopRequested: boolean;
  starts: number;
}

// ------------------------------------------------------------------ safety net

/** PIDs of every node process this module started and has not seen exit, across all clusters. */
const LIVE_PIDS = new Set<number>();
let exitHookInstalled = false;

function killLeftovers(): void {
  for (const pid of LIVE_PIDS) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // 'exit' handlers run synchronously: kill is all we can do, and all we need.
  process.on('exit', killLeftovers);
  // A signal's default action skips 'exit' handlers. When nobody else handles the signal, kill the
  // nodes and die of it as we would have; when someone does (a CLI stopping gracefully), let them.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      if (process.listenerCount(signal) > 1) return;
      killLeftovers();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);
    };
    process.on(signal, onSignal);
  }
}

// ------------------------------------------------------------------ ports, paths, waits

/** Ports handed out by this process, so two nodes never get the same one from the kernel. */
const HANDED_OUT = new Set<number>();

function probePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** A port nothing listens on now: bind port 0, read it, close. The node binds it a moment later. */
export async function freePort(): Promise<number> {
  for (let i = 0; i < PORT_PROBES_MAX; i++) {
    const port = await probePort();
    if (HANDED_OUT.has(port) || (port >= DEFAULT_PORTS_AVOIDED.min && port <= DEFAULT_PORTS_AVOIDED.max)) continue;
    HANDED_OUT.add(port);
    return port;
  }
  throw new Error(`no free port after ${PORT_PROBES_MAX} probes`);
}

/** The repository root: the nearest ancestor with a package.json (works from the source and from dist/). */
export function repoRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (fs.existsSync(path.join(dir, 'package.json'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`no package.json above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** dist/cluster/main.js, or an error that says how to build it. */
export function builtMainPath(): string {
  const main = path.join(repoRoot(), 'dist', 'cluster', 'main.js');
  if (!fs.existsSync(main)) {
    throw new Error(`${main} is missing: multi-process tests run the built node. Build first: \`npx tsc -p tsconfig.json\` (\`npm test\` does it).`);
  }
  return main;
}

/** Thrown by a probe to end a wait at once: the condition can no longer come true. */
export class WaitAborted extends Error {}

/**
 * Polls `probe` every POLL_INTERVAL_MS until it returns a value other than null/undefined/false,
 * and returns that value. A probe that throws counts as "not yet" (its message is kept for the
 * timeout error), except WaitAborted, which ends the wait. Throws after timeoutMs.
 */
export async function waitUntil<T>(what: string, timeoutMs: number, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, intervalMs = POLL_INTERVAL_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last = 'the condition never held';
  for (;;) {
    try {
      const value = await probe();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      if (error instanceof WaitAborted) throw error;
      last = `last probe failed: ${(error as Error).message}`;
    }
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${last})`);
    await sleep(intervalMs);
  }
}

function tailOf(file: string, lines: number): string {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return '(no log)';
  }
  return text.split('\n').filter((l) => l.length > 0).slice(-lines).join('\n');
}

function nodeEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // A developer's RAFTQ_JOIN or RAFTQ_PEERS must not change what the harness asked for.
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('RAFTQ_')) env[key] = value;
  return { ...env, ...extra };
}

// ------------------------------------------------------------------ the cluster

export class ProcessCluster {
  readonly runDir: string;
  private readonly nodes = new Map<string, NodeRecord>();
  /** Voters as far as this harness changed them (bootstrap ids, then addNode/removeNode). */
  private readonly members = new Set<string>();
  private readonly unexpected: UnexpectedExit[] = [];
  private readonly exitListeners = new Set<(exit: UnexpectedExit) => void>();
  private readonly mainPath: string;
  private readonly options: ProcessClusterOptions;
  private stopped = false;

  private constructor(options: ProcessClusterOptions, runDir: string, mainPath: string) {
    this.options = options;
    this.runDir = runDir;
    this.mainPath = mainPath;
  }

  /** Allocates ports and directories for the bootstrap nodes and starts them. */
  static async start(options: ProcessClusterOptions = {}): Promise<ProcessCluster> {
    const mainPath = options.mainPath ?? builtMainPath();
    const runDir = options.runDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-cluster-'));
    fs.mkdirSync(runDir, { recursive: true });
    installExitHook();
    const cluster = new ProcessCluster(options, runDir, mainPath);
    const ids = options.ids ?? Array.from({ length: options.size ?? 3 }, (_, i) => `n${i + 1}`);
    try {
      await cluster.bootstrap(ids);
    } catch (error) {
      // The caller never gets the cluster to stop: clean up here (the error quotes the logs).
      await cluster.stopAll();
      throw error;
    }
    return cluster;
  }

  // ---------------------------------------------------------------- lifecycle

  private async bootstrap(ids: string[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      for (const id of ids) {
        this.nodes.set(id, await this.newRecord(id, false));
        this.members.add(id);
      }
      for (const id of ids) this.spawnNode(this.record(id));
      try {
        await Promise.all(ids.map((id) => this.waitUp(id)));
        return;
      } catch (error) {
        // Another process may have bound one of our probed ports before the node did: start over on new ones.
        const portTaken = ids.some((id) => tailOf(this.record(id).logFile, LOG_TAIL_LINES).includes('EADDRINUSE'));
        await this.killAll();
        if (!portTaken || attempt >= START_ATTEMPTS_MAX) throw error;
        for (const id of ids) fs.rmSync(this.record(id).dataDir, { recursive: true, force: true });
        this.unexpected.length = 0;
      }
    }
  }

  private async newRecord(id: string, join: boolean): Promise<NodeRecord> {
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(id)) throw new Error(`bad node id "${id}"`);
    const ports = { client: await freePort(), peer: await freePort(), http: await freePort() };
    return {
      id,
      ports,
      dataDir: fs.mkdtempSync(path.join(this.runDir, `${id}-data-`)),
      logFile: path.join(this.runDir, `${id}.log`),
      join,
      state: 'stopped',
      child: null,
      exited: Promise.resolve(),
      stopRequested: false,
      starts: 0,
    };
  }

  private args(node: NodeRecord): string[] {
    const peers = [...this.members]
      .filter((id) => id !== node.id && this.nodes.has(id))
      .sort()
      .map((id) => {
        const direct = `${HOST}:${this.record(id).ports.peer}`;
        return `${id}=${this.options.dialAddress?.(node.id, id, direct) ?? direct}`;
      })
      .join(',');
    const args = [
      this.mainPath, 'node',
      '--id', node.id,
      '--listen', `${HOST}:${node.ports.client}`,
      '--peer-listen', `${HOST}:${node.ports.peer}`,
      '--http', `${HOST}:${node.ports.http}`,
      '--data-dir', node.dataDir,
      '--log-level', this.options.logLevel ?? 'warn',
      // Always given, even empty: without it a node named n1..n3 would assume the default local cluster.
      '--peers', peers,
    ];
    if (node.join) args.push('--join');
    args.push(...(this.options.nodeArgs ?? []), ...(this.options.nodeArgsById?.[node.id] ?? []));
    return args;
  }

  private spawnNode(node: NodeRecord): void {
    if (this.stopped) throw new Error('the cluster was stopped');
    if (node.state !== 'stopped') throw new Error(`${node.id} is ${node.state}; stop it before starting it again`);
    const args = this.args(node);
    node.starts++;
    fs.appendFileSync(node.logFile, `=== ${new Date().toISOString()} start #${node.starts}: node ${args.slice(1).map((a) => (a === '' ? "''" : a)).join(' ')}\n`);
    const fd = fs.openSync(node.logFile, 'a');
    let child: ChildProcess;
    try {
      // Straight into the file: a paused test process never blocks a node on a full pipe.
      child = spawn(process.execPath, [...NODE_V8_FLAGS, ...args], { stdio: ['ignore', fd, fd], env: nodeEnv(this.options.env ?? {}) });
    } finally {
      fs.closeSync(fd);
    }
    // Without a listener, a failed spawn ('error' without 'exit') would crash the caller.
    child.on('error', (error) => fs.appendFileSync(node.logFile, `=== spawn error: ${error.message}\n`));
    const pid = child.pid;
    if (pid === undefined) throw new Error(`could not spawn ${node.id}: see ${node.logFile}`);
    LIVE_PIDS.add(pid);
    node.child = child;
    node.state = 'running';
    node.stopRequested = false;
    node.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        LIVE_PIDS.delete(pid);
        if (node.child === child) {
          node.child = null;
          node.state = 'stopped';
        }
        fs.appendFileSync(node.logFile, `=== ${new Date().toISOString()} pid ${pid} exited (${signal ?? `code ${code}`})\n`);
        if (!node.stopRequested) {
          const exit: UnexpectedExit = { id: node.id, pid, code, signal };
          this.unexpected.push(exit);
          for (const listener of this.exitListeners) listener(exit);
        }
        resolve();
      });
    });
  }

  /** Resolves once the node serves /health; throws (with its log) if it exits or the deadline passes. */
  private async waitUp(id: string): Promise<void> {
    const node = this.record(id);
    const child = node.child;
    const url = `http://${HOST}:${node.ports.http}/health`;
    try {
      await waitUntil(`${id} to serve ${url}`, this.options.startTimeoutMs ?? NODE_START_TIMEOUT_MS, async () => {
        if (node.child !== child || child === null) throw new WaitAborted(`${id} exited during start`);
        const res = await fetch(url, { signal: AbortSignal.timeout(ADMIN_REQUEST_TIMEOUT_MS) });
        await res.body?.cancel();
        return res.ok;
      });
    } catch (error) {
      throw this.failure(`${id} did not start: ${(error as Error).message}`);
    }
  }

  /** Ends a node: SIGKILL (a crash) or SIGTERM (graceful; SIGKILL after NODE_STOP_TIMEOUT_MS, and an error). */
  async kill(id: string, signal: StopSignal = 'SIGKILL'): Promise<void> {
    const node = this.record(id);
    const child = node.child;
    if (child === null) return;
    node.stopRequested = true;
    child.kill(signal);
    // A stopped process only handles SIGTERM once it runs again.
    if (node.state === 'paused' && signal === 'SIGTERM') child.kill('SIGCONT');
    const exited = await Promise.race([node.exited.then(() => true), sleep(NODE_STOP_TIMEOUT_MS).then(() => false)]);
    if (exited) return;
    child.kill('SIGKILL');
    await node.exited;
    throw this.failure(`${id} (pid ${child.pid}) did not exit within ${NODE_STOP_TIMEOUT_MS} ms of ${signal}; killed it`);
  }

  /** Starts a stopped node again: same id, ports, data directory and flags. Resolves once it serves. */
  async restart(id: string): Promise<void> {
    const node = this.record(id);
    this.spawnNode(node);
    await this.waitUp(id);
  }

  /** SIGSTOP: the node stops dead (no ticks, no answers) while its sockets stay open. */
  pause(id: string): void {
    const node = this.record(id);
    if (node.state !== 'running' || node.child === null) throw new Error(`${id} is ${node.state}, not running`);
    node.child.kill('SIGSTOP');
    node.state = 'paused';
  }

  resume(id: string): void {
    const node = this.record(id);
    if (node.state !== 'paused' || node.child === null) throw new Error(`${id} is ${node.state}, not paused`);
    node.child.kill('SIGCONT');
    node.state = 'running';
  }

  /**
   * Starts a fresh node with `--join` (waiting to be added) and the current members as --peers;
   * returns the addresses to pass to addNode. An id seen before keeps its ports (the other nodes'
   * --peers name them) but gets an empty data directory: a wiped node.
   */
  async startJoining(id: string): Promise<NodeAddresses> {
    const known = this.nodes.get(id);
    if (known && known.state !== 'stopped') throw new Error(`${id} is ${known.state}; kill it before it joins again`);
    if (this.members.has(id)) throw new Error(`${id} is still a member; remove it first`);
    let node: NodeRecord;
    if (known) {
      fs.rmSync(known.dataDir, { recursive: true, force: true });
      node = { ...known, dataDir: fs.mkdtempSync(path.join(this.runDir, `${id}-data-`)), join: true };
    } else {
      node = await this.newRecord(id, true);
    }
    this.nodes.set(id, node);
    this.spawnNode(node);
    await this.waitUp(id);
    return this.addresses(id);
  }

  /** Ends every process by PID (SIGKILL) and removes the run directory. Never throws; call it in cleanup. */
  async stopAll(): Promise<void> {
    if (this.stopped) return;
    await this.killAll();
    this.stopped = true;
    if (!(this.options.keepRunDir ?? process.env.RAFTQ_KEEP_RUN_DIR === '1')) {
      try {
        fs.rmSync(this.runDir, { recursive: true, force: true, maxRetries: 3 });
      } catch {
        // a leftover temp directory is not worth failing a cleanup for
      }
    }
  }

  private async killAll(): Promise<void> {
    const exits: Promise<void>[] = [];
    for (const node of this.nodes.values()) {
      if (node.child === null) continue;
      node.stopRequested = true;
      node.child.kill('SIGKILL');
      exits.push(node.exited);
    }
    await Promise.race([Promise.all(exits), sleep(NODE_STOP_TIMEOUT_MS)]);
  }

  // ---------------------------------------------------------------- membership

  /** Adds a node started with startJoining as a voter (through the leader); resolves once committed. */
  async addNode(id: string, timeoutMs = 20_000): Promise<void> {
    const a = this.addresses(id);
    await this.onLeader(`add ${id}`, timeoutMs, 'addNode', { nodeId: id, peerAddr: a.peerAddr, clientAddr: a.clientAddr, httpAddr: a.httpAddr }, /already a voter/);
    this.members.add(id);
  }

  /** Removes a voter (the leader too: it steps down); resolves once committed. The process keeps running. */
  async removeNode(id: string, timeoutMs = 20_000): Promise<void> {
    await this.onLeader(`remove ${id}`, timeoutMs, 'removeNode', { nodeId: id }, /no voter named/);
    this.members.delete(id);
  }

  /** Moves leadership to `to` (through the current leader); resolves once `to` leads. */
  async transferLeader(to: string, timeoutMs = 20_000): Promise<void> {
    await this.onLeader(`transfer leadership to ${to}`, timeoutMs, 'transferLeader', { to }, null);
  }

  /**
   * Sends an admin op to the current leader, retrying retryable failures until the deadline. When
   * an earlier try's outcome is unknown, an error matching `doneOnRetry` means that try applied.
   */
  private async onLeader<O extends 'addNode' | 'removeNode' | 'transferLeader'>(what: string, timeoutMs: number, op: O, fields: CallFields<O>, doneOnRetry: RegExp | null): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let outcomeUnknown = false;
    for (;;) {
      const leader = await this.waitForLeader(Math.max(1, deadline - Date.now()));
      try {
        await this.call(leader, op, fields, Math.max(ADMIN_REQUEST_TIMEOUT_MS, deadline - Date.now()));
        return;
      } catch (error) {
        const e = error instanceof RaftqError ? error : null;
        if (e !== null && outcomeUnknown && doneOnRetry?.test(e.message)) return;
        if (!e?.retryable || Date.now() >= deadline) throw this.failure(`${what} failed: ${(error as Error).message}`);
        outcomeUnknown = true;
        await sleep(POLL_INTERVAL_MS * 4);
      }
    }
  }

  // ---------------------------------------------------------------- observing

  /** One admin request to one node, no retries. */
  async call<O extends Op>(id: string, op: O, fields: CallFields<O>, timeoutMs = ADMIN_REQUEST_TIMEOUT_MS): Promise<OpResults[O]> {
    const transport = new Transport({ nodes: [this.addresses(id).clientAddr], requestTimeoutMs: timeoutMs, retry: { attempts: 1 } });
    try {
      return await transport.call(op, fields);
    } finally {
      await transport.close();
    }
  }

  status(id: string): Promise<ClusterStatus> {
    return this.call(id, 'clusterStatus', {});
  }

  /**
   * The leader, as the running members see it now: a node that says it leads, in a term no other
   * answering node has passed (a deposed leader that has not heard the news is not it). Null
   * during an election.
   */
  async leader(): Promise<string | null> {
    const answers = await Promise.all(this.liveMembers().map((id) => this.status(id).catch(() => null)));
    let termMax = -1;
    let claimant: ClusterStatus | null = null;
    for (const s of answers) {
      if (s === null) continue;
      termMax = Math.max(termMax, s.term);
      if (s.leader === s.nodeId && (claimant === null || s.term > claimant.term)) claimant = s;
    }
    return claimant !== null && claimant.term === termMax ? claimant.nodeId : null;
  }

  /** Polls until a leader is known (optionally: not `excluding`, e.g. the one just killed). */
  async waitForLeader(timeoutMs = 15_000, options: { excluding?: string } = {}): Promise<string> {
    try {
      return await waitUntil('a leader', timeoutMs, async () => {
        const leader = await this.leader();
        return leader !== null && leader !== options.excluding ? leader : null;
      });
    } catch (error) {
      throw this.failure((error as Error).message);
    }
  }

  /**
   * The stateHash of every given node (default: the running members), taken when they all report
   * the same applied index; retried until then, or throws at the deadline with what they said.
   */
  async stateHashes(timeoutMs = 15_000, ids: string[] = this.liveMembers()): Promise<Map<string, StateHash>> {
    let last = '';
    try {
      return await waitUntil('equal applied indexes', timeoutMs, async () => {
        const answers = await Promise.all(ids.map(async (id) => [id, await this.call(id, 'stateHash', {})] as const));
        last = answers.map(([id, h]) => `${id}@${h.appliedIndex}=${h.hash.slice(0, 12)}`).join(' ');
        const indexes = new Set(answers.map(([, h]) => h.appliedIndex));
        return indexes.size === 1 ? new Map<string, StateHash>(answers.map(([id, h]) => [id, { appliedIndex: h.appliedIndex, hash: h.hash }])) : null;
      });
    } catch (error) {
      throw this.failure(`${(error as Error).message}; last answers: ${last || 'none'}`);
    }
  }

  addresses(id: string): NodeAddresses {
    const { ports } = this.record(id);
    return { id, clientAddr: `${HOST}:${ports.client}`, peerAddr: `${HOST}:${ports.peer}`, httpAddr: `${HOST}:${ports.http}` };
  }

  /** Client addresses of the given nodes (default: every member, running or not), for SDK clients. */
  clientAddresses(ids: string[] = this.memberIds()): string[] {
    return ids.map((id) => this.addresses(id).clientAddr);
  }

  node(id: string): NodeInfo {
    const n = this.record(id);
    const a = this.addresses(id);
    return { id, clientAddr: a.clientAddr, peerAddr: a.peerAddr, httpAddr: a.httpAddr, dataDir: n.dataDir, logFile: n.logFile, state: n.state, pid: n.child?.pid ?? null, starts: n.starts };
  }

  /** Every node this harness started, member or not. */
  ids(): string[] {
    return [...this.nodes.keys()].sort();
  }

  memberIds(): string[] {
    return [...this.members].sort();
  }

  /** Members whose process runs and is not paused: the ones that can answer. */
  liveMembers(): string[] {
    return this.memberIds().filter((id) => this.nodes.get(id)?.state === 'running');
  }

  /** Nodes that exited without being killed by this harness. */
  unexpectedExits(): UnexpectedExit[] {
    return [...this.unexpected];
  }

  /**
   * Calls `listener` at each unexpected exit, as it happens: whoever judges an exit sees the
   * harness as it was then (a poll judged a refused restart after its fault had already replaced
   * the node). Returns the unsubscribe.
   */
  onUnexpectedExit(listener: (exit: UnexpectedExit) => void): () => void {
    this.exitListeners.add(listener);
    return () => this.exitListeners.delete(listener);
  }

  logTail(id: string, lines = LOG_TAIL_LINES): string {
    return tailOf(this.record(id).logFile, lines);
  }

  /** The last lines of every node's log, for error messages. */
  logTails(lines = LOG_TAIL_LINES): string {
    return this.ids()
      .map((id) => `--- ${id} (${this.record(id).state}; ${this.record(id).logFile}) ---\n${this.logTail(id, lines)}`)
      .join('\n');
  }

  /** An Error for a failed wait or step: the message, then every node's log tail and crashes. */
  failure(message: string): Error {
    const crashes = this.unexpected.map((e) => `${e.id} pid ${e.pid} exited (${e.signal ?? `code ${e.code}`})`).join(', ');
    return new Error(`${message}\n${crashes ? `unexpected exits: ${crashes}\n` : ''}run dir: ${this.runDir}\n${this.logTails()}`);
  }

  private record(id: string): NodeRecord {
    const node = this.nodes.get(id);
    if (!node) throw new Error(`no node ${id} in this cluster (have ${this.ids().join(', ')})`);
    return node;
  }
}
