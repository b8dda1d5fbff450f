// A latency histogram with bounded memory for any number of samples: log-spaced buckets, each
// 1% wider than the one before (HDR-style relative precision), from 1 µs to about 2.8 hours.
// Percentiles are read as the upper edge of their bucket, so they overstate by at most 1%.

/** Relative width of a bucket: reported percentiles are within this fraction of the true value. */
const BUCKET_GROWTH = 1.01;
const LOG_GROWTH = Math.log(BUCKET_GROWTH);
/** Smallest resolved value (µs); anything below lands in bucket 0. */
const VALUE_US_MIN = 1;
/** 2,200 buckets cover 1 µs .. ~2.8 h at 1% each: 17.6 KB per histogram. */
const BUCKET_COUNT = 2200;

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export class Histogram {
  private readonly counts = new Float64Array(BUCKET_COUNT);
  private total = 0;
  private maxUs = 0;
  private sumUs = 0;

  /** Records one sample given in milliseconds (negative values count as 0). */
  recordMs(valueMs: number): void {
    const us = Math.max(0, valueMs * 1000);
    this.counts[bucketOf(us)]! += 1;
    this.total += 1;
    this.sumUs += us;
    if (us > this.maxUs) this.maxUs = us;
  }

  get count(): number {
    return this.total;
  }

  meanMs(): number {
    return this.total === 0 ? 0 : this.sumUs / this.total / 1000;
  }

  /** The value (ms) at or below which `fraction` (0..1) of the samples fall. */
  percentileMs(fraction: number): number {
    if (this.total === 0) return 0;
    const rank = Math.max(1, Math.ceil(fraction * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.min(upperEdgeUs(i), this.maxUs) / 1000;
    }
    return this.maxUs / 1000;
  }

  maxMs(): number {
    return this.maxUs / 1000;
  }

  percentiles(): Percentiles {
    return { p50: round3(this.percentileMs(0.5)), p95: round3(this.percentileMs(0.95)), p99: round3(this.percentileMs(0.99)), max: round3(this.maxMs()) };
  }

  merge(other: Histogram): void {
    for (let i = 0; i < BUCKET_COUNT; i++) this.counts[i]! += other.counts[i]!;
    this.total += other.total;
    this.sumUs += other.sumUs;
    this.maxUs = Math.max(this.maxUs, other.maxUs);
  }
}

function bucketOf(us: number): number {
  if (us <= VALUE_US_MIN) return 0;
  return Math.min(BUCKET_COUNT - 1, Math.ceil(Math.log(us / VALUE_US_MIN) / LOG_GROWTH));
}

function upperEdgeUs(bucket: number): number {
  return VALUE_US_MIN * BUCKET_GROWTH ** bucket;
}

export function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}
