/**
 * Record values to events, for the processor's hot loop. {@link decodeRecord} decodes a record and
 * checks the model's event bounds against the record's own append time (a record written straight
 * into the log that breaks them throws TIMESTAMP_OUT_OF_RANGE / VALUE_OUT_OF_RANGE and is
 * dead-lettered; a replay decides the same, whatever the processor's clock says).
 *
 * zod costs more than the window aggregation itself, so records in the common, unambiguous shape
 * are checked by hand against the same rules (`eventInputSchema`: the model's timestamp parser and
 * JSON-data rules); anything else — errors, unusual shapes — goes through `decodeEnvelope`, so
 * acceptance, output and error messages stay exactly those of the model.
 * `test/unit/properties.test.ts` checks the two agree.
 */
import type { LogRecord } from '../log/index.ts';
import type { EventEnvelope } from '../model/index.ts';
import { checkEventBounds, decodeEnvelope, jsonDataProblem, MAX_ABS_VALUE, parseIsoTimestamp } from '../model/index.ts';
import { scanRecord } from './record-scan.ts';

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
  if (!isPlainObject(o)) return decodeEnvelope(value);
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
  const ts = parseIsoTimestamp(timestamp);
  if (Number.isNaN(ts) || jsonDataProblem(payload) !== undefined || (isPlainObject(metadata) && jsonDataProblem(metadata) !== undefined)) {
    return decodeEnvelope(value);
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

/** What {@link decodeRecord} checks a record's event against besides its shape. */
export interface RecordBounds<R extends Pick<LogRecord, 'value' | 'appendTime'> = Pick<LogRecord, 'value' | 'appendTime'>> {
  /** How far an event's time may lie after its record's append time, ms. */
  maxFutureSkewMs: number;
  /** The value field of an event type; undefined when the type is unknown (routing dead-letters it). */
  valueFieldOf(eventType: string): string | null | undefined;
  /** Throws SCHEMA_VALIDATION_FAILED when the payload breaks its event type's JSON Schema. */
  checkPayload?(e: EventEnvelope): void;
  /**
   * The event of a record that is not a JSON envelope, when the topic's type is Avro / Protobuf
   * (Confluent wire format); undefined for a JSON type. Throws UNKNOWN_SCHEMA / SCHEMA_VALIDATION_FAILED.
   */
  decodeRaw?(record: R): EventEnvelope | undefined;
}

const OPEN_BRACE = 0x7b;

/**
 * The event of a record, checked against the model's event bounds with the record's append time.
 * Throws what `decodeEnvelope` throws, TIMESTAMP_OUT_OF_RANGE / VALUE_OUT_OF_RANGE, and the type's
 * payload-schema failure (SCHEMA_VALIDATION_FAILED).
 */
export function decodeRecord<R extends Pick<LogRecord, 'value' | 'appendTime'>>(record: R, bounds: RecordBounds<R>): EventEnvelope {
  const s = scanRecord(record.value, bounds.valueFieldOf);
  if (s !== undefined) {
    // the bounds of the fields the scan read; the general check (which parses the payload) only to throw
    if (s.timestamp - record.appendTime > bounds.maxFutureSkewMs || (s.value !== undefined && !(Math.abs(s.value) <= MAX_ABS_VALUE))) {
      checkEventBounds(s, record.appendTime, bounds.maxFutureSkewMs, s.valueField);
    }
    // parses the payload only when the type has a schema
    bounds.checkPayload?.(s);
    return s;
  }
  // not a JSON envelope the scan took: a binary type's raw record takes this general path
  if (bounds.decodeRaw !== undefined && record.value[0] !== OPEN_BRACE) {
    const raw = bounds.decodeRaw(record);
    if (raw !== undefined) {
      checkEventBounds(raw, record.appendTime, bounds.maxFutureSkewMs, bounds.valueFieldOf(raw.eventType) ?? null);
      return raw;
    }
  }
  const e = decodeRecordValue(record.value);
  checkEventBounds(e, record.appendTime, bounds.maxFutureSkewMs, bounds.valueFieldOf(e.eventType) ?? null);
  bounds.checkPayload?.(e);
  return e;
}
