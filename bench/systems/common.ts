// What every system in the side-by-side comparison offers, and the plumbing they share: server
// processes started on free loopback ports in temp directories and always ended by PID.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Percentiles } from '../../cluster/bench/histogram.js';

export interface ThroughputFigure {
  jobsPerSec: number;
  seconds: number;
  /** Latency of one operation (submit, batch, or handler start → ack). */
  latencyMs: Percentiles;
}

export interface LatencyFigure {
  rate: number;
  /** Submit call → handler start. */
  startMs: Percentiles;
  /** Submit call → ack confirmed. */
  ackMs: Percentiles;
}

/** The same four workloads on every system. */
export interface System {
  readonly key: string;
  readonly label: string;
  /** Versions and settings, for the report. */
  describe(): Record<string, string>;
  start(): Promise<void>;
  stop(): Promise<void>;
  enqueue(jobs: number, concurrency: number): Promise<ThroughputFigure>;
  enqueueBatch(jobs: number, batch: number, concurrency: number): Promise<ThroughputFigure>;
  process(jobs: number, concurrency: number): Promise<ThroughputFigure>;
  latency(rate: number, durationS: number, concurrency: number): Promise<LatencyFigure>;
}

/** A counting semaphore: bounds how many handlers run at once where a client library does not. */
export class Semaphore {
  private waiters: (() => void)[] = [];
  constructor(private free: number) {}

  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free -= 1;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free += 1;
  }
}

const children = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Starts a server process with its output in `logPath`; it is SIGKILLed if we exit without stopping it. */
export function startServer(command: string, args: string[], logPath: string): ChildProcess {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const child of children) if (child.pid !== undefined && child.exitCode === null) child.kill('SIGKILL');
    });
  }
  const log = fs.openSync(logPath, 'a');
  const child = spawn(command, args, { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  children.add(child);
  child.on('exit', () => children.delete(child));
  return child;
}

/** SIGTERM, wait up to graceMs, then SIGKILL; resolves when the process is gone. */
export async function stopServer(child: ChildProcess, graceMs = 10_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Resolves once something accepts TCP connections on 127.0.0.1:port. */
export async function waitForPort(port: number, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await sleep(50);
  }
  throw new Error(`${what} did not listen on 127.0.0.1:${port} within ${timeoutMs} ms`);
}

/** The first line a command prints for --version (null when it is not installed). */
export function commandVersion(command: string, args: string[] = ['--version']): string | null {
  const r = spawnSync(command, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) return null;
  return `${r.stdout}${r.stderr}`.trim().split('\n')[0] ?? null;
}

export function packageVersion(name: string): string {
  const file = path.join(process.cwd(), 'node_modules', name, 'package.json');
  try {
    return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Finds a Debian server binary on PATH or in /usr/sbin (nats-server lives there). */
export function findBinary(name: string): string | null {
  for (const dir of [...(process.env['PATH'] ?? '').split(':'), '/usr/sbin', '/usr/bin', '/usr/local/bin']) {
    const file = path.join(dir, name);
    try {
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}
