/**
 * Event-type definitions (model) and the types area: parsing with errors that name the field, the
 * definitions file (YAML and JSON, errors naming the entry), key paths, the compatibility rules —
 * with a property test that a schema change called backward compatible never refuses a payload the
 * previous schema accepted — and the catalog shared by two nodes through one store.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { KeyflowError } from '../../src/model/errors.ts';
import type { EventEnvelope } from '../../src/model/event.ts';
import {
  checkCompatible,
  createEventTypeRegistry,
  DEFAULT_EVENT_TYPES,
  keyFor,
  schemaBackwardProblem,
  specFromDefinition,
} from '../../src/model/event-types.ts';
import { compilePayloadSchema, createFileEventTypeStore, createTypeCatalog, readDefinitionsFile } from '../../src/types/index.ts';
import { createMemoryLog } from '../helpers/memory-log.ts';
import { tempDir } from '../helpers/wait.ts';

function thrown(f: () => unknown): KeyflowError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(KeyflowError);
    return e as KeyflowError;
  }
  throw new Error('expected a KeyflowError');
}

const envelope = (over: Partial<EventEnvelope> = {}): EventEnvelope => ({
  eventId: 'e-1',
  timestamp: 0,
  eventType: 't',
  userId: null,
  deviceId: null,
  payload: {},
  metadata: null,
  ...over,
});

describe('event-type definitions', () => {
  it('fills in the defaults: topic events.<name>, 6 partitions, no value field', () => {
    expect(specFromDefinition({ name: 'order.created' })).toEqual({ eventType: 'order.created', topic: 'events.order.created', partitions: 6, valueField: null });
  });

  it('refuses a bad definition with SCHEMA_VALIDATION_FAILED, one issue per field', () => {
    const e = thrown(() => specFromDefinition({ name: '', partitions: 0, keyPaths: ['payload.__proto__'], valuePath: 'payload.a.b', extra: 1 }));
    expect(e.code).toBe('SCHEMA_VALIDATION_FAILED');
    const paths = (e.details!.issues as { path: string }[]).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'partitions', 'keyPaths.0', 'valuePath', '(root)']));
  });

  it('refuses the platform topics', () => {
    expect(thrown(() => specFromDefinition({ name: 'x', topic: 'events.dlq' })).message).toContain('reserved');
  });

  it('key paths: first one holding a string or finite number wins, else the eventId; default deviceId ?? userId ?? eventId', () => {
    const spec = specFromDefinition({ name: 'k', keyPaths: ['payload.order.id', 'metadata.tenant', 'userId'] });
    expect(keyFor(spec, envelope({ payload: { order: { id: 'o-1' } }, userId: 'u' }))).toBe('o-1');
    expect(keyFor(spec, envelope({ payload: { order: { id: 42 } } }))).toBe('42');
    expect(keyFor(spec, envelope({ payload: { order: { id: '' } }, metadata: { tenant: 't-1' } }))).toBe('t-1');
    expect(keyFor(spec, envelope({ payload: { order: 'flat' }, userId: 'u-9' }))).toBe('u-9');
    expect(keyFor(spec, envelope({ payload: { order: { id: Number.NaN } } }))).toBe('e-1');
    expect(keyFor(DEFAULT_EVENT_TYPES[0], envelope({ deviceId: 'd', userId: 'u' }))).toBe('d');
    expect(keyFor(DEFAULT_EVENT_TYPES[0], envelope({ userId: 'u' }))).toBe('u');
  });

  it('the JSON Schema check names the failing path; a bad schema is refused when compiled', () => {
    const check = compilePayloadSchema({ type: 'object', required: ['a'], properties: { a: { type: 'object', properties: { b: { type: 'integer' } } } }, additionalProperties: false }, 't');
    expect(check({ a: { b: 1 } })).toBeUndefined();
    expect(check({ a: { b: 1.5 } })).toEqual([{ path: 'payload.a.b', message: 'must be integer' }]);
    expect(check({})).toEqual([{ path: 'payload.a', message: "must have required property 'a'" }]);
    expect(check({ a: {}, z: 1 })).toEqual([{ path: 'payload.z', message: 'must NOT have additional properties' }]);
    expect(compilePayloadSchema({ type: 'object', properties: { at: { type: 'string', format: 'date-time' } } }, 't')({ at: 'yesterday' })).toEqual([
      { path: 'payload.at', message: 'must match format "date-time"' },
    ]);
    const e = thrown(() => compilePayloadSchema({ type: 'object', properties: { a: { type: 'strnig' } } }, 't'));
    expect(e.code).toBe('SCHEMA_VALIDATION_FAILED');
    expect(e.details!.issues).toEqual([{ path: 'schema', message: expect.any(String) }]);
  });
});

describe('KEYFLOW_EVENT_TYPES_FILE', () => {
  it('reads YAML and JSON, as a list or under eventTypes', async () => {
    const tmp = await tempDir();
    try {
      await writeFile(join(tmp.dir, 'a.yaml'), 'eventTypes:\n  - name: a\n    valuePath: payload.v\n  - { name: b, partitions: 2 }\n');
      await writeFile(join(tmp.dir, 'b.json'), JSON.stringify([{ name: 'c', keyPaths: ['payload.id'] }]));
      expect(readDefinitionsFile(join(tmp.dir, 'a.yaml')).map((s) => [s.eventType, s.partitions, s.valueField])).toEqual([
        ['a', 6, 'v'],
        ['b', 2, null],
      ]);
      expect(readDefinitionsFile(join(tmp.dir, 'b.json'))[0]!.keyPaths).toEqual(['payload.id']);
    } finally {
      await tmp.remove();
    }
  });

  it('an error names the file, the entry (index and name) and the field; INVALID_CONFIG', async () => {
    const tmp = await tempDir();
    try {
      const f = join(tmp.dir, 't.yaml');
      await writeFile(f, 'eventTypes:\n  - name: ok\n  - name: broken\n    partitions: -1\n');
      const e = thrown(() => readDefinitionsFile(f));
      expect(e.code).toBe('INVALID_CONFIG');
      expect(e.message).toMatch(/t\.yaml: eventTypes\[1\] \(broken\).*partitions/);
      await writeFile(f, 'eventTypes: [ { name: a }, { name: a } ]');
      expect(thrown(() => readDefinitionsFile(f)).message).toContain('declared twice');
      await writeFile(f, 'eventTypes: [ { name: a ');
      expect(thrown(() => readDefinitionsFile(f)).message).toContain('not valid YAML/JSON');
      expect(thrown(() => readDefinitionsFile(join(tmp.dir, 'missing.yaml'))).message).toContain('cannot read');
    } finally {
      await tmp.remove();
    }
  });
});

describe('compatibility rules', () => {
  const base = specFromDefinition({ name: 'o', partitions: 4, keyPaths: ['payload.id'], valuePath: 'payload.v', windows: ['tumbling-1m'], schema: { type: 'object', properties: { id: { type: 'string' } } } });

  it.each([
    [{ topic: 'events.other' }, 'topic'],
    [{ partitions: 5 }, 'partitions'],
    [{ keyPaths: ['payload.other'] }, 'keyPaths'],
    [{ valuePath: null }, 'valuePath'],
    [{ windows: ['tumbling-5m'] }, 'windows'],
    [{ schema: { type: 'object', required: ['id'], properties: { id: { type: 'string' } } } }, 'schema'],
    [{ schema: { type: 'object', properties: { id: { type: 'number' } } } }, 'schema'],
    [{ schema: { type: 'object', properties: { id: { type: 'string', maxLength: 3 } } } }, 'schema'],
  ])('refuses %j as EVENT_TYPE_INCOMPATIBLE on %s', (change, field) => {
    const next = specFromDefinition({ name: 'o', partitions: 4, keyPaths: ['payload.id'], valuePath: 'payload.v', windows: ['tumbling-1m'], schema: base.schema, ...change });
    const e = thrown(() => checkCompatible(base, next));
    expect(e.code).toBe('EVENT_TYPE_INCOMPATIBLE');
    expect(e.details!.field).toBe(field);
  });

  it('takes a widened type, a dropped requirement, a documented new property; NONE takes any schema', () => {
    const def = { name: 'o', partitions: 4, keyPaths: ['payload.id'], valuePath: 'payload.v', windows: ['tumbling-1m'] };
    checkCompatible(base, specFromDefinition({ ...def, schema: { type: 'object', properties: { id: { type: ['string', 'number'] }, note: { description: 'x' } } } }));
    checkCompatible(base, specFromDefinition({ ...def, description: 'changed' , schema: base.schema }));
    checkCompatible(base, specFromDefinition({ ...def, compatibility: 'NONE', schema: { type: 'object', required: ['zzz'] } }));
  });

  it('a registry keeps one topic per type', () => {
    const r = createEventTypeRegistry();
    const e = thrown(() => r.register(specFromDefinition({ name: 'other', topic: 'events.iot.sensors' })));
    expect(e.code).toBe('EVENT_TYPE_INCOMPATIBLE');
  });

  // A tiny JSON Schema space, so that compatible pairs come up often.
  const types = ['string', 'number', 'integer', 'boolean', 'null'] as const;
  const leaf = fc.oneof(
    fc.constant({}),
    fc.constantFrom(...types).map((t) => ({ type: t })),
    fc.uniqueArray(fc.constantFrom(...types), { minLength: 1, maxLength: 3 }).map((t) => ({ type: t })),
  );
  const objectSchema = (prop: fc.Arbitrary<Record<string, unknown>>) =>
    fc
      .record({
        props: fc.dictionary(fc.constantFrom('a', 'b', 'c'), prop, { maxKeys: 3 }),
        required: fc.subarray(['a', 'b', 'c']),
        closed: fc.boolean(),
      })
      .map(({ props, required, closed }) => ({ type: 'object', properties: props, required, ...(closed ? { additionalProperties: false } : {}) }));
  const schema = objectSchema(fc.oneof({ weight: 3, arbitrary: leaf }, { weight: 1, arbitrary: objectSchema(leaf) }));
  const value = fc.oneof(fc.string({ maxLength: 2 }), fc.integer({ min: -3, max: 3 }), fc.constant(1.5), fc.boolean(), fc.constant(null));
  const payload = fc.dictionary(fc.constantFrom('a', 'b', 'c', 'd'), fc.oneof({ weight: 3, arbitrary: value }, { weight: 1, arbitrary: fc.dictionary(fc.constantFrom('a', 'b', 'c'), value, { maxKeys: 3 }) }), { maxKeys: 4 });

  it('property: a change called BACKWARD compatible accepts every payload the previous schema accepted', () => {
    let compatible = 0;
    let checked = 0;
    fc.assert(
      fc.property(schema, schema, fc.array(payload, { minLength: 20, maxLength: 20 }), (prev, next, payloads) => {
        if (schemaBackwardProblem(prev, next) !== undefined) return;
        compatible++;
        const before = compilePayloadSchema(prev, 'p');
        const after = compilePayloadSchema(next, 'p');
        for (const p of payloads) {
          if (before(p) !== undefined) continue;
          checked++;
          expect(after(p)).toBeUndefined();
        }
      }),
      { numRuns: 400 },
    );
    // the property was not vacuous
    expect(compatible).toBeGreaterThan(20);
    expect(checked).toBeGreaterThan(20);
  });
});

describe('type catalog over one store (two nodes)', () => {
  it('a type registered on one node reaches the other by polling; a change refused on one is refused on both', async () => {
    const tmp = await tempDir();
    try {
      const clock = createSimulatedClock(1_700_000_000_000);
      const log = createMemoryLog();
      const node = () => {
        const registry = createEventTypeRegistry();
        const catalog = createTypeCatalog({ registry, store: createFileEventTypeStore({ dataDir: tmp.dir }), log, clock, logger: silentLogger(), pollMs: 100 });
        return { registry, catalog };
      };
      const a = node();
      const b = node();
      await a.catalog.start();
      await b.catalog.start();
      const seen: string[] = [];
      b.registry.onChange((s) => seen.push(`${s.eventType}@${s.version}`));
      const r = await a.catalog.register({ name: 'order', schema: { type: 'object', properties: { n: { type: 'number' } } } });
      expect(r).toMatchObject({ changed: true, spec: { version: 1 } });
      expect(await log.partitions('events.order')).toBe(6); // the topic exists before anyone learns of the type
      clock.advance(100);
      await b.catalog.refresh();
      expect(seen).toEqual(['order@1']);
      expect(b.registry.resolve('order')?.checkPayload?.({ n: 'x' })).toEqual([{ path: 'payload.n', message: 'must be number' }]);
      await expect(b.catalog.register({ name: 'order', partitions: 7 })).rejects.toMatchObject({ code: 'EVENT_TYPE_INCOMPATIBLE' });
      const v2 = await b.catalog.register({ name: 'order', schema: { type: 'object', properties: { n: { type: ['number', 'string'] } } } });
      expect(v2.spec.version).toBe(2);
      await a.catalog.refresh();
      expect(a.registry.resolve('order')?.version).toBe(2);
      expect(a.registry.resolve('order')?.checkPayload?.({ n: 'x' })).toBeUndefined();
      await a.catalog.close();
      await b.catalog.close();
    } finally {
      await tmp.remove();
    }
  });
});

describe('a node with a bad KEYFLOW_EVENT_TYPES_FILE', () => {
  it('does not start: INVALID_CONFIG naming the file, the entry and the rule', async () => {
    const tmp = await tempDir();
    try {
      const f = join(tmp.dir, 'types.yaml');
      await writeFile(f, 'eventTypes:\n  - name: pay\n    enrichment:\n      - { rule: flag, name: big, path: payload.amount }\n');
      const config = loadConfig({ KEYFLOW_DATA_DIR: tmp.dir, KEYFLOW_PORT: '0', KEYFLOW_EVENT_TYPES_FILE: f });
      const err = await buildApp(config, { logger: silentLogger() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KeyflowError);
      expect((err as KeyflowError).code).toBe('INVALID_CONFIG');
      expect((err as KeyflowError).message).toMatch(/types\.yaml: eventTypes\[0\] \(pay\).*rule 'big': a flag needs above and\/or below/);
    } finally {
      await tmp.remove();
    }
  });
});
