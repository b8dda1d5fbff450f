// Repeatable jobs: a schedule enqueues its job every `everyMs`, or at the minutes a cron
// expression names (UTC). Firing is part of the tick command, like delayed jobs coming due, so
// it happens at the leader's stamped time and identically on every replica.
//
// A schedule fires at most once per tick: after downtime it fires once for all the times it
// missed, then resumes at its next time after now (cron's rule, and BullMQ's), so a cluster that
// was down for a day does not flood its queue with a day of jobs.

import { SCHEDULES_MAX } from '../limits.js';
import { CRON_SEARCH_YEARS, nextCronMs, parseCron, type CronSpec } from './cron.js';
import { applyEnqueue } from './enqueue.js';
import type { Cmd, EntryContext } from './entry-context.js';
import { compareStrings } from './job-record.js';
import { badRequestOutcome, ok } from './outcome.js';
import type { JobStore } from './store.js';
import type { EnqueueSpec, Outcome, ScheduleJob, WireSchedule, WireScheduleSummary } from './types.js';

export class ScheduleRecord {
  lastRunAtMs: number | null = null;
  lastJobId: string | null = null;
  runs = 0;
  refused = 0;

  constructor(
    readonly queue: string,
    readonly scheduleId: string,
    readonly everyMs: number | null,
    readonly cron: CronSpec | null,
    readonly job: ScheduleJob,
    public nextRunAtMs: number | null,
    readonly createdAtMs: number,
    readonly updatedAtMs: number,
  ) {}

  /** Takes over the firings of the schedule this one replaces (or of its snapshot image). */
  keepHistoryOf(previous: Pick<ScheduleRecord, 'lastRunAtMs' | 'lastJobId' | 'runs' | 'refused'>): void {
    this.lastRunAtMs = previous.lastRunAtMs;
    this.lastJobId = previous.lastJobId;
    this.runs = previous.runs;
    this.refused = previous.refused;
  }

  get key(): string {
    return scheduleKey(this.queue, this.scheduleId);
  }

  /** The first time after `afterMs` this schedule fires; `fromMs` anchors an interval's grid. */
  nextAfter(afterMs: number, fromMs: number): number | null {
    if (this.cron !== null) return nextCronMs(this.cron, afterMs);
    const everyMs = this.everyMs as number;
    // On the grid fromMs + k·everyMs, so an interval schedule keeps its phase across missed runs.
    return afterMs < fromMs ? fromMs : fromMs + (Math.floor((afterMs - fromMs) / everyMs) + 1) * everyMs;
  }

  toWire(): WireSchedule {
    return { ...this.summaryFields(), job: { ...this.job } };
  }

  /** Without the payload: a listing of every schedule would otherwise carry up to 64 MiB of them. */
  toSummary(): WireScheduleSummary {
    const { payload, ...job } = this.job;
    return { ...this.summaryFields(), job, payloadBytes: payload?.byteLength ?? 0 };
  }

  private summaryFields(): Omit<WireSchedule, 'job'> {
    return {
      queue: this.queue,
      scheduleId: this.scheduleId,
      everyMs: this.everyMs,
      cron: this.cron?.source ?? null,
      nextRunAtMs: this.nextRunAtMs,
      lastRunAtMs: this.lastRunAtMs,
      lastJobId: this.lastJobId,
      runs: this.runs,
      refused: this.refused,
      createdAtMs: this.createdAtMs,
      updatedAtMs: this.updatedAtMs,
    };
  }
}

/** Queue names and schedule ids hold no '/', so the key names one schedule. */
export function scheduleKey(queue: string, scheduleId: string): string {
  return `${queue}/${scheduleId}`;
}

/** By (queue, scheduleId): the order of listings and of the snapshot image. */
function compareSchedules(a: ScheduleRecord, b: ScheduleRecord): number {
  return compareStrings(a.queue, b.queue) || compareStrings(a.scheduleId, b.scheduleId);
}

/** By (nextRunAtMs, queue, scheduleId): the order in which due schedules fire within one tick. */
function compareDue(a: ScheduleRecord, b: ScheduleRecord): number {
  return (a.nextRunAtMs as number) - (b.nextRunAtMs as number) || compareSchedules(a, b);
}

export class ScheduleTable {
  private readonly byKey = new Map<string, ScheduleRecord>();
  /** The earliest nextRunAtMs, recomputed on every change: there are at most SCHEDULES_MAX. */
  private earliestMs: number | null = null;

  get size(): number {
    return this.byKey.size;
  }

  get(queue: string, scheduleId: string): ScheduleRecord | undefined {
    return this.byKey.get(scheduleKey(queue, scheduleId));
  }

  /** Every schedule (of one queue, if given), by (queue, scheduleId). */
  list(queue?: string): ScheduleRecord[] {
    const all = [...this.byKey.values()].filter((s) => queue === undefined || s.queue === queue);
    return all.sort(compareSchedules);
  }

