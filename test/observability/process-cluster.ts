// Real `raftq node` processes on loopback for the observability tests: free ports, a temp data
// directory, bounded log capture for failure messages, and cleanup that kills by PID even when a
// test fails (and on process exit, should the test worker die first).

import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { NODE_V8_FLAGS } from '../../src/node-flags.js';

const MAIN_JS = fileURLToPath(new URL('../../dist/cluster/main.js', import.meta.url));
/** Log lines kept per node, for the message of a failing test. */
const LOG_LINES_MAX = 300;
/** After SIGTERM, how long a node may take to stop before SIGKILL. */
const STOP_GRACE_MS = 3_000;

const livePids = new Set<number>();
process.on('exit', () => {
  for (const pid of livePids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

/** Polls `probe` until it returns a value (not null/undefined/false), or fails after timeoutMs. */
export async function until<T>(what: string, probe: () => Promise<T | null | undefined | false> | T | null | undefined | false, timeoutMs = 15_000, intervalMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null && value !== undefined && value !== false) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() >= deadline) {
      const why = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${why}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Ports the kernel just handed out: all servers are bound at once, so the ports are distinct. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from({ length: count }, () => new Promise<net.Server>((resolve, reject) => {
      const server = net.createServer();
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve(server));
    })),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

export interface NodeSpec {
  id: string;
  client: string;
  peer: string;
  http: string;
}

export class NodeProcess {
  readonly logs: string[] = [];
  exited = false;

  constructor(readonly spec: NodeSpec, readonly child: ChildProcess) {
    const capture = (chunk: Buffer): void => {
      for (const line of chunk.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        this.logs.push(line);
        if (this.logs.length > LOG_LINES_MAX) this.logs.shift();
      }
    };
    child.stdout?.on('data', capture);
    child.stderr?.on('data', capture);
    child.once('exit', () => {
      this.exited = true;
      if (child.pid !== undefined) livePids.delete(child.pid);
    });
  }

  get id(): string {
    return this.spec.id;
  }

  get pid(): number {
    return this.child.pid!;
  }

  url(pathname: string): string {
    return `http://${this.spec.http}${pathname}`;
  }

  async getJson<T>(pathname: string): Promise<T> {
    const res = await fetch(this.url(pathname), { signal: AbortSignal.timeout(2_000) });
    const body = (await res.json()) as T;
    if (!res.ok) throw new Error(`GET ${pathname} on ${this.id}: ${res.status} ${JSON.stringify(body)}`);
    return body;
  }

  async getText(pathname: string): Promise<{ status: number; contentType: string; body: string }> {
    const res = await fetch(this.url(pathname), { signal: AbortSignal.timeout(2_000) });
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: await res.text() };
  }

  kill(signal: NodeJS.Signals): void {
    if (this.exited) return;
    try {
      process.kill(this.pid, signal);
    } catch {
      // already gone
    }
  }

  async stop(): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()));
    this.kill('SIGTERM');
    const timer = setTimeout(() => this.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(timer);
  }
}

export class ProcessCluster {
  private constructor(
    readonly nodes: NodeProcess[],
    readonly dataDir: string,
  ) {}

  static async start(size = 3, extraArgs: string[] = []): Promise<ProcessCluster> {
    if (!fs.existsSync(MAIN_JS)) throw new Error(`${MAIN_JS} is missing: build first (npx tsc -p tsconfig.json)`);
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'raftq-obs-'));
    const ports = await freePorts(size * 3);
    const specs: NodeSpec[] = Array.from({ length: size }, (_, i) => ({
      id: `n${i + 1}`,
      client: `127.0.0.1:${ports[i * 3]}`,
      peer: `127.0.0.1:${ports[i * 3 + 1]}`,
      http: `127.0.0.1:${ports[i * 3 + 2]}`,
    }));
    const nodes = specs.map((spec) => {
      const peers = specs.filter((s) => s.id !== spec.id).map((s) => `${s.id}=${s.peer}`).join(',');
      const args = [MAIN_JS, 'node', '--id', spec.id, '--listen', spec.client, '--peer-listen', spec.peer, '--http', spec.http, '--peers', peers, '--data-dir', path.join(dataDir, spec.id), ...extraArgs];
      const child = spawn(process.execPath, [...NODE_V8_FLAGS, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, RAFTQ_LOG_LEVEL: process.env.RAFTQ_LOG_LEVEL ?? 'info' } });
      if (child.pid !== undefined) livePids.add(child.pid);
      return new NodeProcess(spec, child);
    });
    return new ProcessCluster(nodes, dataDir);
  }

  get clientAddrs(): string[] {
    return this.nodes.map((n) => n.spec.client);
  }

  node(id: string): NodeProcess {
    const n = this.nodes.find((x) => x.id === id);
    if (!n) throw new Error(`no node ${id}`);
    return n;
  }

  live(): NodeProcess[] {
    return this.nodes.filter((n) => !n.exited);
  }

  /** The leader every live node agrees on, once each of them is ready. */
  async waitForLeader(timeoutMs = 15_000): Promise<string> {
    return this.explained(until('a leader that every live node is ready under', async () => {
      const reports = await Promise.all(this.live().map((n) => n.getJson<{ ok: boolean; leader: string | null }>('/ready').catch(() => null)));
      if (reports.some((r) => r === null || !r.ok)) return null;
      const leaders = new Set(reports.map((r) => r!.leader));
      return leaders.size === 1 ? [...leaders][0] : null;
    }, timeoutMs));
  }

  /** Adds the nodes' recent logs to a failure. */
  async explained<T>(work: Promise<T>): Promise<T> {
    try {
      return await work;
    } catch (error) {
      throw new Error(`${(error as Error).message}\n${this.logs()}`);
    }
  }

  /** Every node's recent log lines, for an assertion message. */
  logs(): string {
    return this.nodes.map((n) => `--- ${n.id} (pid ${n.pid}${n.exited ? ', exited' : ''})\n${n.logs.slice(-40).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.allSettled(this.nodes.map((n) => n.stop()));
    fs.rmSync(this.dataDir, { recursive: true, force: true });
  }
}
