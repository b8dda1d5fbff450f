// The waiting jobs of one queue: a FIFO lane per priority, and a weighted scheduler across lanes.
//
// Fairness scheme: stride scheduling (Waldspurger & Weihl, 1995). Priority p has weight 2^p, i.e.
// a stride of 2^(9-p): priority 9 advances its pass by 1 per job handed out, priority 0 by 512.
// The non-empty lane with the smallest pass goes next (ties: the higher priority). A lane that
// becomes non-empty starts at (virtual time + its stride), so it cannot hoard credit while idle,
// and a newly arrived low-priority job waits behind a burst of higher ones (priority order for
// short queues). Among continuously backlogged lanes, lane p receives w_p / Σ w of the leases:
//   endless priority 9 + endless priority 0  ->  priority 0 gets 1/513 ≈ 0.195 % (1 job in 513);
//   9 vs 8 -> 2:1; all ten lanes backlogged -> priority 0 gets 1/1023.
// Integer strides keep the arithmetic exact, hence identical on every replica.
//
// Removal of a cancelled job is lazy: its lane entry stays and is skipped when it reaches the
// head (a lane entry is live iff its job is still `waiting`; a job enters a lane only on becoming
// waiting and leaves waiting only by being popped here or by cancel, which is final).

import { Ring } from './ring.js';
import type { JobRecord } from './job-record.js';
import { PRIORITY_MAX, PRIORITY_MIN } from './types.js';

export const LANE_COUNT = PRIORITY_MAX - PRIORITY_MIN + 1;

/** Pass increment of a lane per job handed out; weight 2^p. */
export function strideOf(priority: number): number {
  return 2 ** (PRIORITY_MAX - priority);
}

export class PriorityLanes {
  private readonly lanes: (Ring<JobRecord> | null)[] = new Array<Ring<JobRecord> | null>(LANE_COUNT).fill(null);
  /** Live (waiting) jobs per lane; a lane with stale entries only counts as empty. */
  private readonly waiting: number[] = new Array<number>(LANE_COUNT).fill(0);
  /** Stride-scheduling pass per lane; meaningful only while the lane is non-empty. */
  readonly passes: number[] = new Array<number>(LANE_COUNT).fill(0);
  /** The pass of the lane served last; non-decreasing. */
  virtualTime = 0;
  waitingTotal = 0;

  /** A job became waiting: it joins the tail of its lane. */
  push(rec: JobRecord): void {
    const p = rec.priority;
    if (this.waiting[p] === 0) this.passes[p] = this.virtualTime + strideOf(p);
    this.append(rec);
  }

  /** Appends without touching the scheduler state: restoring a snapshot. */
  append(rec: JobRecord): void {
    const p = rec.priority;
    let lane = this.lanes[p];
    if (lane === null || lane === undefined) {
      lane = new Ring<JobRecord>();
      this.lanes[p] = lane;
    }
    lane.push(rec);
    this.waiting[p] = (this.waiting[p] as number) + 1;
    this.waitingTotal += 1;
  }

  /** A waiting job was cancelled: its entry turns stale (skipped later). */
  forget(rec: JobRecord): void {
    const p = rec.priority;
    const left = (this.waiting[p] as number) - 1;
    if (left < 0) throw new Error(`invariant: lane ${p} of queue ${rec.queue} has no waiting job to forget`);
    this.waiting[p] = left;
    this.waitingTotal -= 1;
    // An empty lane may still hold stale entries; drop them all at once.
    if (left === 0) this.lanes[p]?.clear();
  }

  /** The next job by the weighted schedule, removed from its lane; null when none is waiting. */
  pop(): JobRecord | null {
    if (this.waitingTotal === 0) return null;
    const p = this.pickLane();
    const lane = this.lanes[p] as Ring<JobRecord>;
    let rec = lane.shift();
    while (rec !== undefined && rec.state !== 'waiting') rec = lane.shift();
    if (rec === undefined) throw new Error(`invariant: lane ${p} counts waiting jobs but holds none`);
    this.virtualTime = this.passes[p] as number;
    this.passes[p] = this.virtualTime + strideOf(p);
    const left = (this.waiting[p] as number) - 1;
    this.waiting[p] = left;
    this.waitingTotal -= 1;
    if (left === 0) lane.clear();
    return rec;
  }

  /** The live jobs of lane `p`, oldest first (snapshots). */
  *live(priority: number): IterableIterator<JobRecord> {
    const lane = this.lanes[priority];
    if (lane === null || lane === undefined) return;
    for (const rec of lane.values()) if (rec.state === 'waiting') yield rec;
  }

  waitingAt(priority: number): number {
    return this.waiting[priority] as number;
  }

  /** The non-empty lane with the smallest pass; ties go to the higher priority. */
  private pickLane(): number {
    let best = -1;
    for (let p = PRIORITY_MAX; p >= PRIORITY_MIN; p--) {
      if (this.waiting[p] === 0) continue;
      if (best === -1 || (this.passes[p] as number) < (this.passes[best] as number)) best = p;
    }
    if (best === -1) throw new Error('invariant: waitingTotal > 0 but every lane is empty');
    return best;
  }
}
