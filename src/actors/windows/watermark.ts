/**
 * The per-partition watermark: max event time seen − max out-of-orderness, never decreasing.
 * When the partition has had no record for `idleTimeoutMs` of processing time, it advances by the
 * processing time that passes while it stays idle (so the last windows still close); it never
 * jumps to the wall clock, so replaying last month's events works.
 */

export interface WatermarkOptions {
  /** Bound on how far out of order events may arrive, ms. @default 10000 */
  maxOutOfOrderMs?: number;
  /** Processing time without records after which the watermark starts advancing on its own, ms. @default 30000 */
  idleTimeoutMs?: number;
}

/** Mutable watermark state; a plain object so it serialises into the partition checkpoint. */
export interface WatermarkState {
  /** Current watermark, epoch ms; null before the first event. */
  watermark: number | null;
  /** Max event time seen; null before the first event. */
  maxEventTime: number | null;
  /** Processing time of the last record (not checkpointed: processing time does not survive a restart). */
  lastRecordAt: number;
  /** Processing time up to which idle advance has been applied. */
  idleAppliedTo: number;
}

export function initialWatermark(now: number): WatermarkState {
  return { watermark: null, maxEventTime: null, lastRecordAt: now, idleAppliedTo: now };
}

/** Takes one event time into account. Returns the (possibly) new watermark. */
export function observeEventTime(s: WatermarkState, eventTime: number, maxOutOfOrderMs: number): number {
  if (s.maxEventTime === null || eventTime > s.maxEventTime) s.maxEventTime = eventTime;
  const candidate = s.maxEventTime - maxOutOfOrderMs;
  if (s.watermark === null || candidate > s.watermark) s.watermark = candidate;
  return s.watermark;
}

/** Notes that records arrived at processing time `now` (the partition is not idle). */
export function touchPartition(s: WatermarkState, now: number): void {
  s.lastRecordAt = now;
  s.idleAppliedTo = now;
}

/**
 * Advances an idle partition's watermark by the processing time that passed while idle past
 * `idleTimeoutMs` and not yet applied. Returns true when the watermark moved.
 */
export function advanceIdle(s: WatermarkState, now: number, idleTimeoutMs: number): boolean {
  if (s.watermark === null) return false;
  const idleFrom = Math.max(s.lastRecordAt + idleTimeoutMs, s.idleAppliedTo);
  if (now <= idleFrom) return false;
  s.watermark += now - idleFrom;
  s.idleAppliedTo = now;
  return true;
}
