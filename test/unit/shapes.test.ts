/**
 * Each shape is declared once (a zod schema in src/model); every consumer that restates it — bus
 * validation, data-lake columns, PostgreSQL columns, the log-topic record value, the GraphQL
 * object types — must list exactly the schema's fields. These tests fail when one drifts.
 */
import {
  type GraphQLField,
  type GraphQLInputField,
  type GraphQLInputObjectType,
  type GraphQLObjectType,
  type GraphQLType,
  getNamedType,
  isNonNullType,
} from 'graphql';
import { describe, expect, expectTypeOf, it } from 'vitest';
import { parseEventBatch, parseWindowResultBatch } from '../../src/bus/messages.ts';
import { buildSchema } from '../../src/graphql/schema/index.ts';
import { GRAPHQL_TYPE_OF_KIND } from '../../src/graphql/schema/shape-fields.ts';
import { createFileLog } from '../../src/log/embedded/file-log.ts';
import { EVENT_ENVELOPE_FIELDS, EVENT_INPUT_FIELDS, type EventEnvelope, eventEnvelopeSchema } from '../../src/model/event.ts';
import type { FieldSpec } from '../../src/model/shape.ts';
import {
  KEY_STATE_FIELDS,
  type KeyStateView,
  WINDOW_IDENTITY_FIELDS,
  WINDOW_RESULT_FIELDS,
  type WindowResult,
  windowResultSchema,
} from '../../src/model/window-result.ts';
import { LAKE_COLUMNS, createDataLakeSink } from '../../src/sinks/data-lake/data-lake-sink.ts';
import { createLogTopicSink } from '../../src/sinks/log-topic/log-topic-sink.ts';
import { PG_COLUMNS, createTableSql, upsertStatement } from '../../src/sinks/postgres/postgres-sink.ts';
import { finalResult } from '../contract/sink.contract.ts';
import { tempDir } from '../helpers/wait.ts';

const names = (fields: readonly FieldSpec[]) => fields.map((f) => f.name);

const WINDOW_RESULT_NAMES = [
  'eventType',
  'key',
  'window',
  'windowStart',
  'windowEnd',
  'count',
  'valueCount',
  'sum',
  'avg',
  'min',
  'max',
  'distinctUsers',
  'final',
  'revision',
];

describe('the model schemas', () => {
  it('WindowResult and EventEnvelope are the types inferred from their schemas, with the fields they always had', () => {
    expectTypeOf<WindowResult>().toEqualTypeOf<{
      eventType: string;
      key: string;
      window: string;
      windowStart: number;
      windowEnd: number;
      count: number;
      valueCount: number;
      sum: number | null;
      avg: number | null;
      min: number | null;
      max: number | null;
      distinctUsers: number;
      final: boolean;
      revision: number;
    }>();
    expectTypeOf<EventEnvelope>().toEqualTypeOf<{
      readonly eventId: string;
      readonly timestamp: number;
      readonly eventType: string;
      readonly userId: string | null;
      readonly deviceId: string | null;
      readonly payload: Record<string, unknown>;
      readonly metadata: Record<string, unknown> | null;
    }>();
    expectTypeOf<KeyStateView>().toEqualTypeOf<{
      eventType: string;
      key: string;
      topic: string;
      partition: number;
      watermark: number | null;
      lastEventTime: number | null;
      eventsProcessed: number;
      openWindows: number;
    }>();
    expect(names(WINDOW_RESULT_FIELDS)).toEqual(WINDOW_RESULT_NAMES);
    expect(Object.keys(windowResultSchema.shape)).toEqual(WINDOW_RESULT_NAMES);
    expect(WINDOW_RESULT_FIELDS.filter((f) => f.nullable).map((f) => f.name)).toEqual(['sum', 'avg', 'min', 'max']);
    expect(WINDOW_RESULT_FIELDS.filter((f) => f.kind === 'time').map((f) => f.name)).toEqual(['windowStart', 'windowEnd']);
    expect(names(EVENT_ENVELOPE_FIELDS)).toEqual(Object.keys(eventEnvelopeSchema.shape));
    expect(names(EVENT_INPUT_FIELDS)).toEqual(names(EVENT_ENVELOPE_FIELDS));
    expect(EVENT_ENVELOPE_FIELDS.find((f) => f.name === 'timestamp')!.kind).toBe('time');
  });
});

