// The live line of a run: elapsed / total, client ops completed per second, the fault in force,
// and ok / fail / info counts. Rewritten in place on a terminal; one line every few seconds
// otherwise (CI logs, redirected batches).

import type { HistoryWriter, Op } from './history.js';

const TTY_EVERY_MS = 500;
const LOG_EVERY_MS = 10_000;

export class Progress {
  private readonly enabled: boolean;
  private readonly totalMs: number;
  private readonly tty: boolean;
  private timer: NodeJS.Timeout | null = null;
  private history: HistoryWriter | null = null;
  private ok = 0;
  private fail = 0;
  private info = 0;
  private completedAtLastTick = 0;
  private lastTickMs = 0;
  private current: string[] = [];
  private phaseName = 'running';

  constructor(enabled: boolean, totalMs: number) {
    this.enabled = enabled;
    this.totalMs = totalMs;
    this.tty = process.stderr.isTTY === true;
  }

  count(op: Op): void {
    if (op.type === 'ok') this.ok++;
    else if (op.type === 'fail') this.fail++;
    else if (op.type === 'info') this.info++;
  }

  faults(names: string[]): void {
    this.current = names;
  }

  phase(name: string): void {
    this.phaseName = name;
    if (this.enabled && !this.tty) this.print();
  }

  start(history: HistoryWriter): void {
    this.history = history;
    if (!this.enabled) return;
    this.lastTickMs = history.now();
    this.timer = setInterval(() => this.print(), this.tty ? TTY_EVERY_MS : LOG_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    if (this.enabled && this.tty) process.stderr.write('\n');
  }

  private print(): void {
    if (!this.history) return;
    const nowMs = this.history.now();
    const completed = this.ok + this.fail + this.info;
    const rate = ((completed - this.completedAtLastTick) * 1000) / Math.max(1, nowMs - this.lastTickMs);
    this.completedAtLastTick = completed;
    this.lastTickMs = nowMs;
    const elapsed = `${(Math.min(nowMs, this.totalMs) / 1000).toFixed(0).padStart(4)}/${(this.totalMs / 1000).toFixed(0)} s`;
    const fault = this.phaseName !== 'running' ? this.phaseName : this.current.length > 0 ? this.current.join('+') : 'none';
    const line = `[${elapsed}] ${rate.toFixed(0).padStart(5)} ops/s  fault: ${fault.padEnd(28)} ok ${this.ok}  fail ${this.fail}  info ${this.info}`;
    process.stderr.write(this.tty ? `\r${line}\x1b[K` : `${line}\n`);
  }
}
