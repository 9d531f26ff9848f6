/**
 * Avro and Protobuf event types on a whole embedded node (in-process): schemas registered through
 * the Schema Registry REST subset, events published through the API (bytes + schema id) and written
 * straight into the log in the Confluent wire format; their windows equal the reference model's.
 * Bad input — an unknown schema id, malformed Avro bytes, an incompatible schema change — each
 * gets a clear error (the API's code, the dead letter's reason, the registry's error_code) and
 * nothing else is lost: the partition keeps moving.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { WindowResult } from '../../src/model/index.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { encodeWireValue, parseSchema } from '../../src/schemas/index.ts';
import { type GraphQLRequestError, gql, gqlRaw, WINDOWS, type WindowResultOut } from '../helpers/graphql-client.ts';
import { diffResults, type RefEvent, referenceWindows } from '../helpers/reference-model.ts';
import { tempDir, waitFor } from '../helpers/wait.ts';

const ORDER_V1 = {
  type: 'record',
  name: 'Order',
  namespace: 'shop',
  fields: [
    { name: 'orderId', type: 'string' },
    { name: 'amount', type: 'double' },
    { name: 'ts', type: 'long' },
    { name: 'customer', type: ['null', 'string'], default: null },
  ],
};
/** v2 adds a field with a default: a v2 reader reads v1 data. */
const ORDER_V2 = { ...ORDER_V1, fields: [...ORDER_V1.fields, { name: 'channel', type: 'string', default: 'web' }] };
/** adds a field without a default: a reader of it cannot read v1 data. */
const ORDER_BAD = { ...ORDER_V1, fields: [...ORDER_V1.fields, { name: 'vat', type: 'double' }] };

const READING_PROTO = `syntax = "proto3";
package plant;
message Reading {
  string sensor = 1;
  double celsius = 2;
  int64 at = 3;
}`;

const REGISTER_TYPE = `mutation($input: EventTypeInput!) { registerEventType(input: $input) { changed eventType { name format subject timestampPath } } }`;
const PUBLISH_ENCODED = `mutation($input: EncodedEventInput!) { publishEncodedEvent(input: $input) { status eventId topic partition } }`;

