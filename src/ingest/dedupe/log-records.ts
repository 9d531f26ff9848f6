/**
 * Reading the eventId and event time of records in the log, for the dedupe's rebuild at start
 * and the stale-claim resolver. A value written by keyflow's ingest (`encodeEnvelope`) starts
 * with `{"eventId":"…","timestamp":"…"`: both are read from the bytes without parsing the JSON
 * or building the eventId string; any other value (a raw producer's field order, escapes in the
 * eventId) is parsed as an envelope.
 */
import type { EventLog } from '../../log/index.ts';
import { decodeEnvelope } from '../../model/index.ts';
import { eventIdSpan, type Fingerprint, fingerprintBytes, fingerprintString } from './event-id-hash.ts';

const TS_PREFIX = [...'","timestamp":"'].map((c) => c.charCodeAt(0));
const QUOTE = 0x22;
const span = { start: 0, end: 0 };

/**
 * Fills `fp` with the fingerprint of the record's eventId and returns the event's timestamp
 * (epoch ms), or NaN when the value is not an event envelope (nothing to remember then).
 */
export function readRecordEvent(value: Uint8Array, fp: Fingerprint): number {
  if (eventIdSpan(value, span)) {
    const ts = fastTimestamp(value, span.end);
    if (!Number.isNaN(ts)) {
      fingerprintBytes(value, span.start, span.end, fp);
      return ts;
    }
  }
  try {
    const env = decodeEnvelope(value);
    fingerprintString(env.eventId, fp);
    return env.timestamp;
  } catch {
    return Number.NaN;
  }
}

/** The eventId of a record value, parsed in full (exact comparison after a fingerprint match). */
export function recordEventId(value: Uint8Array): string | null {
  try {
    return decodeEnvelope(value).eventId;
  } catch {
    return null;
  }
}

function fastTimestamp(value: Uint8Array, idEnd: number): number {
  let p = idEnd;
  for (let i = 0; i < TS_PREFIX.length; i++, p++) if (value[p] !== TS_PREFIX[i]) return Number.NaN;
  const start = p;
  while (p < value.length && value[p] !== QUOTE && p - start < 40) p++;
  if (value[p] !== QUOTE) return Number.NaN;
  return Date.parse(String.fromCharCode(...value.subarray(start, p)));
}

/**
 * First offset of `topic`/`partition` whose record was appended at or after `since` (binary
 * search over append times, one single-record read per step), or the end offset when none.
 * Append times are taken as non-decreasing along the partition; the caller leaves a margin for
 * clocks that are not.
 */
export async function offsetAtTime(log: EventLog, topic: string, partition: number, begin: number, end: number, since: number): Promise<number> {
  let lo = begin;
  let hi = end;
  while (lo < hi) {
    const mid = lo + Math.floor((hi - lo) / 2);
    const [rec] = await log.read(topic, partition, mid, 1);
    if (!rec || rec.offset >= hi) {
      hi = mid;
    } else if (rec.appendTime >= since) {
      hi = mid;
    } else {
      lo = rec.offset + 1;
    }
  }
  return lo;
}

/**
 * Calls `each` for every record of `topic`/`partition` in `[from, to)`, in offset order, reading
 * `chunk` records at a time.
 */
export async function scanRange(
  log: EventLog,
  topic: string,
  partition: number,
  from: number,
  to: number,
  each: (value: Uint8Array, offset: number, appendTime: number) => unknown,
  chunk = 1000,
): Promise<void> {
  for (let next = from; next < to; ) {
    const records = await log.read(topic, partition, next, Math.min(chunk, to - next));
    if (records.length === 0) return;
    for (const r of records) {
      if (r.offset >= to) return;
      if (each(r.value, r.offset, r.appendTime) === true) return;
    }
    next = records[records.length - 1]!.offset + 1;
  }
}
