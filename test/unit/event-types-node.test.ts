/**
 * Users' event types on a whole embedded node (in-process): a type declared in
 * KEYFLOW_EVENT_TYPES_FILE and one registered with `registerEventType` while the node runs are
 * both processed into windows without a restart; their payload schemas refuse bad events at the
 * API (with the failing path) and dead-letter bad records written straight into the log; an
 * incompatible change is refused with EVENT_TYPE_INCOMPATIBLE; dead letters of a type registered
 * too late are redriven once; the registration survives a restart of the node.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { GraphQLRequestError, gql, gqlRaw, KEY_STATE, PUBLISH_EVENTS, WINDOWS, type KeyStateOut, type WindowResultOut } from '../helpers/graphql-client.ts';
import { tempDir, waitFor } from '../helpers/wait.ts';

const REGISTER = `mutation($input: EventTypeInput!) {
  registerEventType(input: $input) { changed eventType { name topic partitions keyPaths valuePath windows version schema } }
}`;

const FILE_TYPES = `
eventTypes:
  - name: shipment
    topic: events.shipments
    partitions: 3
    keyPaths: [payload.parcel]
    valuePath: payload.weight
    windows: [tumbling-1m]
`;

const ORDER = {
  name: 'order.created',
  partitions: 4,
  keyPaths: ['payload.orderId', 'userId'],
  valuePath: 'payload.total',
  schema: {
    type: 'object',
    required: ['orderId', 'total'],
    properties: { orderId: { type: 'string' }, total: { type: 'number' }, note: { type: 'string' } },
  },
};

describe('event types on a running embedded node', () => {
  let tmp: { dir: string; remove(): Promise<void> };
  let app: App;
  let url: string;
  // a minute of event time that ended two minutes ago: inside the future-skew bound, one tumbling-1m window
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
  const at = (s: number) => new Date(minute + s * 1000).toISOString();

  async function startNode(env: Record<string, string> = {}): Promise<void> {
    const config = loadConfig({ KEYFLOW_DATA_DIR: tmp.dir, KEYFLOW_PORT: '0', KEYFLOW_HOST: '127.0.0.1', KEYFLOW_SINKS: 'none', KEYFLOW_EVENT_TYPES_POLL_MS: '100', ...env });
    app = await buildApp(config, { logger: silentLogger() });
    await app.start();
    url = app.url.replace('localhost', '127.0.0.1');
  }

  async function windowsOf(eventType: string, key: string): Promise<WindowResultOut[]> {
    const d = await gql<{ windows: WindowResultOut[] }>(url, WINDOWS, { eventType, key });
    return d.windows;
  }

  beforeAll(async () => {
    tmp = await tempDir('keyflow-types-');
    const file = join(tmp.dir, 'types.yaml');
    await writeFile(file, FILE_TYPES);
    await startNode({ KEYFLOW_EVENT_TYPES_FILE: file });
  });
  afterAll(async () => {
    await app?.stop();
    await tmp.remove();
  });

  it('a type from KEYFLOW_EVENT_TYPES_FILE is routed by its key path and aggregated over its value path', async () => {
    const events = [1, 2, 3].map((i) => ({ eventType: 'shipment', timestamp: at(i), payload: { parcel: 'p-1', weight: i * 10 } }));
    const d = await gql<{ publishEvents: { topic: string; partition: number }[] }>(url, PUBLISH_EVENTS, { inputs: events });
    expect(d.publishEvents.every((r) => r.topic === 'events.shipments' && r.partition === partitionForKey('p-1', 3))).toBe(true);
    const w = await waitFor(async () => (await windowsOf('shipment', 'p-1')).find((x) => x.count === 3), { timeoutMs: 20_000 });
    expect(w).toMatchObject({ window: 'tumbling-1m', sum: 60, min: 10, max: 30 });
    // its own windows only: the node's other specs are not kept for it
    expect(new Set((await windowsOf('shipment', 'p-1')).map((x) => x.window))).toEqual(new Set(['tumbling-1m']));
  });

  it('a type registered while the node runs is processed without a restart', async () => {
    const r = await gql<{ registerEventType: { changed: boolean; eventType: Record<string, unknown> } }>(url, REGISTER, { input: ORDER });
    expect(r.registerEventType).toMatchObject({
      changed: true,
      eventType: { name: 'order.created', topic: 'events.order.created', partitions: 4, keyPaths: ['payload.orderId', 'userId', 'eventId'], valuePath: 'payload.total', version: 1 },
    });
    const events = [
      { eventType: 'order.created', timestamp: at(5), userId: 'u-1', payload: { orderId: 'o-1', total: 10 } },
      { eventType: 'order.created', timestamp: at(6), userId: 'u-2', payload: { orderId: 'o-1', total: 32.5 } },
      { eventType: 'order.created', timestamp: at(7), userId: 'u-3', payload: { orderId: 'o-2', total: 1 } },
    ];
    await gql(url, PUBLISH_EVENTS, { inputs: events });
    const w = await waitFor(async () => (await windowsOf('order.created', 'o-1')).find((x) => x.window === 'tumbling-1m' && x.count === 2), { timeoutMs: 20_000 });
    expect(w).toMatchObject({ sum: 42.5, distinctUsers: 2 });
    const ks = await gql<{ keyState: KeyStateOut }>(url, KEY_STATE, { eventType: 'order.created', key: 'o-2' });
    expect(ks.keyState).toMatchObject({ topic: 'events.order.created', partition: partitionForKey('o-2', 4), eventsProcessed: 1 });
    // the same definition again changes nothing
    const again = await gql<{ registerEventType: { changed: boolean; eventType: { version: number } } }>(url, REGISTER, { input: ORDER });
    expect(again.registerEventType).toEqual({ changed: false, eventType: expect.objectContaining({ version: 1 }) });
  });

  it('a payload that breaks the schema is refused with SCHEMA_VALIDATION_FAILED naming the path; nothing of the batch is appended', async () => {
    const before = await app.log.endOffsets('events.order.created');
    const { body } = await gqlRaw(url, PUBLISH_EVENTS, {
      inputs: [
        { eventType: 'order.created', timestamp: at(8), payload: { orderId: 'o-3', total: 5 } },
        { eventType: 'order.created', timestamp: at(8), payload: { orderId: 'o-3', total: 'x' } },
      ],
    });
    expect(body.errors?.[0]?.extensions?.code).toBe('SCHEMA_VALIDATION_FAILED');
    const details = body.errors?.[0]?.extensions?.details as { errors: { index: number; issues: { path: string }[] }[] };
    expect(details.errors).toEqual([expect.objectContaining({ index: 1, issues: [{ path: 'payload.total', message: 'must be number' }] })]);
    expect(await app.log.endOffsets('events.order.created')).toEqual(before);
  });

  it('a record written straight into the log that breaks the schema is dead-lettered with the path; the partition moves on', async () => {
    const key = 'o-raw';
    const partition = partitionForKey(key, 4);
    const bad = { eventId: 'raw-bad-1', eventType: 'order.created', timestamp: at(9), payload: { orderId: key, total: 'lots' } };
    const good = { eventId: 'raw-good-1', eventType: 'order.created', timestamp: at(10), payload: { orderId: key, total: 7 } };
    await app.log.append('events.order.created', [
      { key, value: JSON.stringify(bad), partition },
      { key, value: JSON.stringify(good), partition },
    ]);
    const dead = await waitFor(
      async () => {
        const d = await gql<{ deadLetters: { errorType: string; errorMessage: string; sourceTopic: string }[] }>(url, '{ deadLetters(limit: 10) { errorType errorMessage sourceTopic } }');
        return d.deadLetters.find((x) => x.sourceTopic === 'events.order.created');
      },
      { timeoutMs: 20_000 },
    );
    expect(dead.errorType).toBe('SCHEMA_VALIDATION_FAILED');
    expect(dead.errorMessage).toContain('payload.total');
    const w = await waitFor(async () => (await windowsOf('order.created', key)).find((x) => x.window === 'tumbling-1m' && x.count === 1), { timeoutMs: 20_000 });
    expect(w.sum).toBe(7);
  });

  it('a change the rules refuse is EVENT_TYPE_INCOMPATIBLE naming the field; a backward-compatible schema change is version 2', async () => {
    for (const [change, field] of [
      [{ partitions: 8 }, 'partitions'],
      [{ keyPaths: ['userId'] }, 'keyPaths'],
      [{ valuePath: 'payload.note' }, 'valuePath'],
      [{ schema: { ...ORDER.schema, required: ['orderId', 'total', 'note'] } }, 'schema'],
    ] as const) {
      const err = await gql(url, REGISTER, { input: { ...ORDER, ...change } }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GraphQLRequestError);
      const e = (err as GraphQLRequestError).errors[0]!;
      expect(e.extensions?.code).toBe('EVENT_TYPE_INCOMPATIBLE');
      expect((e.extensions?.details as { field?: string } | undefined)?.field).toBe(field);
    }
    const widened = { ...ORDER, schema: { ...ORDER.schema, properties: { ...ORDER.schema.properties, coupon: { description: 'free text' } } } };
    const r = await gql<{ registerEventType: { changed: boolean; eventType: { version: number } } }>(url, REGISTER, { input: widened });
    expect(r.registerEventType).toMatchObject({ changed: true, eventType: { version: 2 } });
  });

  it('a definition that does not parse is SCHEMA_VALIDATION_FAILED naming the field, and registers nothing', async () => {
    const err = (await gql(url, REGISTER, { input: { name: 'bad type!', valuePath: 'total' } }).catch((e: unknown) => e)) as GraphQLRequestError;
    expect(err.codes).toEqual(['SCHEMA_VALIDATION_FAILED']);
    const paths = ((err.errors[0]!.extensions?.details as { issues?: { path: string }[] } | undefined)?.issues ?? []).map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['name', 'valuePath']));
    const schemaErr = (await gql(url, REGISTER, { input: { name: 'bad.schema', schema: { type: 'object', properties: { a: { type: 'strnig' } } } } }).catch((e: unknown) => e)) as GraphQLRequestError;
    expect(schemaErr.codes).toEqual(['SCHEMA_VALIDATION_FAILED']);
    const types = await gql<{ eventTypes: { name: string }[] }>(url, '{ eventTypes { name } }');
    expect(types.eventTypes.map((t) => t.name)).not.toContain('bad.schema');
  });

  it('dead letters of a type registered too late are redriven once through the admin mutation, and counted in its windows', async () => {
    const REDRIVE = `mutation($filter: DeadLetterFilter, $dryRun: Boolean) {
      redriveDeadLetters(filter: $filter, dryRun: $dryRun) { dryRun matched redriven items { id outcome reason target { topic partition offset } } }
    }`;
    // a producer writes 'refund' events before anyone registered the type: dead-lettered
    const refunds = [1, 2].map((i) => ({ eventId: `refund-${i}`, eventType: 'refund', timestamp: at(40 + i), payload: { orderId: 'o-1', amount: i } }));
    await app.log.append('events.order.created', refunds.map((e) => ({ key: 'o-1', value: JSON.stringify(e), partition: partitionForKey('o-1', 4) })));
    type Item = { id: string; outcome: string; reason: string | null; target: { topic: string; partition: number; offset: string | null } | null };
    type Report = { redriveDeadLetters: { dryRun: boolean; matched: number; redriven: number; items: Item[] } };
    const filter = { errorTypes: ['UNKNOWN_EVENT_TYPE'], topics: ['events.order.created'] };
    await waitFor(async () => (await gql<Report>(url, REDRIVE, { filter, dryRun: true })).redriveDeadLetters.matched === 2, { timeoutMs: 20_000 });
    const early = await gql<Report>(url, REDRIVE, { filter });
    expect(early.redriveDeadLetters.items.map((i) => i.outcome)).toEqual(['STILL_INVALID', 'STILL_INVALID']);
    await gql(url, REGISTER, { input: { name: 'refund', partitions: 2, keyPaths: ['payload.orderId'], valuePath: 'payload.amount' } });
    const dry = await gql<Report>(url, REDRIVE, { filter, dryRun: true });
    expect(dry.redriveDeadLetters).toMatchObject({ dryRun: true, redriven: 0 });
    expect(dry.redriveDeadLetters.items.map((i) => i.outcome)).toEqual(['WOULD_REDRIVE', 'WOULD_REDRIVE']);
    const done = await gql<Report>(url, REDRIVE, { filter });
    expect(done.redriveDeadLetters.redriven).toBe(2);
    expect(done.redriveDeadLetters.items.every((i) => i.target?.topic === 'events.refund' && i.target.partition === partitionForKey('o-1', 2))).toBe(true);
    const twice = await gql<Report>(url, REDRIVE, { filter });
    expect(twice.redriveDeadLetters.items.map((i) => i.outcome)).toEqual(['ALREADY_REDRIVEN', 'ALREADY_REDRIVEN']);
    const w = await waitFor(async () => (await windowsOf('refund', 'o-1')).find((x) => x.window === 'tumbling-1m' && x.count === 2), { timeoutMs: 20_000 });
    expect(w.sum).toBe(3);
    // each dead letter shows its redrive
    const d = await gql<{ deadLetters: { id: string; redrive: { state: string; target: { topic: string } } | null }[] }>(url, '{ deadLetters(limit: 50) { id redrive { state target { topic } } } }');
    for (const item of done.redriveDeadLetters.items) expect(d.deadLetters.find((x) => x.id === item.id)?.redrive).toEqual({ state: 'DONE', target: { topic: 'events.refund' } });
    expect(await app.log.endOffsets('events.refund')).toEqual([expect.any(Number), expect.any(Number)]);
    expect((await app.log.endOffsets('events.refund')).reduce((a, b) => a + b, 0)).toBe(2);
  });

  it('a type with enrichment rules: each processed event goes to events.processed, enriched, with its recordId', async () => {
    await gql(url, REGISTER, {
      input: {
        name: 'payment',
        keyPaths: ['userId'],
        valuePath: 'payload.amount',
        enrichment: [
          { rule: 'category', name: 'size', path: 'payload.amount', thresholds: [{ upTo: 10, label: 'micro' }, { upTo: 100, label: 'small' }, { upTo: 1000, label: 'medium' }], otherwise: 'large' },
          { rule: 'flag', name: 'highValue', path: 'payload.amount', above: 1000 },
        ],
      },
    });
    await gql(url, PUBLISH_EVENTS, {
      inputs: [
        { eventId: 'pay-1', eventType: 'payment', timestamp: at(50), userId: 'u-1', payload: { amount: 5 } },
        { eventId: 'pay-2', eventType: 'payment', timestamp: at(51), userId: 'u-1', payload: { amount: 5000 } },
      ],
    });
    const read = async () => {
      const ends = await app.log.endOffsets('events.processed');
      const all = (await Promise.all(ends.map((n, p) => (n > 0 ? app.log.read('events.processed', p, 0, n) : [])))).flat();
      return all.map((r) => JSON.parse(new TextDecoder().decode(r.value)) as { recordId: string; original: { eventId: string }; enriched: Record<string, unknown>; metadata: { stage: string } });
    };
    const processed = await waitFor(async () => {
      const all = (await read()).filter((p) => p.original.eventId.startsWith('pay-'));
      return all.length === 2 ? all : undefined;
    }, { timeoutMs: 20_000 });
    expect(processed.map((p) => [p.original.eventId, p.enriched, p.metadata.stage]).sort()).toEqual([
      ['pay-1', { size: 'micro', highValue: false }, 'processed'],
      ['pay-2', { size: 'large', highValue: true }, 'processed'],
    ]);
    expect(processed.every((p) => /^[0-9a-f]{64}$/.test(p.recordId))).toBe(true);
  });

  it('registrations survive a restart (without the file): the type is known and its windows are still there', async () => {
    await app.stop();
    await startNode();
    const types = await gql<{ eventTypes: { name: string; version: number }[] }>(url, '{ eventTypes { name version } }');
    expect(types.eventTypes).toEqual(expect.arrayContaining([{ name: 'order.created', version: 2 }, { name: 'shipment', version: 1 }]));
    const w = await waitFor(async () => (await windowsOf('order.created', 'o-1')).find((x) => x.window === 'tumbling-1m' && x.count === 2), { timeoutMs: 20_000 });
    expect(w.sum).toBe(42.5);
    // and new events of it are still processed
    await gql(url, PUBLISH_EVENTS, { inputs: [{ eventType: 'order.created', timestamp: at(20), payload: { orderId: 'o-1', total: 0.5 } }] });
    await waitFor(async () => (await windowsOf('order.created', 'o-1')).find((x) => x.window === 'tumbling-1m' && x.count === 3), { timeoutMs: 20_000 });
  });
});