describe('Avro and Protobuf event types on a running embedded node', () => {
  let tmp: { dir: string; remove(): Promise<void> };
  let app: App;
  let url: string;
  let base: string;
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 180_000;
  const avro = parseSchema('AVRO', JSON.stringify(ORDER_V1));
  const proto = parseSchema('PROTOBUF', READING_PROTO);
  let orderId1 = 0;
  let readingId = 0;
  let token: string | undefined;

  async function rest(method: string, path: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
    const res = await fetch(`${base}${path}`, {
      method,
      headers: { 'content-type': 'application/vnd.schemaregistry.v1+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    return { status: res.status, json: (await res.json()) as Record<string, unknown> };
  }

  async function windowsOf(eventType: string, key: string): Promise<WindowResult[]> {
    const d = await gql<{ windows: WindowResultOut[] }>(url, WINDOWS, { eventType, key, window: 'tumbling-1m' });
    return d.windows.map((w) => ({ ...w, windowStart: Date.parse(w.windowStart), windowEnd: Date.parse(w.windowEnd) }) as unknown as WindowResult);
  }

  async function deadLetters(topic: string): Promise<{ errorType: string; errorMessage: string; sourceOffset: string }[]> {
    const d = await gql<{ deadLetters: { errorType: string; errorMessage: string; sourceTopic: string; sourceOffset: string }[] }>(
      url,
      '{ deadLetters(limit: 100) { errorType errorMessage sourceTopic sourceOffset } }',
    );
    return d.deadLetters.filter((x) => x.sourceTopic === topic);
  }

  beforeAll(async () => {
    tmp = await tempDir('keyflow-schemas-');
    const config = loadConfig({ KEYFLOW_DATA_DIR: tmp.dir, KEYFLOW_PORT: '0', KEYFLOW_HOST: '127.0.0.1', KEYFLOW_SINKS: 'none', KEYFLOW_EVENT_TYPES_POLL_MS: '100' });
    app = await buildApp(config, { logger: silentLogger() });
    await app.start();
    url = app.url.replace('localhost', '127.0.0.1');
    base = url.replace(/\/graphql$/, '');
  });
  afterAll(async () => {
    await app?.stop();
    await tmp.remove();
  });

  it('registers schemas through the Schema Registry REST subset: ids, idempotence, lookups, registry error format', async () => {
    const first = await rest('POST', '/subjects/events.orders-value/versions', { schema: JSON.stringify(ORDER_V1) });
    expect(first.status).toBe(200);
    orderId1 = first.json.id as number;
    expect(orderId1).toEqual(expect.any(Number));
    // the same schema again (whitespace aside): the same id, no new version
    expect((await rest('POST', '/subjects/events.orders-value/versions', { schema: JSON.stringify(ORDER_V1, null, 2) })).json).toEqual({ id: orderId1 });
    expect((await rest('GET', `/schemas/ids/${orderId1}`)).json).toEqual({ schema: JSON.stringify(ORDER_V1) });
    expect((await rest('GET', '/subjects/events.orders-value/versions/latest')).json).toMatchObject({ subject: 'events.orders-value', id: orderId1, version: 1 });
    const p = await rest('POST', '/subjects/events.readings-value/versions', { schema: READING_PROTO, schemaType: 'PROTOBUF' });
    expect(p.status).toBe(200);
    readingId = p.json.id as number;
    expect(readingId).not.toBe(orderId1);
    expect((await rest('GET', `/schemas/ids/${readingId}`)).json).toEqual({ schema: READING_PROTO, schemaType: 'PROTOBUF' });
    expect(await rest('GET', '/schemas/ids/999999')).toEqual({ status: 404, json: { error_code: 40403, message: 'Schema not found' } });
    expect((await rest('GET', '/subjects/nope-value/versions/latest')).json).toMatchObject({ error_code: 40401 });
    expect((await rest('POST', '/subjects/x-value/versions', { schema: '{"type": "nonsense"}' })).json).toMatchObject({ error_code: 42201 });
    expect((await rest('GET', '/subjects')).json).toEqual(expect.arrayContaining(['events.orders-value', 'events.readings-value']));
  });

  it('an incompatible schema change is refused with error_code 409 / SCHEMA_INCOMPATIBLE; a compatible one is version 2', async () => {
    const check = await rest('POST', '/compatibility/subjects/events.orders-value/versions/latest', { schema: JSON.stringify(ORDER_BAD) });
    expect(check.json).toMatchObject({ is_compatible: false });
    const refused = await rest('POST', '/subjects/events.orders-value/versions', { schema: JSON.stringify(ORDER_BAD) });
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ error_code: 409, message: expect.stringContaining('vat') });
    const viaApi = (await gql(url, 'mutation($s: String!) { registerSchema(subject: "events.orders-value", schema: $s) { id } }', { s: JSON.stringify(ORDER_BAD) }).catch((e: unknown) => e)) as GraphQLRequestError;
    expect(viaApi.codes).toEqual(['SCHEMA_INCOMPATIBLE']);
    const v2 = await gql<{ registerSchema: { id: number; version: number } }>(url, 'mutation($s: String!) { registerSchema(subject: "events.orders-value", schema: $s) { id version } }', {
      s: JSON.stringify(ORDER_V2),
    });
    expect(v2.registerSchema.version).toBe(2);
    expect((await rest('GET', '/subjects/events.orders-value/versions')).json).toEqual([1, 2]);
    // a protobuf field number reused with another type
    const reused = await rest('POST', '/subjects/events.readings-value/versions', { schema: READING_PROTO.replace('double celsius = 2', 'string celsius = 2'), schemaType: 'PROTOBUF' });
    expect(reused).toMatchObject({ status: 409, json: { error_code: 409, message: expect.stringContaining('field number 2') } });
  });

  it('Avro events through the API and as raw wire records land in the same windows as the reference model says; bad records are dead-lettered and the partition moves on', async () => {
    const t = await gql<{ registerEventType: { eventType: Record<string, unknown> } }>(url, REGISTER_TYPE, {
      input: { name: 'order.avro', topic: 'events.orders', partitions: 3, format: 'AVRO', keyPaths: ['payload.orderId'], valuePath: 'payload.amount', timestampPath: 'payload.ts', windows: ['tumbling-1m'] },
    });
    expect(t.registerEventType.eventType).toEqual({ name: 'order.avro', format: 'AVRO', subject: 'events.orders-value', timestampPath: 'payload.ts' });
    const key = 'o-7';
    const partition = partitionForKey(key, 3);
    const orders = [5, 12.5, 7.25, 100, 3].map((amount, i) => ({ orderId: key, amount, ts: minute + i * 7_000, customer: i % 2 ? `c-${i}` : null }));
    // the first two through the API
    for (const o of orders.slice(0, 2)) {
      const r = await gql<{ publishEncodedEvent: { status: string; topic: string; partition: number } }>(url, PUBLISH_ENCODED, {
        input: { eventType: 'order.avro', schemaId: orderId1, payloadBytes: Buffer.from(avro.encode(o)).toString('base64') },
      });
      expect(r.publishEncodedEvent).toMatchObject({ status: 'ACCEPTED', topic: 'events.orders', partition });
    }
    // the rest as a Java producer writes them, with two bad records between them
    const wire = (o: (typeof orders)[number]) => encodeWireValue(orderId1, avro.encode(o));
    const good = await app.log.append('events.orders', [{ key, value: wire(orders[2]!), partition }]);
    await app.log.append('events.orders', [
      { key, value: encodeWireValue(424242, avro.encode(orders[3]!)), partition }, // unknown schema id
      { key, value: wire(orders[3]!).subarray(0, 9), partition }, // truncated Avro bytes
      { key, value: wire(orders[3]!), partition },
      { key, value: wire(orders[4]!), partition },
    ]);
    const expected = referenceWindows(
      orders.map((o): RefEvent => ({ eventType: 'order.avro', key, timestamp: o.ts, userId: null, payload: o })),
      { specs: ['tumbling-1m'], valueField: () => 'amount', maxOutOfOrderMs: 10_000 },
    ).results;
    await waitFor(async () => diffResults(await windowsOf('order.avro', key), expected, { revision: false, final: false }).length === 0, { timeoutMs: 20_000 });
    const dead = await waitFor(async () => {
      const d = await deadLetters('events.orders');
      return d.length === 2 ? d : undefined;
    });
    const byOffset = dead.sort((a, b) => Number(a.sourceOffset) - Number(b.sourceOffset));
    expect(byOffset.map((d) => [Number(d.sourceOffset) - good[0]!.offset, d.errorType])).toEqual([
      [1, 'UNKNOWN_SCHEMA'],
      [2, 'SCHEMA_VALIDATION_FAILED'],
    ]);
    expect(byOffset[0]!.errorMessage).toContain('schema id 424242');
    expect(byOffset[1]!.errorMessage).toContain('malformed Avro bytes');
  });

  it('the API refuses an unknown schema id, malformed bytes and a schema of another subject, appending nothing', async () => {
    const before = await app.log.endOffsets('events.orders');
    const publish = (input: Record<string, unknown>) => gqlRaw(url, PUBLISH_ENCODED, { input: { eventType: 'order.avro', ...input } });
    const unknown = await publish({ schemaId: 31337, payloadBytes: Buffer.from(avro.encode({ orderId: 'x', amount: 1, ts: minute, customer: null })).toString('base64') });
    expect(unknown.body.errors?.[0]?.extensions?.code).toBe('UNKNOWN_SCHEMA');
    const malformed = await publish({ schemaId: orderId1, payloadBytes: Buffer.from([2, 0x78, 0xff]).toString('base64') });
    expect(malformed.body.errors?.[0]?.extensions).toMatchObject({ code: 'SCHEMA_VALIDATION_FAILED', details: { issues: [{ path: 'payload' }] } });
    const otherSubject = await publish({ schemaId: readingId, payloadBytes: Buffer.from(proto.encode({ sensor: 's', celsius: 1, at: minute })).toString('base64') });
    expect(otherSubject.body.errors?.[0]?.extensions?.code).toBe('UNKNOWN_SCHEMA');
    expect(otherSubject.body.errors?.[0]?.message).toContain("not a version of subject 'events.orders-value'");
    expect(await app.log.endOffsets('events.orders')).toEqual(before);
  });

  it('Protobuf events (API and wire format with message indexes) are windowed like JSON ones', async () => {
    await gql(url, REGISTER_TYPE, {
      input: { name: 'plant.reading', topic: 'events.readings', partitions: 2, format: 'PROTOBUF', keyPaths: ['payload.sensor'], valuePath: 'payload.celsius', timestampPath: 'payload.at', windows: ['tumbling-1m'] },
    });
    const key = 'boiler-1';
    const partition = partitionForKey(key, 2);
    const readings = [20.5, 21, 19.75, 22].map((celsius, i) => ({ sensor: key, celsius, at: minute + 60_000 + i * 9_000 }));
    await gql(url, PUBLISH_ENCODED, { input: { eventType: 'plant.reading', schemaId: readingId, payloadBytes: Buffer.from(proto.encode(readings[0]!)).toString('base64') } });
    await app.log.append(
      'events.readings',
      readings.slice(1).map((r) => ({ key, value: encodeWireValue(readingId, proto.encode(r), [0]), partition })),
    );
    const expected = referenceWindows(
      readings.map((r): RefEvent => ({ eventType: 'plant.reading', key, timestamp: r.at, userId: null, payload: r })),
      { specs: ['tumbling-1m'], valueField: () => 'celsius', maxOutOfOrderMs: 10_000 },
    ).results;
    await waitFor(async () => diffResults(await windowsOf('plant.reading', key), expected, { revision: false, final: false }).length === 0, { timeoutMs: 20_000 });
  });

  it('schemas and types survive a restart of the node; with authentication on, the registry routes need a credential', async () => {
    await app.stop();
    const config = loadConfig({ KEYFLOW_DATA_DIR: tmp.dir, KEYFLOW_PORT: '0', KEYFLOW_HOST: '127.0.0.1', KEYFLOW_SINKS: 'none', KEYFLOW_API_TOKENS: 'schemas-token' });
    app = await buildApp(config, { logger: silentLogger() });
    await app.start();
    url = app.url.replace('localhost', '127.0.0.1');
    base = url.replace(/\/graphql$/, '');
    const anonymous = await rest('GET', `/schemas/ids/${orderId1}`);
    expect(anonymous).toMatchObject({ status: 401, json: { error_code: 401 } });
    const refused = await rest('POST', '/subjects/events.orders-value/versions', { schema: JSON.stringify(ORDER_V2) });
    expect(refused.status).toBe(401);
    token = 'schemas-token';
    expect((await rest('GET', `/schemas/ids/${orderId1}`)).json).toEqual({ schema: JSON.stringify(ORDER_V1) });
    expect((await rest('GET', '/subjects/events.orders-value/versions')).json).toEqual([1, 2]);
  });
});
