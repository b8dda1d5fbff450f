// The last minutes of every queue, kept in the node, so the dashboard draws throughput, depth and
// latency charts the moment it opens (no Prometheus needed). Depth and rates come from replicated
// state (QueueStats), latency from applied entries: every node keeps the same history.

import { JOB_STATES, type JobState, type QueueStats } from '../jobs/types.js';
import { Ring } from '../jobs/ring.js';
import { BucketCounter, JOB_SECONDS_BUCKETS } from './buckets.js';
import { QUEUE_LABEL_OTHER, QueueLabeler } from './queue-labels.js';

/** One sample every 2 s ... */
export const HISTORY_INTERVAL_MS = 2_000;
/** ... over the last 10 minutes: 300 samples per series. */
export const HISTORY_WINDOW_MS = 10 * 60 * 1000;
/** Queues with a history of their own; later ones count only in HISTORY_ALL (and the overflow label). */
export const HISTORY_QUEUES_MAX = 50;
/** The series that sums every queue. A queue really named "_all" is kept under "_other". */
export const HISTORY_ALL = '_all';

export interface LatencySummaryMs {
  p50: number | null;
  p95: number | null;
  /** Observations in the interval. */
  count: number;
}

export interface HistorySample {
  atMs: number;
  /** Jobs in each state at the sample. */
  depth: Record<JobState, number>;
  /** Rates over the interval before the sample, per second; null on a series' first sample. */
  enqueuedPerSecond: number | null;
  completedPerSecond: number | null;
  failedPerSecond: number | null;
  deadPerSecond: number | null;
  waitMs: LatencySummaryMs;
  runMs: LatencySummaryMs;
}

export interface HistoryView {
  queue: string;
  intervalMs: number;
  windowMs: number;
  /** Series that exist (HISTORY_ALL first). */
  queues: string[];
  samples: HistorySample[];
}

type Totals = QueueStats['totals'];

class Series {
  readonly samples = new Ring<HistorySample>();
  readonly waits = new BucketCounter(JOB_SECONDS_BUCKETS);
  readonly runs = new BucketCounter(JOB_SECONDS_BUCKETS);
  lastTotals: Totals | null = null;
  lastAtMs = 0;
}

function emptyDepth(): Record<JobState, number> {
  const depth = {} as Record<JobState, number>;
  for (const s of JOB_STATES) depth[s] = 0;
  return depth;
}

function summary(counter: BucketCounter): LatencySummaryMs {
  const ms = (q: number): number | null => {
    const s = counter.quantile(q);
    return s === null ? null : Math.round(s * 1000 * 10) / 10;
  };
  return { p50: ms(0.5), p95: ms(0.95), count: counter.count };
}

export interface HistoryOptions {
  intervalMs?: number;
  windowMs?: number;
  queuesMax?: number;
}

export class StatsHistory {
  readonly intervalMs: number;
  readonly windowMs: number;
  private readonly labeler: QueueLabeler;
  private readonly series = new Map<string, Series>();

  constructor(options: HistoryOptions = {}) {
    this.intervalMs = options.intervalMs ?? HISTORY_INTERVAL_MS;
    this.windowMs = options.windowMs ?? HISTORY_WINDOW_MS;
    this.labeler = new QueueLabeler(options.queuesMax ?? HISTORY_QUEUES_MAX);
    this.series.set(HISTORY_ALL, new Series());
  }

  waited(queue: string, seconds: number): void {
    this.seriesOf(this.keyOf(queue)).waits.observe(seconds);
    this.all.waits.observe(seconds);
  }

  ran(queue: string, seconds: number): void {
    this.seriesOf(this.keyOf(queue)).runs.observe(seconds);
    this.all.runs.observe(seconds);
  }

  /** Takes one sample of every series from the replicated queue stats. */
  sample(queues: readonly QueueStats[], atMs: number): void {
    const grouped = new Map<string, { depth: Record<JobState, number>; totals: Totals }>();
    const add = (key: string, q: QueueStats): void => {
      let g = grouped.get(key);
      if (!g) grouped.set(key, (g = { depth: emptyDepth(), totals: { enqueued: 0, completed: 0, failed: 0, retried: 0, dead: 0, expired: 0 } }));
      for (const s of JOB_STATES) g.depth[s] += q.counts[s];
      for (const k of Object.keys(g.totals) as (keyof Totals)[]) g.totals[k] += q.totals[k];
    };
    for (const q of queues) {
      add(this.keyOf(q.queue), q);
      add(HISTORY_ALL, q);
    }
    for (const key of grouped.keys()) this.seriesOf(key);
    for (const [key, s] of this.series) {
      const g = grouped.get(key) ?? { depth: emptyDepth(), totals: s.lastTotals ?? { enqueued: 0, completed: 0, failed: 0, retried: 0, dead: 0, expired: 0 } };
      this.push(s, g.depth, g.totals, atMs);
    }
  }

  /** Samples of one series newer than sinceMs; none for a queue not sampled yet (or never seen). */
  read(queue: string, sinceMs = 0): HistoryView {
    const s = this.series.get(queue);
    const samples: HistorySample[] = [];
    for (const sample of s?.samples.values() ?? []) if (sample.atMs > sinceMs) samples.push(sample);
    return { queue, intervalMs: this.intervalMs, windowMs: this.windowMs, queues: [...this.series.keys()], samples };
  }

  private get all(): Series {
    return this.series.get(HISTORY_ALL)!;
  }

  private keyOf(queue: string): string {
    return queue === HISTORY_ALL ? QUEUE_LABEL_OTHER : this.labeler.label(queue);
  }

  private seriesOf(key: string): Series {
    let s = this.series.get(key);
    if (s === undefined) this.series.set(key, (s = new Series()));
    return s;
  }

  private push(s: Series, depth: Record<JobState, number>, totals: Totals, atMs: number): void {
    const last = s.lastTotals;
    const seconds = (atMs - s.lastAtMs) / 1000;
    // Totals only grow; a snapshot install may jump them. A negative delta would be a bug upstream.
    const rate = (k: keyof Totals): number | null => (last === null || seconds <= 0 ? null : Math.round((Math.max(0, totals[k] - last[k]) / seconds) * 100) / 100);
    s.samples.push({
      atMs,
      depth,
      enqueuedPerSecond: rate('enqueued'),
      completedPerSecond: rate('completed'),
      failedPerSecond: rate('failed'),
      deadPerSecond: rate('dead'),
      waitMs: summary(s.waits),
      runMs: summary(s.runs),
    });
    s.waits.reset();
    s.runs.reset();
    s.lastTotals = { ...totals };
    s.lastAtMs = atMs;
    const samplesMax = Math.ceil(this.windowMs / this.intervalMs);
    while (s.samples.length > samplesMax) s.samples.shift();
  }
}
