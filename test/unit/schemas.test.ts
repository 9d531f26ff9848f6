/**
 * Avro / Protobuf schemas (src/schemas): the Confluent wire format round-trips; backward
 * compatibility is decided as the serializers' registry does; the registry's fold gives every node
 * the same subjects, versions and ids whatever the interleaving of concurrent registrations
 * (property); a raw record's event is a pure function of the record (replay decides the same).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { specFromDefinition } from '../../src/model/index.ts';
import { createLogSchemaStore, createSchemaRegistry, decodeWireRecord, encodeWireValue, parseSchema, parseWireValue, type SchemaRegistry } from '../../src/schemas/index.ts';
import { createMemoryLog } from '../helpers/memory-log.ts';

const avroRecord = (fields: { name: string; type: unknown; default?: unknown }[]) => JSON.stringify({ type: 'record', name: 'Order', namespace: 'shop', fields });

describe('Confluent wire format', () => {
  it('round-trips schema ids, message indexes and bodies', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 2 ** 32 - 1 }), fc.option(fc.array(fc.nat({ max: 100_000 }), { minLength: 1, maxLength: 5 }), { nil: undefined }), fc.uint8Array({ maxLength: 64 }), (id, indexes, body) => {
        const v = parseWireValue(encodeWireValue(id, body, indexes), indexes !== undefined);
        expect(v.schemaId).toBe(id);
        expect([...v.body]).toEqual([...body]);
        if (indexes) expect(v.messageIndexes).toEqual(indexes);
      }),
      { numRuns: 200 },
    );
  });

  it('refuses what is not wire format with SCHEMA_VALIDATION_FAILED', () => {
    expect(() => parseWireValue(new Uint8Array([0, 0, 1]), false)).toThrow(expect.objectContaining({ code: 'SCHEMA_VALIDATION_FAILED', message: expect.stringContaining('5-byte header') }));
    expect(() => parseWireValue(new Uint8Array([1, 0, 0, 0, 1, 2]), false)).toThrow(expect.objectContaining({ message: expect.stringContaining('magic byte 1') }));
    expect(() => parseWireValue(new Uint8Array([0, 0, 0, 0, 1, 0x04]), true)).toThrow(expect.objectContaining({ message: expect.stringContaining('ends early') }));
  });
});

describe('backward compatibility', () => {
  const v1 = parseSchema('AVRO', avroRecord([{ name: 'id', type: 'string' }, { name: 'amount', type: 'int' }]));
  it.each([
    ['adds a field with a default', [{ name: 'id', type: 'string' }, { name: 'amount', type: 'int' }, { name: 'note', type: 'string', default: '' }], true],
    ['removes a field', [{ name: 'id', type: 'string' }], true],
    ['promotes int to long', [{ name: 'id', type: 'string' }, { name: 'amount', type: 'long' }], true],
    ['adds a field without a default', [{ name: 'id', type: 'string' }, { name: 'amount', type: 'int' }, { name: 'vat', type: 'double' }], false],
    ['changes int to string', [{ name: 'id', type: 'string' }, { name: 'amount', type: 'string' }], false],
  ])('Avro: a new version that %s is compatible: %s', (_what, fields, ok) => {
    expect(parseSchema('AVRO', avroRecord(fields)).backwardProblem(v1) === undefined).toBe(ok);
  });

  const p1 = parseSchema('PROTOBUF', 'syntax = "proto2"; message M { optional string a = 1; optional int32 b = 2; }');
  it.each([
    ['adds an optional field', 'syntax = "proto2"; message M { optional string a = 1; optional int32 b = 2; optional string c = 3; }', true],
    ['removes a field', 'syntax = "proto2"; message M { optional string a = 1; }', true],
    ['renames a field, same number and type', 'syntax = "proto2"; message M { optional string a = 1; optional int32 count = 2; }', true],
    ['reuses a field number with another type', 'syntax = "proto2"; message M { optional string a = 1; optional string b = 2; }', false],
    ['adds a required field', 'syntax = "proto2"; message M { optional string a = 1; optional int32 b = 2; required string c = 3; }', false],
    ['removes the message', 'syntax = "proto2"; message N { optional string a = 1; }', false],
  ])('Protobuf: a new version that %s is compatible: %s', (_what, text, ok) => {
    expect(parseSchema('PROTOBUF', text).backwardProblem(p1) === undefined).toBe(ok);
  });

  it('a schema that does not parse is SCHEMA_VALIDATION_FAILED at path schema', () => {
    expect(() => parseSchema('AVRO', '{"type": "record", "name": "X", "fields": [{"name": "a", "type": "nope"}]}')).toThrow(
      expect.objectContaining({ code: 'SCHEMA_VALIDATION_FAILED', details: { issues: [expect.objectContaining({ path: 'schema' })] } }),
    );
    expect(() => parseSchema('PROTOBUF', 'message {')).toThrow(expect.objectContaining({ code: 'SCHEMA_VALIDATION_FAILED' }));
    expect(() => parseSchema('AVRO', '"string"')).toThrow(expect.objectContaining({ message: expect.stringContaining('must be a record') }));
  });
});

/** Candidate versions of one subject: each adds or changes field `f<i>`; some orders are compatible, some not. */
const CANDIDATES = [
  avroRecord([{ name: 'id', type: 'string' }]),
  avroRecord([{ name: 'id', type: 'string' }, { name: 'a', type: 'int', default: 0 }]),
  avroRecord([{ name: 'id', type: 'string' }, { name: 'a', type: 'string', default: '' }]),
  avroRecord([{ name: 'id', type: 'string' }, { name: 'a', type: 'long', default: 0 }]),
  avroRecord([{ name: 'id', type: 'string' }, { name: 'b', type: 'double' }]),
  avroRecord([{ name: 'id', type: 'string' }, { name: 'b', type: 'double', default: 1 }]),
];

