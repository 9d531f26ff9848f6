/**
 * A fast path in front of `decodeEnvelope` for the hot loop. zod costs more than the window
 * aggregation itself, so records in the common, unambiguous shape are checked by hand against
 * the same rules (`eventInputSchema`); anything else — errors, unusual shapes — goes through
 * `decodeEnvelope`, so acceptance, output and error messages stay exactly those of the model.
 * `test/unit/properties.test.ts` checks the two agree.
 */
import type { EventEnvelope } from '../model/event.ts';
import { decodeEnvelope } from '../model/event.ts';

const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });
const objectProto = Object.prototype;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && Object.getPrototypeOf(v) === objectProto;
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
    !(metadata === undefined || metadata === null || isPlainObject(metadata)) ||
    !ISO_DATE_TIME.test(timestamp)
  ) {
    return decodeEnvelope(value);
  }
  const ts = Date.parse(timestamp);
  if (!Number.isFinite(ts)) return decodeEnvelope(value);
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
