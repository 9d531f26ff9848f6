/**
 * A log-bucketed latency histogram: constant memory however long the run, percentiles within
 * about 1 % of the true value. A load run at 10 000 requests/s for an hour would otherwise keep
 * 36 million samples.
 */

/** Bucket i holds samples in [MIN · GROWTH^i, MIN · GROWTH^(i+1)). */
const MIN_MS = 0.01;
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
/** 0.01 ms · 1.02^1000 ≈ 4 000 s: anything slower lands in the last bucket. */
const BUCKETS = 1000;

export interface LatencySummary {
  /** Samples recorded. */
  count: number;
  /** Milliseconds; 0 when there are no samples. */
  mean: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
}

export interface LatencyHistogram {
  /** Records one sample, in milliseconds. */
  record(ms: number): void;
  /** The value (ms) at or below which the fraction `q` (0..1) of samples lie; 0 when empty. */
  quantile(q: number): number;
  summary(): LatencySummary;
  reset(): void;
  readonly count: number;
}

export function createLatencyHistogram(): LatencyHistogram {
  const counts = new Float64Array(BUCKETS);
  let count = 0;
  let sum = 0;
  let max = 0;

  function bucketOf(ms: number): number {
    if (!(ms > MIN_MS)) return 0;
    const i = Math.floor(Math.log(ms / MIN_MS) / LOG_GROWTH);
    return i >= BUCKETS ? BUCKETS - 1 : i;
  }

  function quantile(q: number): number {
    if (count === 0) return 0;
    const rank = Math.max(1, Math.ceil(Math.min(1, Math.max(0, q)) * count));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += counts[i]!;
      if (seen >= rank) {
        // The bucket's geometric midpoint, capped by the true maximum.
        const mid = MIN_MS * GROWTH ** (i + 0.5);
        return Math.min(mid, max);
      }
    }
    return max;
  }

  return {
    record(ms) {
      if (!Number.isFinite(ms) || ms < 0) return;
      counts[bucketOf(ms)]! += 1;
      count++;
      sum += ms;
      if (ms > max) max = ms;
    },
    quantile,
    summary() {
      return {
        count,
        mean: count === 0 ? 0 : sum / count,
        p50: quantile(0.5),
        p95: quantile(0.95),
        p99: quantile(0.99),
        max,
      };
    },
    reset() {
      counts.fill(0);
      count = 0;
      sum = 0;
      max = 0;
    },
    get count() {
      return count;
    },
  };
}