  put(record: ScheduleRecord): void {
    this.byKey.set(record.key, record);
    this.refreshEarliest();
  }

  remove(queue: string, scheduleId: string): boolean {
    const removed = this.byKey.delete(scheduleKey(queue, scheduleId));
    if (removed) this.refreshEarliest();
    return removed;
  }

  /** When the next schedule fires; null when none will. */
  get nextRunAtMs(): number | null {
    return this.earliestMs;
  }

  /** The schedules due at `nowMs`, in firing order. */
  due(nowMs: number): ScheduleRecord[] {
    if (this.earliestMs === null || this.earliestMs > nowMs) return [];
    return [...this.byKey.values()].filter((s) => s.nextRunAtMs !== null && s.nextRunAtMs <= nowMs).sort(compareDue);
  }

  refreshEarliest(): void {
    let earliest: number | null = null;
    for (const s of this.byKey.values()) {
      if (s.nextRunAtMs !== null && (earliest === null || s.nextRunAtMs < earliest)) earliest = s.nextRunAtMs;
    }
    this.earliestMs = earliest;
  }
}

/**
 * The job with its payload copied into a Uint8Array of its own: a view would keep the whole Raft
 * entry (or snapshot piece) it was decoded from allocated as long as the schedule lives.
 */
export function ownedJob(job: ScheduleJob): ScheduleJob {
  const { payload, ...rest } = job;
  // msgpack peers may send nil for an absent payload: the job then has none, as an enqueue's would.
  return payload === undefined || payload === null ? rest : { ...rest, payload: new Uint8Array(payload) };
}

export function applyScheduleSet(store: JobStore, cmd: Cmd<'scheduleSet'>, ctx: EntryContext): Outcome {
  // msgpack peers may send nil for the absent one of everyMs and cron.
  const everyMs = cmd.everyMs ?? null;
  const cron = cmd.cron === undefined || cmd.cron === null ? null : parseCron(cmd.cron);
  // The edge parsed it already; a replica reaches the same verdict from the same text.
  if (typeof cron === 'string') return badRequestOutcome('cron', cron);
  const existing = store.schedules.get(cmd.queue, cmd.scheduleId);
  if (existing === undefined && store.schedules.size >= SCHEDULES_MAX) return badRequestOutcome('scheduleId', `the cluster holds at most ${SCHEDULES_MAX} schedules`);
  const record = new ScheduleRecord(cmd.queue, cmd.scheduleId, everyMs, cron, ownedJob(cmd.job), null, existing?.createdAtMs ?? ctx.nowMs, ctx.nowMs);
  // Set again with the same timing and no start (an app that upserts its schedules at each boot),
  // it keeps its next run: recomputed, a daily schedule of an app restarted twice a day would never fire.
  const sameTiming = existing !== undefined && existing.everyMs === everyMs && (existing.cron?.source ?? null) === (cron?.source ?? null);
  if (sameTiming && cmd.startAtMs === undefined && existing.nextRunAtMs !== null) {
    record.nextRunAtMs = existing.nextRunAtMs;
  } else {
    // Without a start, an interval schedule first fires one interval from now, a cron one at its next minute.
    const fromMs = Math.max(cmd.startAtMs ?? ctx.nowMs + (everyMs ?? 0), ctx.nowMs);
    record.nextRunAtMs = record.nextAfter(fromMs - 1, fromMs);
    if (record.nextRunAtMs === null) return badRequestOutcome('cron', `names no time in the next ${CRON_SEARCH_YEARS} years`);
  }
  if (existing !== undefined) record.keepHistoryOf(existing);
  store.schedules.put(record);
  return ok({ created: existing === undefined, nextRunAtMs: record.nextRunAtMs });
}

export function applyScheduleRemove(store: JobStore, cmd: Cmd<'scheduleRemove'>): Outcome {
  return ok({ removed: store.schedules.remove(cmd.queue, cmd.scheduleId) });
}

/** Fires every schedule due at the entry's time: one job each, through enqueue's own checks. Answers their ids. */
export function fireDueSchedules(store: JobStore, ctx: EntryContext): string[] {
  const due = store.schedules.due(ctx.nowMs);
  const fired: string[] = [];
  for (const schedule of due) {
    const runAtMs = schedule.nextRunAtMs as number;
    const spec: EnqueueSpec = { ...schedule.job, queue: schedule.queue };
    const outcome = applyEnqueue(store, { op: 'enqueue', jobs: [spec] }, ctx);
    if (outcome.ok) {
      const jobId = (outcome.value as { ids: string[] }).ids[0] as string;
      schedule.lastJobId = jobId;
      fired.push(jobId);
    } else {
      schedule.refused += 1;
    }
    schedule.runs += 1;
    schedule.lastRunAtMs = runAtMs;
    schedule.nextRunAtMs = schedule.nextAfter(ctx.nowMs, runAtMs);
  }
  if (due.length > 0) store.schedules.refreshEarliest();
  return fired;
}
