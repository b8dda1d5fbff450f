// Everything the state machine keeps per queue: its waiting lanes, its finished-job logs for
// retention, its counters, and whether it is paused.

import { JobSettings } from './job-record.js';
import { LANE_COUNT, PriorityLanes } from './priority-lanes.js';
import { RetentionLog } from './retention-log.js';
import type { Backoff, JobState, QueueStats } from './types.js';

export type QueueTotals = QueueStats['totals'];

/** Which retention log: completed + cancelled jobs ('done'), or dead ones. */
export type RetentionKind = 'done' | 'dead';

export function emptyCounts(): Record<JobState, number> {
  return { waiting: 0, delayed: 0, active: 0, completed: 0, failed: 0, dead: 0, cancelled: 0 };
}

export function emptyTotals(): QueueTotals {
  return { enqueued: 0, completed: 0, failed: 0, retried: 0, dead: 0, expired: 0 };
}

export class QueueState {
  readonly lanes = new PriorityLanes();
  readonly done = new RetentionLog();
  readonly dead = new RetentionLog();
  readonly counts: Record<JobState, number> = emptyCounts();
  readonly totals: QueueTotals = emptyTotals();
  paused = false;
  /** Whether the store's retention heap holds an age check for `done` / `dead` of this queue. */
  doneAgeCheckScheduled = false;
  deadAgeCheckScheduled = false;

  /**
   * The settings object the last job of each priority was given: the next job with the same
   * settings shares it (a batch of jobs nearly always does). Only memory depends on this cache,
   * never the replicated state.
   */
  private readonly lastSettings: (JobSettings | null)[] = new Array<JobSettings | null>(LANE_COUNT).fill(null);

  constructor(readonly name: string) {}

  /** A JobSettings of this queue with these values: the cached one when it matches. */
  settingsFor(name: string, priority: number, maxAttempts: number, backoff: Readonly<Backoff>, leaseMs: number): JobSettings {
    const last = this.lastSettings[priority];
    if (last !== null && last !== undefined && last.matches(name, maxAttempts, backoff, leaseMs)) return last;
    const settings = new JobSettings(this.name, name, priority, maxAttempts, backoff, leaseMs);
    this.lastSettings[priority] = settings;
    return settings;
  }

  log(kind: RetentionKind): RetentionLog {
    return kind === 'done' ? this.done : this.dead;
  }

  /** Live jobs a retention log of this kind holds. */
  retainedCount(kind: RetentionKind): number {
    return kind === 'done' ? this.counts.completed + this.counts.cancelled : this.counts.dead;
  }

  stats(): QueueStats {
    return { queue: this.name, paused: this.paused, counts: { ...this.counts }, totals: { ...this.totals } };
  }
}
