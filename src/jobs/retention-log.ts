// The finished jobs of one queue in the order they finished (one log for completed + cancelled,
// one for dead). Retention removes from the head: the oldest first, by count or by age.
// An entry is (job, finishSeq at the time); it is stale once the job left the finished state
// (dlqRetry) or was removed (dlqPurge), which reset the job's finishSeq. Stale entries are
// skipped at the head and compacted away when they outnumber the live ones.

import { HEAP_STALE_SLACK } from './heap.js';
import type { JobRecord } from './job-record.js';
import { Ring } from './ring.js';

export class RetentionLog {
  private readonly jobs = new Ring<JobRecord>();
  private readonly seqs = new Ring<number>();

  get length(): number {
    return this.jobs.length;
  }

  push(rec: JobRecord): void {
    if (rec.finishSeq <= 0) throw new Error(`invariant: job ${rec.id} enters a retention log without a finish number`);
    this.jobs.push(rec);
    this.seqs.push(rec.finishSeq);
  }

  /** The oldest live job, after dropping stale entries from the head; undefined when empty. */
  liveHead(): JobRecord | undefined {
    for (;;) {
      const rec = this.jobs.peek();
      if (rec === undefined) return undefined;
      if (rec.finishSeq === this.seqs.peek()) return rec;
      this.shift();
    }
  }

  shift(): void {
    this.jobs.shift();
    this.seqs.shift();
  }

  /** Live jobs, oldest first. */
  *live(): IterableIterator<JobRecord> {
    for (let i = 0; i < this.jobs.length; i++) {
      const rec = this.jobs.at(i) as JobRecord;
      if (rec.finishSeq === this.seqs.at(i)) yield rec;
    }
  }

  compactIfBloated(liveCount: number): void {
    if (this.jobs.length <= 2 * liveCount + HEAP_STALE_SLACK) return;
    const live = [...this.live()];
    this.jobs.clear();
    this.seqs.clear();
    for (const rec of live) this.push(rec);
  }
}
