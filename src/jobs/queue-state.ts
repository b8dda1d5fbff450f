// Everything the state machine keeps per queue: its waiting lanes, its finished-job logs for
// retention, its counters, and whether it is paused.

import { PriorityLanes } from './priority-lanes.js';
import { RetentionLog } from './retention-log.js';
import type { JobState, QueueStats } from './types.js';

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

  constructor(readonly name: string) {}

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
