// Histogram bucket bounds (upper bounds, seconds) and a small fixed-bucket counter that estimates
// quantiles the way Prometheus' histogram_quantile does: linear interpolation inside the bucket
// that holds the rank. Fixed buckets keep memory O(1) per series however many values arrive.

/** Job wait (enqueue → lease) and run (lease → ack): from a millisecond to an hour. */
export const JOB_SECONDS_BUCKETS: readonly number[] = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];

/** One fsync'd Raft write: 100 µs (a fast NVMe) to 1 s (a disk in trouble). */
export const APPEND_SECONDS_BUCKETS: readonly number[] = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** One client request, long polls included (they may wait up to LEASE_WAIT_MS_MAX). */
export const REQUEST_SECONDS_BUCKETS: readonly number[] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class BucketCounter {
  /** counts[i] counts values <= bounds[i] and > bounds[i-1]; the last slot is +Inf. */
  private readonly counts: number[];
  private total = 0;
  private maxValue = 0;

  constructor(private readonly bounds: readonly number[]) {
    for (let i = 1; i < bounds.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new Error('invariant: bucket bounds must increase');
    }
    this.counts = new Array<number>(bounds.length + 1).fill(0);
  }

  get count(): number {
    return this.total;
  }

  observe(value: number): void {
    if (!Number.isFinite(value)) return;
    const v = Math.max(0, value);
    let i = 0;
    while (i < this.bounds.length && v > this.bounds[i]!) i++;
    this.counts[i]! += 1;
    this.total += 1;
    if (v > this.maxValue) this.maxValue = v;
  }

  /** The q-quantile (0..1) estimate, or null with no observations. Never above the largest value seen. */
  quantile(q: number): number | null {
    if (this.total === 0) return null;
    const rank = Math.min(1, Math.max(0, q)) * this.total;
    let cumulative = 0;
    for (let i = 0; i < this.counts.length; i++) {
      const inBucket = this.counts[i]!;
      if (inBucket === 0 || cumulative + inBucket < rank) {
        cumulative += inBucket;
        continue;
      }
      const lower = i === 0 ? 0 : this.bounds[i - 1]!;
      // The +Inf bucket has no upper bound: the largest value seen is the honest one.
      const upper = i < this.bounds.length ? this.bounds[i]! : this.maxValue;
      const estimate = lower + (upper - lower) * ((rank - cumulative) / inBucket);
      return Math.min(estimate, this.maxValue);
    }
    return this.maxValue;
  }

  reset(): void {
    this.counts.fill(0);
    this.total = 0;
    this.maxValue = 0;
  }
}
