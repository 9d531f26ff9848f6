/** Percentiles and number formatting shared by the benchmarks. */

export interface LatencySummary {
  n: number;
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

/** Nearest-rank percentile of an ascending array (p in 0..100); NaN when empty. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Summarises latency samples (ms). Sorts a copy. */
export function summarize(samples: ArrayLike<number>): LatencySummary {
  const s = Float64Array.from(samples as ArrayLike<number>).sort();
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i]!;
  return {
    n: s.length,
    p50: percentile(s, 50),
    p95: percentile(s, 95),
    p99: percentile(s, 99),
    max: s.length ? s[s.length - 1]! : Number.NaN,
    mean: s.length ? sum / s.length : Number.NaN,
  };
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

export function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

export function fmtLatency(l: LatencySummary): string {
  return `p50 ${fmtMs(l.p50)} ms, p95 ${fmtMs(l.p95)} ms, p99 ${fmtMs(l.p99)} ms, max ${fmtMs(l.max)} ms (n=${fmtInt(l.n)})`;
}

export function fmtMiB(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(0)} MiB`;
}

/** "PASS"/"MISS" against a target, for the summary lines. */
export function verdict(ok: boolean): string {
  return ok ? 'PASS' : 'MISS';
}

/** Now on the system-wide monotonic clock, µs: the clock of V8 .cpuprofile timestamps in every process. */
export function monotonicUs(): bigint {
  return process.hrtime.bigint() / 1000n;
}

/**
 * When profiling, prints the measured section's window so that `bench/profile-summary.ts
 * --from/--to` leaves out start-up and set-up (child profiles share the same clock).
 */
export function printProfileWindow(profiling: boolean, label: string, from: bigint): void {
  if (profiling) process.stdout.write(`  (profile window of ${label}: --from ${from} --to ${monotonicUs()})\n`);
}
