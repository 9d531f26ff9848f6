/**
 * A fast path in front of `decodeEnvelope` for the hot loop. zod costs more than the window
 * aggregation itself, so records in the common, unambiguous shape are checked by hand against
 * the same rules (`eventInputSchema`); anything else — errors, unusual shapes — goes through
 * `decodeEnvelope`, so acceptance, output and error messages stay exactly those of the model.
 * `test/unit/properties.test.ts` checks the two agree.
 */
import type { EventEnvelope } from '../model/index.ts';
import { decodeEnvelope } from '../model/index.ts';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const objectProto = Object.prototype;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === objectProto;
}

/** The n-digit decimal number at s[i..i+n), or −1 when one of those chars is not an ASCII digit. */
function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/**
 * Epoch ms of `YYYY-MM-DDTHH:MM:SS.sssZ` (the form `toISOString` writes, i.e. nearly every record)
 * by arithmetic; NaN when the text has another layout or a field outside the ranges where the
 * result is certainly the one `Date.parse` gives (days above 28 go to `Date.parse`, so month
 * lengths and leap years never matter here). The caller falls back to the regex + `Date.parse`.
 */
export function parseIsoUtcMillis(s: string): number {
  if (
    s.length !== 24 ||
    s.charCodeAt(4) !== 45 || // -
    s.charCodeAt(7) !== 45 ||
    s.charCodeAt(10) !== 84 || // T
    s.charCodeAt(13) !== 58 || // :
    s.charCodeAt(16) !== 58 ||
    s.charCodeAt(19) !== 46 || // .
    s.charCodeAt(23) !== 90 // Z
  ) {
    return Number.NaN;
  }
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const d = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  const second = digits(s, 17, 2);
  const ms = digits(s, 20, 3);
  if (year < 0 || ms < 0 || month < 1 || month > 12 || d < 1 || d > 28 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) {
    return Number.NaN;
  }
  // days from civil (H. Hinnant), proleptic Gregorian, exact in integers
  const yy = month <= 2 ? year - 1 : year;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  const days = era * 146097 + doe - 719468;
  return days * 86_400_000 + hour * 3_600_000 + minute * 60_000 + second * 1000 + ms;
}

function optId(v: unknown, max: number): boolean {
  return v === undefined || v === null || (typeof v === 'string' && v.length >= 1 && v.length <= max);
}

/** Same result as `decodeEnvelope(value)`, faster for well-formed JSON envelopes. */
export function decodeRecordValue(value: Uint8Array): EventEnvelope {
  let text: string;
  let o: unknown;
  try {
    text = utf8.decode(value);
    o = JSON.parse(text);
  } catch {
    return decodeEnvelope(value);
  }
  if (!isPlainObject(o) || text.includes('__proto__')) return decodeEnvelope(value);
  const { eventId, timestamp, eventType, userId, deviceId, payload, metadata } = o;
  if (
    typeof eventId !== 'string' ||
    eventId.length < 1 ||
    eventId.length > 256 ||
    typeof eventType !== 'string' ||
    eventType.length < 1 ||
    eventType.length > 100 ||
    typeof timestamp !== 'string' ||
    !optId(userId, 256) ||
    !optId(deviceId, 256) ||
    !isPlainObject(payload) ||
    !(metadata === undefined || metadata === null || isPlainObject(metadata))
  ) {
    return decodeEnvelope(value);
  }
  let ts = parseIsoUtcMillis(timestamp);
  if (Number.isNaN(ts)) {
    // not the common layout: the model's own rule
    if (!ISO_DATE_TIME.test(timestamp)) return decodeEnvelope(value);
    ts = Date.parse(timestamp);
    if (!Number.isFinite(ts)) return decodeEnvelope(value);
  }
  return {
    eventId,
    timestamp: ts,
    eventType,
    userId: (userId as string | null | undefined) ?? null,
    deviceId: (deviceId as string | null | undefined) ?? null,
    payload,
    metadata: (metadata as Record<string, unknown> | null | undefined) ?? null,
  };
}
