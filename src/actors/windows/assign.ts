/** Window assigners and the finality / retention rules, as pure functions of event time and watermark. */
import type { WindowSpec } from './spec.ts';

/** A half-open event-time interval `[start, end)`, epoch ms. */
export interface TimeWindow {
  start: number;
  end: number;
}

/** Start of the tumbling window of size `size` containing t, aligned to the Unix epoch (UTC). */
export function tumblingStart(t: number, size: number): number {
  return Math.floor(t / size) * size;
}

/**
 * The windows of a tumbling or sliding spec that contain t, oldest first. Sessions are not
 * assignable alone (they depend on the key's other events): this returns the event's own
 * session candidate `[t, t + gap)`.
 */
export function assignWindows(spec: WindowSpec, t: number): TimeWindow[] {
  if (spec.kind === 'session') return [{ start: t, end: t + spec.gap }];
  if (spec.kind === 'tumbling') {
    const start = tumblingStart(t, spec.size);
    return [{ start, end: start + spec.size }];
  }
  const out: TimeWindow[] = [];
  // every [k·H, k·H+S) with k·H <= t < k·H+S
  for (let k = Math.floor(t / spec.slide); k * spec.slide + spec.size > t; k--) {
    out.push({ start: k * spec.slide, end: k * spec.slide + spec.size });
  }
  return out.reverse();
}

/** A window is final once the watermark reached its end plus the allowed lateness. */
export function isWindowFinal(watermark: number | null, windowEnd: number, allowedLatenessMs: number): boolean {
  return watermark !== null && watermark >= windowEnd + allowedLatenessMs;
}

/** A final result stays queryable until windowEnd < watermark − retention; then it is gone. */
export function isWindowExpired(watermark: number | null, windowEnd: number, resultRetentionMs: number): boolean {
  return watermark !== null && windowEnd < watermark - resultRetentionMs;
}
