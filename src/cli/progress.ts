// A live progress line for long commands: rate, done/total and ETA, rewritten in place on a TTY,
// a plain line every few seconds otherwise (CI logs, pipes).

export interface ProgressOptions {
  label: string;
  total: number | null;
  unit: string;
  stream?: NodeJS.WriteStream;
  /** Non-TTY: print at most once per this many ms. */
  plainIntervalMs?: number;
}

export class Progress {
  private done = 0;
  private readonly startedMs = Date.now();
  private lastPrintMs = 0;
  private readonly stream: NodeJS.WriteStream;
  private readonly tty: boolean;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly opts: ProgressOptions) {
    this.stream = opts.stream ?? process.stderr;
    this.tty = this.stream.isTTY === true;
    this.timer = setInterval(() => this.render(false), this.tty ? 200 : 1000);
    this.timer.unref();
  }

  add(n = 1): void {
    this.done += n;
  }

  get count(): number {
    return this.done;
  }

  line(): string {
    const elapsedS = Math.max((Date.now() - this.startedMs) / 1000, 0.001);
    const rate = this.done / elapsedS;
    const total = this.opts.total;
    const pct = total ? ` ${((100 * this.done) / total).toFixed(1)}%` : '';
    const eta = total && rate > 0 ? `  ETA ${formatSeconds((total - this.done) / rate)}` : '';
    const of = total !== null ? `/${total}` : '';
    return `${this.opts.label}: ${this.done}${of} ${this.opts.unit}${pct}  ${Math.round(rate).toLocaleString('en-US')} ${this.opts.unit}/s  elapsed ${formatSeconds(elapsedS)}${eta}`;
  }

  private render(final: boolean): void {
    const now = Date.now();
    if (this.tty) {
      this.stream.write(`\r\x1b[2K${this.line()}${final ? '\n' : ''}`);
    } else if (final || now - this.lastPrintMs >= (this.opts.plainIntervalMs ?? 5000)) {
      this.lastPrintMs = now;
      this.stream.write(`${this.line()}\n`);
    }
  }

  finish(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.render(true);
  }
}

export function formatSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  return `${m} min ${Math.round(s - m * 60)} s`;
}
