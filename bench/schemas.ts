/**
 * What Avro / Protobuf payloads cost in the processor (issue 10), in process, per CPU-second:
 * - the JSON hot path with and without the raw-record decoder attached to the bounds (a node with
 *   a schema registry): the scan takes JSON records before the decoder is ever asked, so the
 *   ratio should be 1 within the noise;
 * - `decodeRecord` of Confluent wire-format records (Avro, Protobuf) of the same order shape,
 *   through the general path (wire header, schema lookup, avsc / protobufjs decode, JSON-data check).
 * Side by side (ABBA passes, medians). Figures: BENCHMARKS.md, "Issue 10".
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeRecord, type RecordBounds } from '../src/actors/decode.ts';
import { silentLogger } from '../src/core/logger.ts';
import { createSimulatedClock } from '../src/core/clock.ts';
import type { LogRecord } from '../src/log/index.ts';
import { specFromDefinition } from '../src/model/index.ts';
import { createFileSchemaStore, createSchemaRegistry, decodeWireRecord, encodeWireValue, parseSchema } from '../src/schemas/index.ts';
import type { BenchContext } from './embedded.ts';
import { fmtInt } from './lib/stats.ts';

const AVRO = JSON.stringify({ type: 'record', name: 'Order', fields: [{ name: 'orderId', type: 'string' }, { name: 'total', type: 'double' }, { name: 'currency', type: 'string' }, { name: 'qty', type: 'long' }] });
const PROTO = 'syntax = "proto3"; message Order { string orderId = 1; double total = 2; string currency = 3; int64 qty = 4; }';

function perCpuSecond(n: number, run: () => void): number {
  const c0 = process.cpuUsage();
  run();
  const c = process.cpuUsage(c0);
  return (n * 1e6) / (c.user + c.system);
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const line = (label: string, v: number) => process.stdout.write(`${label.padEnd(62)} ${fmtInt(Math.round(v)).padStart(12)} /CPU-s\n`);

function abba(n: number, a: () => void, b: () => void): [number, number] {
  const ra: number[] = [];
  const rb: number[] = [];
  for (let pass = 0; pass < 6; pass++) {
    if (pass % 2 === 0) {
      ra.push(perCpuSecond(n, a));
      rb.push(perCpuSecond(n, b));
    } else {
      rb.push(perCpuSecond(n, b));
      ra.push(perCpuSecond(n, a));
    }
  }
  return [median(ra), median(rb)];
}

export async function benchSchemas(ctx: BenchContext): Promise<void> {
  const n = ctx.quick ? 50_000 : 200_000;
  const t0 = Date.parse('2026-01-15T10:00:00.000Z');
  const te = new TextEncoder();
  const dir = mkdtempSync(join(tmpdir(), 'keyflow-bench-schemas-'));
  const registry = createSchemaRegistry({ store: createFileSchemaStore({ dataDir: dir }), clock: createSimulatedClock(t0), logger: silentLogger() });
  const avroId = (await registry.register('events.o-avro-value', { schema: AVRO })).id;
  const protoId = (await registry.register('events.o-proto-value', { schema: PROTO, schemaType: 'PROTOBUF' })).id;
  const def = { partitions: 12, keyPaths: ['payload.orderId'], valuePath: 'payload.total' };
  const json = specFromDefinition({ name: 'o-json', topic: 'events.o-json', ...def });
  const avroSpec = specFromDefinition({ name: 'o-avro', topic: 'events.o-avro', format: 'avro', ...def });
  const protoSpec = specFromDefinition({ name: 'o-proto', topic: 'events.o-proto', format: 'protobuf', ...def });
  const avro = parseSchema('AVRO', AVRO);
  const proto = parseSchema('PROTOBUF', PROTO);
  const payload = (i: number) => ({ orderId: `o-${i % 20_000}`, total: (i % 10_000) / 100, currency: 'EUR', qty: i % 7 });
  const rec = (topic: string, i: number, value: Uint8Array): LogRecord => ({ topic, partition: 0, offset: i, key: null, headers: {}, value, appendTime: t0 + i });
  const jsonRecords = Array.from({ length: n }, (_, i) =>
    rec('events.o-json', i, te.encode(JSON.stringify({ eventId: `e-${i}`, timestamp: new Date(t0 + i).toISOString(), eventType: 'o-json', userId: null, deviceId: null, payload: payload(i), metadata: null }))),
  );
  const avroRecords = Array.from({ length: n }, (_, i) => rec('events.o-avro', i, encodeWireValue(avroId, avro.encode(payload(i)))));
  const protoRecords = Array.from({ length: n }, (_, i) => rec('events.o-proto', i, encodeWireValue(protoId, proto.encode(payload(i)), [0])));

  const plainBounds: RecordBounds<LogRecord> = { maxFutureSkewMs: 300_000, valueFieldOf: () => 'total' };
  const withRaw = (spec: typeof json): RecordBounds<LogRecord> => ({ ...plainBounds, decodeRaw: (r) => (spec.format ? decodeWireRecord(r, spec, registry) : undefined) });
  const all = (records: LogRecord[], b: RecordBounds<LogRecord>) => () => {
    for (const r of records) decodeRecord(r, b);
  };

  const [jsonPlain, jsonRaw] = abba(n, all(jsonRecords, plainBounds), all(jsonRecords, withRaw(json)));
  line('JSON decodeRecord, no raw decoder (median of 6)', jsonPlain);
  line('JSON decodeRecord, raw decoder attached (median of 6)', jsonRaw);
  process.stdout.write(`  ratio attached/plain: ${(jsonRaw / jsonPlain).toFixed(2)}\n`);
  const [avroRate, protoRate] = abba(n, all(avroRecords, withRaw(avroSpec)), all(protoRecords, withRaw(protoSpec)));
  line('Avro wire-format decodeRecord (median of 6)', avroRate);
  line('Protobuf wire-format decodeRecord (median of 6)', protoRate);
  process.stdout.write(`  ratio Avro/JSON: ${(avroRate / jsonPlain).toFixed(2)}, Protobuf/JSON: ${(protoRate / jsonPlain).toFixed(2)}\n`);
  rmSync(dir, { recursive: true, force: true });
}