function snapshot(r: SchemaRegistry): unknown {
  return r
    .subjects()
    .sort()
    .map((s) => [s, r.versions(s).map((v) => [v.version, v.id, v.codec.canonical])]);
}

describe('schema registry across nodes', () => {
  it('concurrent registrations on several nodes: every node folds the same subjects, versions and ids; each answer matches them', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ node: fc.nat({ max: 2 }), subject: fc.constantFrom('s1', 's2'), schema: fc.nat({ max: CANDIDATES.length - 1 }) }), { minLength: 1, maxLength: 12 }),
        fc.scheduler(),
        async (ops, s) => {
          const log = createMemoryLog();
          const clock = createSimulatedClock(0);
          const nodes = [0, 1, 2].map(() => createSchemaRegistry({ store: createLogSchemaStore({ log: { ...log, append: s.scheduleFunction(log.append.bind(log)) } as typeof log }), clock, logger: silentLogger() }));
          const runs = ops.map((op) =>
            nodes[op.node]!.register(op.subject, { schema: CANDIDATES[op.schema]! }).then(
              (v) => ({ op, v }),
              (e: { code?: string }) => ({ op, code: e.code }),
            ),
          );
          const outcomes = await s.waitFor(Promise.all(runs));
          await Promise.all(nodes.map((n) => n.refresh()));
          const views = nodes.map(snapshot);
          expect(views[1]).toEqual(views[0]);
          expect(views[2]).toEqual(views[0]);
          for (const o of outcomes) {
            if ('code' in o) {
              expect(o.code).toBe('SCHEMA_INCOMPATIBLE');
              // refused: the subject does not hold it
              expect(nodes[0]!.versions(o.op.subject).some((v) => v.codec.canonical === parseSchema('AVRO', CANDIDATES[o.op.schema]!).canonical)).toBe(false);
            } else {
              const held = nodes[0]!.versions(o.op.subject).find((v) => v.version === o.v.version);
              expect(held?.id).toBe(o.v.id);
              expect(held?.codec.canonical).toBe(o.v.codec.canonical);
            }
          }
          // every version is compatible with the one before, and a schema text has one id across subjects
          const ids = new Map<string, number>();
          for (const subject of nodes[0]!.subjects()) {
            const vs = nodes[0]!.versions(subject);
            for (let i = 1; i < vs.length; i++) expect(vs[i]!.codec.backwardProblem(vs[i - 1]!.codec)).toBeUndefined();
            for (const v of vs) {
              expect(ids.get(v.codec.canonical) ?? v.id).toBe(v.id);
              ids.set(v.codec.canonical, v.id);
            }
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('raw records of Avro types', () => {
  it('the event of a record is a pure function of it: decoding it again (a replay) gives the same envelope', async () => {
    const registry = createSchemaRegistry({ store: createLogSchemaStore({ log: createMemoryLog() }), clock: createSimulatedClock(0), logger: silentLogger() });
    const schema = avroRecord([{ name: 'id', type: 'string' }, { name: 'amount', type: 'double' }, { name: 'raw', type: 'bytes' }]);
    const { id } = await registry.register('events.o-value', { schema });
    const spec = specFromDefinition({ name: 'o', topic: 'events.o', format: 'avro', keyPaths: ['payload.id'], valuePath: 'payload.amount' });
    const codec = parseSchema('AVRO', schema);
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.double({ noNaN: true, noDefaultInfinity: true }), fc.uint8Array({ maxLength: 16 }), fc.nat({ max: 1000 }), (key, amount, raw, offset) => {
        const record = { topic: 'events.o', partition: 1, offset, headers: {}, appendTime: 1_700_000_000_000, value: encodeWireValue(id, codec.encode({ id: key, amount, raw: Buffer.from(raw) })) };
        const a = decodeWireRecord(record, spec, registry);
        const b = decodeWireRecord({ ...record, value: new Uint8Array(record.value) }, spec, registry);
        expect(b).toEqual(a);
        expect(a).toMatchObject({ eventId: `events.o:1:${offset}`, eventType: 'o', timestamp: 1_700_000_000_000, payload: { id: key, amount, raw: Buffer.from(raw).toString('base64') }, metadata: { schemaId: id } });
      }),
      { numRuns: 100 },
    );
  });
});
