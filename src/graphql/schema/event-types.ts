/** Users' event types: the `eventTypes` query and the admin mutation `registerEventType`. */
import { ErrorCode, type EventTypeSpec, KeyflowError, subjectOf } from '../../model/index.ts';
import { builder } from './builder.ts';
import './scalars.ts';

export const CompatibilityEnum = builder.enumType('EventTypeCompatibility', {
  description: 'How a new payload schema of a registered type is checked: BACKWARD (it must accept every payload the registered one accepted) or NONE.',
  values: ['BACKWARD', 'NONE'] as const,
});

export const PayloadFormatEnum = builder.enumType('PayloadFormat', {
  description: 'JSON: payloads are JSON objects (publishEvent). AVRO / PROTOBUF: payloads are bytes of a registered schema of the type\'s subject (publishEncodedEvent; raw records in the Confluent wire format).',
  values: { JSON: { value: 'json' }, AVRO: { value: 'avro' }, PROTOBUF: { value: 'protobuf' } } as const,
});

export const EventTypeRef = builder.objectRef<EventTypeSpec>('EventType').implement({
  description: 'An event type: where its events go, how they are keyed and aggregated, and the JSON Schema of their payload.',
  fields: (t) => ({
    name: t.string({ resolve: (s) => s.eventType }),
    topic: t.exposeString('topic'),
    partitions: t.exposeInt('partitions'),
    keyPaths: t.stringList({
      description: 'Where the actor key is read, in order of preference; the eventId when none holds a value.',
      resolve: (s) => [...(s.keyPaths ?? ['deviceId', 'userId']), 'eventId'],
    }),
    valuePath: t.string({ nullable: true, description: 'The payload field aggregated as sum/avg/min/max; null: count and distinct users only.', resolve: (s) => (s.valueField === null ? null : `payload.${s.valueField}`) }),
    windows: t.stringList({ nullable: true, description: "The type's own window specs; null: the node's KEYFLOW_WINDOWS.", resolve: (s) => (s.windows ? [...s.windows] : null) }),
    schema: t.field({ type: 'JSON', nullable: true, description: 'JSON Schema of the payload; null: any JSON object.', resolve: (s) => s.schema ?? null }),
    compatibility: t.field({ type: CompatibilityEnum, resolve: (s) => s.compatibility ?? 'BACKWARD' }),
    version: t.int({ description: 'Registration version: 0 for a built-in type, 1 for the first registration, +1 per accepted change.', resolve: (s) => s.version ?? 0 }),
    description: t.string({ nullable: true, resolve: (s) => s.description ?? null }),
    enrichment: t.field({ type: 'JSON', nullable: true, description: 'Enrichment rules (README, "Enrichment"); null: none.', resolve: (s) => s.enrichment ?? null }),
    format: t.field({ type: PayloadFormatEnum, resolve: (s) => s.format ?? 'json' }),
    subject: t.string({ nullable: true, description: 'Schema-registry subject of an AVRO / PROTOBUF type; null for JSON.', resolve: (s) => subjectOf(s) ?? null }),
    timestampPath: t.string({ nullable: true, description: 'AVRO / PROTOBUF: the payload field with the event time; null: the record timestamp (or the timestamp published).', resolve: (s) => (s.timestampField ? `payload.${s.timestampField}` : null) }),
  }),
});

export const EventTypeInputRef = builder.inputType('EventTypeInput', {
  description: 'An event type to register (see the README, "Your own event types").',
  fields: (t) => ({
    name: t.string({ required: true }),
    topic: t.string({ description: 'Default: events.<name>.' }),
    partitions: t.int({ description: 'Default: 6.' }),
    keyPaths: t.stringList({ description: 'deviceId, userId, eventId, payload.<field>… or metadata.<field>…, in order of preference. Default: [deviceId, userId].' }),
    valuePath: t.string({ description: 'payload.<field> aggregated as sum/avg/min/max; absent: count only.' }),
    windows: t.stringList({ description: "Window specs of this type, e.g. tumbling-1m. Default: the node's KEYFLOW_WINDOWS." }),
    schema: t.field({ type: 'JSON', description: 'JSON Schema the payload must match.' }),
    compatibility: t.field({ type: CompatibilityEnum, description: 'Default: BACKWARD.' }),
    description: t.string(),
    enrichment: t.field({ type: 'JSON', description: 'Enrichment rules: date, category, flag, anomaly, lookup (README, "Enrichment").' }),
    format: t.field({ type: PayloadFormatEnum, description: 'Default: JSON.' }),
    subject: t.string({ description: 'AVRO / PROTOBUF: the schema-registry subject. Default: <topic>-value.' }),
    timestampPath: t.string({ description: 'AVRO / PROTOBUF: payload.<field> holding the event time (epoch ms or ISO-8601). Default: the record timestamp.' }),
  }),
});

export const RegisterEventTypeResultRef = builder.objectRef<{ eventType: EventTypeSpec; changed: boolean }>('RegisterEventTypeResult').implement({
  fields: (t) => ({
    eventType: t.field({ type: EventTypeRef, resolve: (r) => r.eventType }),
    changed: t.exposeBoolean('changed', { description: 'False when the same definition was registered already.' }),
  }),
});

builder.queryField('eventTypes', (t) =>
  t.field({
    type: [EventTypeRef],
    description: 'Every event type this node knows: the built-in ones and the registered ones.',
    resolve: (_r, _a, ctx) => [...ctx.services.registry.all()],
  }),
);

builder.mutationField('registerEventType', (t) =>
  t.field({
    type: RegisterEventTypeResultRef,
    description:
      'Registers an event type, or a new version of one (admin). Durable and shared by every node; processors start reading its topic without a restart. A change a registered type cannot take fails with EVENT_TYPE_INCOMPATIBLE; an invalid definition or schema with SCHEMA_VALIDATION_FAILED.',
    args: { input: t.arg({ type: EventTypeInputRef, required: true }) },
    resolve: async (_r, a, ctx) => {
      const catalog = ctx.services.eventTypes;
      if (!catalog) throw new KeyflowError(ErrorCode.BAD_USER_INPUT, 'event types cannot be registered on this node');
      // only the fields given: absent ones take their defaults
      const input = Object.fromEntries(Object.entries(a.input).filter(([, v]) => v !== null && v !== undefined));
      const { spec, changed } = await catalog.register(input);
      return { eventType: spec, changed };
    },
  }),
);
