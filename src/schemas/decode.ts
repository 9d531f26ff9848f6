/**
 * Events of Avro / Protobuf event types. A raw record (what a Confluent serializer writes into the
 * type's topic) becomes the same envelope a JSON event is: its payload is the decoded record, so
 * key paths, value path, windows and enrichment read it exactly like a JSON payload.
 *
 * A raw record's envelope is a pure function of the record, so a replay decides the same:
 * eventId from the `eventId` header or `<topic>:<partition>:<offset>`, event time from the type's
 * timestamp field or the record's timestamp, userId / deviceId from the headers of those names,
 * metadata `{ schemaId }`.
 */
import type { LogRecord } from '../log/index.ts';
import { ErrorCode, type EventEnvelope, type EventTypeSpec, jsonDataProblem, KeyflowError, parseIsoTimestamp, subjectOf } from '../model/index.ts';
import type { RegisteredSchema, SchemaRegistry } from './registry.ts';
import { parseWireValue } from './wire.ts';

/** The registered schema `id` as a version of the type's subject; throws UNKNOWN_SCHEMA. */
export function schemaOfType(registry: Pick<SchemaRegistry, 'byId' | 'versions'>, spec: EventTypeSpec, id: number): RegisteredSchema {
  const subject = subjectOf(spec)!;
  const known = registry.byId(id);
  if (!known) {
    throw new KeyflowError(ErrorCode.UNKNOWN_SCHEMA, `schema id ${id} is not registered (register the schema under subject '${subject}' first)`, {
      details: { schemaId: id, subject },
    });
  }
  const version = registry.versions(subject).find((v) => v.id === id);
  if (!version) {
    throw new KeyflowError(ErrorCode.UNKNOWN_SCHEMA, `schema id ${id} is not a version of subject '${subject}' of event type '${spec.eventType}'`, {
      details: { schemaId: id, subject },
    });
  }
  return version;
}

/** The decoded payload, checked like a JSON payload (depth, keys, finite numbers). Throws SCHEMA_VALIDATION_FAILED. */
export function decodePayload(schema: RegisteredSchema, body: Uint8Array, messageIndexes?: readonly number[]): Record<string, unknown> {
  const payload = schema.codec.decode(body, messageIndexes);
  const problem = jsonDataProblem(payload);
  if (problem) {
    const path = ['payload', ...problem.path].join('.');
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `${path} ${problem.message}`, { details: { issues: [{ path, message: problem.message }] } });
  }
  return payload;
}

function eventTime(spec: EventTypeSpec, payload: Record<string, unknown>, recordTime: number): number {
  const f = spec.timestampField;
  if (f === undefined) return recordTime;
  const v = payload[f];
  const t = typeof v === 'number' ? v : typeof v === 'string' ? parseIsoTimestamp(v) : Number.NaN;
  if (!Number.isSafeInteger(t) || t < 0) {
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `payload.${f} (the event time) must be epoch milliseconds or an ISO-8601 time; got ${JSON.stringify(v) ?? 'nothing'}`, {
      details: { issues: [{ path: `payload.${f}`, message: 'not an event time' }] },
    });
  }
  return t;
}

const text = new TextDecoder();
const idHeader = (r: Pick<LogRecord, 'headers'>, name: string) => {
  const v = r.headers[name] as unknown;
  const s = typeof v === 'string' ? v : v instanceof Uint8Array ? text.decode(v) : undefined;
  return s !== undefined && s.length >= 1 && s.length <= 256 ? s : null;
};

/**
 * The event of a wire-format record of an Avro / Protobuf type. Throws UNKNOWN_SCHEMA (the id is
 * not a version of the type's subject) and SCHEMA_VALIDATION_FAILED (not wire format, malformed
 * bytes, no event time): the processor dead-letters the record with that reason.
 */
export function decodeWireRecord(record: Pick<LogRecord, 'topic' | 'partition' | 'offset' | 'value' | 'headers' | 'appendTime'>, spec: EventTypeSpec, registry: Pick<SchemaRegistry, 'byId' | 'versions'>): EventEnvelope {
  const wire = parseWireValue(record.value, spec.format === 'protobuf');
  const schema = schemaOfType(registry, spec, wire.schemaId);
  const payload = decodePayload(schema, wire.body, wire.messageIndexes);
  return {
    eventId: idHeader(record, 'eventId') ?? `${record.topic}:${record.partition}:${record.offset}`,
    timestamp: eventTime(spec, payload, record.appendTime),
    eventType: spec.eventType,
    userId: idHeader(record, 'userId'),
    deviceId: idHeader(record, 'deviceId'),
    payload,
    metadata: { schemaId: wire.schemaId },
  };
}