describe('consumers list exactly the schema fields', () => {
  const sample = finalResult('iot.sensor', 'dev-1', Date.UTC(2024, 0, 15, 10, 30), { sum: null, avg: null, min: null, max: null, valueCount: 0 });

  it('bus: a window result missing any field, or null where the schema says not null, is dropped', () => {
    expect(parseWindowResultBatch({ results: [sample] })).toEqual([sample]);
    for (const f of WINDOW_RESULT_FIELDS) {
      const { [f.name]: _gone, ...without } = sample;
      expect(parseWindowResultBatch({ results: [without] }), `without ${f.name}`).toEqual([]);
      expect(parseWindowResultBatch({ results: [{ ...sample, [f.name]: null }] }), `${f.name}: null`).toHaveLength(f.nullable ? 1 : 0);
    }
  });

  it('bus: an event missing any envelope field is dropped', () => {
    const event: EventEnvelope = {
      eventId: 'e1',
      timestamp: Date.UTC(2024, 0, 15),
      eventType: 'iot.sensor',
      userId: null,
      deviceId: 'd1',
      payload: {},
      metadata: null,
    };
    const msg = { topic: 'events.iot.sensors', partition: 0, offset: 0, key: 'd1', event };
    expect(parseEventBatch({ events: [msg] })).toEqual([msg]);
    for (const f of EVENT_ENVELOPE_FIELDS) {
      const { [f.name]: _gone, ...without } = event;
      expect(parseEventBatch({ events: [{ ...msg, event: without }] }), `without ${f.name}`).toEqual([]);
    }
  });

  it('data lake: a row holds the schema fields, in order, then the ISO copies of the times', async () => {
    expect(LAKE_COLUMNS.map((c) => c.name)).toEqual([...WINDOW_RESULT_NAMES, 'windowStartIso', 'windowEndIso']);
    const tmp = await tempDir('keyflow-shapes-');
    try {
      const sink = createDataLakeSink({ dir: tmp.dir, fsync: false, buckets: 1 });
      await sink.start();
      await sink.write([{ ...sample, extra: 'not part of the shape' } as WindowResult]);
      const { readdir, readFile } = await import('node:fs/promises');
      const files = (await readdir(tmp.dir, { recursive: true })).filter((f) => f.endsWith('.jsonl'));
      const row = JSON.parse((await readFile(`${tmp.dir}/${files[0]}`, 'utf8')).trim()) as Record<string, unknown>;
      expect(Object.keys(row)).toEqual(LAKE_COLUMNS.map((c) => c.name));
      expect(row.windowStartIso).toBe('2024-01-15T10:30:00.000Z');
      expect(await sink.read()).toEqual([sample]);
      await sink.close();
    } finally {
      await tmp.remove();
    }
  });

  it('log topic: the record value is exactly the schema fields', async () => {
    const tmp = await tempDir('keyflow-shapes-');
    const log = createFileLog({ dataDir: tmp.dir });
    try {
      await log.start();
      const sink = createLogTopicSink({ log, partitions: 1 });
      await sink.start();
      await sink.write([{ ...sample, extra: 1 } as WindowResult]);
      const [rec] = await log.read('events.aggregated', 0, 0, 1);
      expect(Object.keys(JSON.parse(new TextDecoder().decode(rec!.value)))).toEqual(WINDOW_RESULT_NAMES);
    } finally {
      await log.close();
      await tmp.remove();
    }
  });

  it('PostgreSQL: one column per field, NOT NULL unless nullable, the window identity as primary key', () => {
    expect(PG_COLUMNS.map((c) => c.field)).toEqual(WINDOW_RESULT_NAMES);
    const create = createTableSql('"t"');
    for (const f of WINDOW_RESULT_FIELDS) {
      const col = PG_COLUMNS.find((c) => c.field === f.name)!;
      expect(create).toContain(`"${col.name}" ${col.sqlType}${f.nullable ? ',' : ' NOT NULL'}`);
      if (f.kind === 'time') expect(col.sqlType).toBe('timestamptz');
    }
    const pk = WINDOW_IDENTITY_FIELDS.map((f) => `"${PG_COLUMNS.find((c) => c.field === f)!.name}"`).join(', ');
    expect(create).toContain(`PRIMARY KEY (${pk})`);
    const upsert = upsertStatement('"t"');
    expect(upsert).toContain(`$${WINDOW_RESULT_NAMES.length}::`);
    expect(upsert).not.toContain(`$${WINDOW_RESULT_NAMES.length + 1}::`);
    expect(upsert).toContain(`ON CONFLICT (${pk})`);
  });

  describe('GraphQL', () => {
    const schema = buildSchema();
    const typeName = (t: GraphQLType) => getNamedType(t).name;

    function expectFields(fields: Record<string, GraphQLField<unknown, unknown> | GraphQLInputField>, specs: readonly FieldSpec[], input: boolean) {
      for (const f of specs) {
        const g = fields[f.name];
        expect(g, f.name).toBeDefined();
        expect(typeName(g!.type), f.name).toBe(GRAPHQL_TYPE_OF_KIND[f.kind]);
        expect(isNonNullType(g!.type), f.name).toBe(input ? !f.nullable && !f.optional : !f.nullable);
      }
    }

    it('WindowResult has exactly the schema fields, with their types, nullability and descriptions', () => {
      const t = schema.getType('WindowResult') as GraphQLObjectType;
      // plus `cursor`: where a resumable stream stands (not a field of the shape)
      expect(Object.keys(t.getFields())).toEqual([...WINDOW_RESULT_NAMES, 'cursor']);
      expectFields(t.getFields(), WINDOW_RESULT_FIELDS, false);
      for (const f of WINDOW_RESULT_FIELDS) expect(t.getFields()[f.name]!.description ?? undefined).toBe(f.description);
    });

    it('KeyState has exactly the schema fields', () => {
      const t = schema.getType('KeyState') as GraphQLObjectType;
      expect(Object.keys(t.getFields())).toEqual(names(KEY_STATE_FIELDS));
      expectFields(t.getFields(), KEY_STATE_FIELDS, false);
    });

    it('Event has every envelope field plus where it lives; EventInput has exactly the input fields', () => {
      const event = schema.getType('Event') as GraphQLObjectType;
      expectFields(event.getFields(), EVENT_ENVELOPE_FIELDS, false);
      expect(Object.keys(event.getFields()).filter((n) => !names(EVENT_ENVELOPE_FIELDS).includes(n))).toEqual([
        'key',
        'topic',
        'partition',
        'offset',
        'cursor',
      ]);
      const input = schema.getType('EventInput') as GraphQLInputObjectType;
      expect(Object.keys(input.getFields())).toEqual(names(EVENT_INPUT_FIELDS));
      expectFields(input.getFields(), EVENT_INPUT_FIELDS, true);
    });
  });
});
