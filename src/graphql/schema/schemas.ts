/**
 * Avro / Protobuf payloads through the API: the admin mutation `registerSchema` (the same registry
 * the Schema Registry REST routes serve), the `schemas` query, and `publishEncodedEvent` (bytes as
 * base64 plus a schema id; decoded and checked here, then published like a JSON event).
 */
import { ErrorCode, type EventTypeSpec, KeyflowError, subjectOf } from '../../model/index.ts';
import { decodePayload, type RegisteredSchema, type SchemaRegistry, schemaOfType } from '../../schemas/index.ts';
import type { ApiServices } from '../services.ts';
import { builder } from './builder.ts';
import './scalars.ts';
import { EventReceiptRef } from './types.ts';

const SchemaTypeEnum = builder.enumType('SchemaType', { values: ['AVRO', 'PROTOBUF'] as const });

const SchemaRef = builder.objectRef<RegisteredSchema>('Schema').implement({
  description: 'A registered Avro / Protobuf schema: one version of a subject, with its global id.',
  fields: (t) => ({
    id: t.exposeInt('id'),
    subject: t.exposeString('subject'),
    version: t.exposeInt('version'),
    schemaType: t.field({ type: SchemaTypeEnum, resolve: (s) => s.schemaType }),
    schema: t.exposeString('schema', { description: 'The schema text (Avro JSON / .proto source).' }),
  }),
});

function requireSchemas(s: ApiServices): SchemaRegistry {
  if (!s.schemas) throw new KeyflowError(ErrorCode.BAD_USER_INPUT, 'this node has no schema registry');
  return s.schemas;
}

function invalid(path: string, message: string): KeyflowError {
  return new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `${path}: ${message}`, { details: { issues: [{ path, message }] } });
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

builder.queryField('schemas', (t) =>
  t.field({
    type: [SchemaRef],
    description: 'Every version of a subject (oldest first), or of every subject when none is given.',
    args: { subject: t.arg.string() },
    resolve: async (_r, a, ctx) => {
      const schemas = requireSchemas(ctx.services);
      await schemas.refresh();
      const subjects = a.subject ? [a.subject] : schemas.subjects();
      return subjects.flatMap((s) => [...schemas.versions(s)]);
    },
  }),
);

builder.mutationField('registerSchema', (t) =>
  t.field({
    type: SchemaRef,
    description:
      'Registers an Avro / Protobuf schema as the next version of a subject (admin); the same schema again returns its version. Durable and shared by every node. A new version must be backward compatible with the latest (SCHEMA_INCOMPATIBLE); an invalid schema fails with SCHEMA_VALIDATION_FAILED.',
    args: {
      subject: t.arg.string({ required: true }),
      schema: t.arg.string({ required: true }),
      schemaType: t.arg({ type: SchemaTypeEnum, defaultValue: 'AVRO' }),
    },
    resolve: (_r, a, ctx) => requireSchemas(ctx.services).register(a.subject, { schema: a.schema, schemaType: a.schemaType ?? 'AVRO' }),
  }),
);

const EncodedEventInputRef = builder.inputType('EncodedEventInput', {
  description: 'An event of an AVRO / PROTOBUF type: its payload as the binary body of a registered schema of the type\'s subject (no wire-format header).',
  fields: (t) => ({
    eventId: t.id({ description: 'Idempotency key, as in EventInput.' }),
    eventType: t.string({ required: true }),
    timestamp: t.field({ type: 'DateTime', description: "Event time; absent: read from the type's timestampPath." }),
    userId: t.string(),
    deviceId: t.string(),
    schemaId: t.int({ required: true, description: 'Global id of the schema the bytes were written with.' }),
    payloadBytes: t.string({ required: true, description: 'The Avro / Protobuf bytes, base64.' }),
    messageIndexes: t.intList({ description: 'PROTOBUF: path to the message type in the schema (Confluent message indexes). Default: [0], the first message.' }),
    metadata: t.field({ type: 'JSON' }),
  }),
});

function binaryType(s: ApiServices, eventType: string): EventTypeSpec {
  const spec = s.registry.resolve(eventType);
  if (!spec) throw new KeyflowError(ErrorCode.UNKNOWN_EVENT_TYPE, `unknown eventType '${eventType}'`);
  if (subjectOf(spec) === undefined) throw invalid('eventType', `'${eventType}' takes JSON payloads: publish it with publishEvent`);
  return spec;
}

builder.mutationField('publishEncodedEvent', (t) =>
  t.field({
    type: EventReceiptRef,
    description:
      "Publishes an event of an AVRO / PROTOBUF type: the bytes are decoded with the schema (UNKNOWN_SCHEMA when the id is not a version of the type's subject; SCHEMA_VALIDATION_FAILED with the failing path when they do not decode), and the event is published with the decoded payload and metadata.schemaId.",
    args: { input: t.arg({ type: EncodedEventInputRef, required: true }) },
    resolve: async (_r, a, ctx) => {
      const s = ctx.services;
      const input = a.input;
      const spec = binaryType(s, input.eventType);
      const schemas = requireSchemas(s);
      if (input.payloadBytes.length > s.limits.maxEventBytes * 2 || !BASE64.test(input.payloadBytes)) throw invalid('payloadBytes', 'must be base64 (RFC 4648, with padding) within the event size limit');
      await schemas.lookup(input.schemaId);
      const schema = schemaOfType(schemas, spec, input.schemaId);
      const payload = decodePayload(schema, Buffer.from(input.payloadBytes, 'base64'), input.messageIndexes ?? undefined);
      let timestamp: string | undefined = input.timestamp === null || input.timestamp === undefined ? undefined : new Date(input.timestamp).toISOString();
      if (timestamp === undefined && spec.timestampField !== undefined) {
        const v = payload[spec.timestampField];
        if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) timestamp = new Date(v).toISOString();
        else if (typeof v === 'string') timestamp = v;
      }
      if (timestamp === undefined) throw invalid('timestamp', spec.timestampField ? `absent, and payload.${spec.timestampField} holds no event time` : 'required (the type has no timestampPath)');
      const metadata = { ...((input.metadata as Record<string, unknown> | null | undefined) ?? {}), schemaId: input.schemaId };
      const receipt = await s.ingest.publish({
        ...(input.eventId ? { eventId: String(input.eventId) } : {}),
        eventType: spec.eventType,
        timestamp,
        userId: input.userId ?? null,
        deviceId: input.deviceId ?? null,
        payload,
        metadata,
      });
      const m = s.metrics;
      if (m && 'eventsIngested' in m && receipt.status === 'ACCEPTED') m.eventsIngested.inc({ topic: receipt.topic });
      return receipt;
    },
  }),
);
