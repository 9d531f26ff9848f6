/** The window aggregates: count; valueCount/sum/min/max over finite numeric values; exact distinct users. */
import type { WindowResult } from '../../model/index.ts';

/** The aggregated value of a payload: the value field when it holds a finite number, else undefined. */
export function numericValue(payload: Record<string, unknown>, valueField: string | null): number | undefined {
  if (valueField === null) return undefined;
  const v = payload[valueField];
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

/** Aggregates computed at once from a list of events (the reference definition; the actor computes them incrementally). */
export type AggregateValues = Pick<WindowResult, 'count' | 'valueCount' | 'sum' | 'avg' | 'min' | 'max' | 'distinctUsers'>;

export function aggregateOf(
  events: readonly { payload: Record<string, unknown>; userId: string | null }[],
  valueField: string | null,
): AggregateValues {
  let valueCount = 0;
  let sum = 0;
  let min = Number.POSITIVE_INFINITY;
  let max = Number.NEGATIVE_INFINITY;
  const users = new Set<string>();
  for (const e of events) {
    const v = numericValue(e.payload, valueField);
    if (v !== undefined) {
      valueCount++;
      sum += v;
      if (v < min) min = v;
      if (v > max) max = v;
    }
    if (e.userId !== null) users.add(e.userId);
  }
  return {
    count: events.length,
    valueCount,
    sum: valueCount ? sum : null,
    avg: valueCount ? sum / valueCount : null,
    min: valueCount ? min : null,
    max: valueCount ? max : null,
    distinctUsers: users.size,
  };
}
