/**
 * The bounds an event must keep to be processed, checked by one function at both doors: the API
 * refuses an event that breaks them, and the processor dead-letters a record that breaks them
 * (one written straight into the log, bypassing the API).
 *
 * - **Event time** is at most `maxFutureSkewMs` after the record's append time. One far-future
 *   event would otherwise move its partition's watermark (and checkpoint it) so far ahead that
 *   every later event of every key on the partition is late. The processor compares with the
 *   record's own append time (the Kafka record timestamp, the embedded log's append time), never
 *   its own clock, so a replay after a crash decides exactly as the first run did. Old event times
 *   (before 1970, year 0000) have no lower bound: they are late data like any other.
 * - **The value field** (sum/avg/min/max) is a finite number with |value| ≤ {@link MAX_ABS_VALUE},
 *   so no sum of realistic length can overflow to Infinity (which GraphQL cannot serialise and a
 *   checkpoint cannot store). A value field holding no number is counted but not aggregated, as before.
 */
import { ErrorCode, KeyflowError } from './errors.ts';
import type { EventEnvelope } from './event.ts';

/** Largest accepted |value| of an event type's value field. 1e15 keeps sums of up to ~1e290 events finite, and integers up to it exact. */
export const MAX_ABS_VALUE = 1e15;

/** How far an event's time may lie after its append time, ms, when not configured (KEYFLOW_MAX_FUTURE_SKEW_MS). */
export const DEFAULT_MAX_FUTURE_SKEW_MS = 300_000;

/**
 * Throws TIMESTAMP_OUT_OF_RANGE when the event time is more than `maxFutureSkewMs` after
 * `appendTime` (the record's append time; at the API, the time of the publish), and
 * VALUE_OUT_OF_RANGE when `valueField` (the payload field the event type aggregates, null when it
 * has none) holds a number outside ±{@link MAX_ABS_VALUE}. Both carry `details.issues` with the
 * field path, like SCHEMA_VALIDATION_FAILED. Positional arguments: it runs once per record.
 */
export function checkEventBounds(e: Pick<EventEnvelope, 'timestamp' | 'payload'>, appendTime: number, maxFutureSkewMs: number, valueField: string | null): void {
  if (e.timestamp - appendTime > maxFutureSkewMs) {
    const at = new Date(e.timestamp).toISOString();
    const message = `is ${at}, more than ${maxFutureSkewMs} ms after its append time ${new Date(appendTime).toISOString()}; event time may lie at most KEYFLOW_MAX_FUTURE_SKEW_MS in the future, and the event is refused`;
    throw new KeyflowError(ErrorCode.TIMESTAMP_OUT_OF_RANGE, `timestamp ${message}`, {
      details: { issues: [{ path: 'timestamp', message }], maxFutureSkewMs: maxFutureSkewMs },
    });
  }
  if (valueField !== null) {
    const v = e.payload[valueField];
    if (typeof v === 'number' && !(Math.abs(v) <= MAX_ABS_VALUE)) {
      const path = `payload.${valueField}`;
      const message = `is ${v}, outside ±${MAX_ABS_VALUE}; the event is refused so that its aggregates stay finite`;
      throw new KeyflowError(ErrorCode.VALUE_OUT_OF_RANGE, `${path} ${message}`, {
        details: { issues: [{ path, message }], maxAbsValue: MAX_ABS_VALUE },
      });
    }
  }
}
