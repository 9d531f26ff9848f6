/**
 * What a payload schema costs (issue 10), in process, per CPU-second of one core:
 * - the processor's record decode (`decodeRecord` with the event bounds) of 200k `order.created`
 *   records, without a schema and with its JSON Schema (ajv, compiled once);
 * - the gateway's ingest validation + append (`publishBatch` of 100 events over an in-memory log
 *   stub and the memory dedupe), without and with the schema.
 * Side by side, so the ratio holds on a noisy machine. Figures: BENCHMARKS.md, "Issue 10".
 */
import { decodeRecord } from '../src/actors/decode.ts';
import { createIngest, createMemoryDedupe } from '../src/ingest/index.ts';
import type { AppendResult, EventLog, ProduceRecord } from '../src/log/index.ts';
import { checkPayloadSchema, createEventTypeRegistry, type EventTypeSpec, specFromDefinition } from '../src/model/index.ts';
import { compileSpec } from '../src/types/index.ts';
import type { BenchContext } from './embedded.ts';
import { fmtInt } from './lib/stats.ts';

const SCHEMA = {
  type: 'object',
  required: ['orderId', 'total', 'currency'],
  properties: {
    orderId: { type: 'string', minLength: 1 },
    total: { type: 'number', minimum: 0 },
    currency: { type: 'string', enum: ['EUR', 'USD', 'GBP'] },
    items: { type: 'array', items: { type: 'object', required: ['sku'], properties: { sku: { type: 'string' }, qty: { type: 'integer' } } } },
  },
};

function specs(): { plain: EventTypeSpec; schema: EventTypeSpec } {
  const def = { name: 'order.created', partitions: 12, keyPaths: ['payload.orderId'], valuePath: 'payload.total' };
  return { plain: compileSpec(specFromDefinition(def), 1), schema: compileSpec(specFromDefinition({ ...def, schema: SCHEMA }), 1) };
}

function perCpuSecond(n: number, run: () => void): number {
  const c0 = process.cpuUsage();
  run();
  const c = process.cpuUsage(c0);
  return (n * 1e6) / (c.user + c.system);
}

async function perCpuSecondAsync(n: number, run: () => Promise<void>): Promise<number> {
  const c0 = process.cpuUsage();
  await run();
  const c = process.cpuUsage(c0);
  return (n * 1e6) / (c.user + c.system);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const line = (label: string, v: number) => process.stdout.write(`${label.padEnd(58)} ${fmtInt(Math.round(v)).padStart(12)} /CPU-s\n`);

export async function benchTypes(ctx: BenchContext): Promise<void> {
  const { plain, schema } = specs();
  const n = ctx.quick ? 50_000 : 200_000;
  const te = new TextEncoder();
  const t0 = Date.parse('2026-01-15T10:00:00.000Z');
  const records = Array.from({ length: n }, (_, i) => ({
    value: te.encode(
      JSON.stringify({
        eventId: `e-${i}`,
        timestamp: new Date(t0 + i).toISOString(),
        eventType: 'order.created',
        userId: `u-${i % 5000}`,
        deviceId: null,
        payload: { orderId: `o-${i % 20_000}`, total: (i % 10_000) / 100, currency: 'EUR', items: [{ sku: 'a', qty: 1 }] },
        metadata: null,
      }),
    ),
    appendTime: t0 + i,
  }));
  const boundsOf = (spec: EventTypeSpec) => ({ maxFutureSkewMs: 300_000, valueFieldOf: () => spec.valueField, checkPayload: (e: Parameters<typeof checkPayloadSchema>[0]) => checkPayloadSchema(e, spec) });
  const decodeAll = (spec: EventTypeSpec) => () => {
    const b = boundsOf(spec);
    for (const r of records) decodeRecord(r, b);
  };
  // the check alone: ajv's compiled validator on one payload shape
  const payloads = records.slice(0, 10_000).map((r) => JSON.parse(new TextDecoder().decode(r.value)).payload as Record<string, unknown>);
  const check = schema.checkPayload!;
  const alone: number[] = [];
  for (let pass = 0; pass < 5; pass++) alone.push(perCpuSecond(payloads.length * 20, () => {
    for (let k = 0; k < 20; k++) for (const p of payloads) check(p);
  }));
  line('JSON Schema check alone (median of 5)', median(alone));
  // ABBA passes so warm-up and GC do not favour one side; medians
  const dA: number[] = [];
  const dB: number[] = [];
  for (let pass = 0; pass < 6; pass++) {
    if (pass % 2 === 0) {
      dA.push(perCpuSecond(n, decodeAll(plain)));
      dB.push(perCpuSecond(n, decodeAll(schema)));
    } else {
      dB.push(perCpuSecond(n, decodeAll(schema)));
      dA.push(perCpuSecond(n, decodeAll(plain)));
    }
  }
  line('processor decode, no schema (median of 6)', median(dA));
  line('processor decode, JSON Schema (median of 6)', median(dB));
  process.stdout.write(`  ratio with/without schema: ${(median(dB) / median(dA)).toFixed(2)}\n`);

  // the gateway's path: validation, routing, encoding, dedupe, append (to a stub that only numbers records)
  const stub = { next: 0 };
  const log = {
    kind: 'embedded',
    ensureTopics: async () => {},
    append: async (topic: string, rs: ProduceRecord[]): Promise<AppendResult[]> => rs.map((r) => ({ topic, partition: r.partition ?? 0, offset: stub.next++ })),
  } as unknown as EventLog;
  const batches = ctx.quick ? 200 : 1000;
  const makeIngest = (spec: EventTypeSpec) => {
    const registry = createEventTypeRegistry([spec]);
    return createIngest({ log, registry, dedupe: createMemoryDedupe({ maxEntries: 2_000_000, ttlMs: 3_600_000 }), limits: { maxEventBytes: 65_536, maxBatch: 1000, maxFutureSkewMs: 10 * 365 * 86_400_000 } });
  };
  let id = 0;
  const batch = () =>
    Array.from({ length: 100 }, (_, i) => ({
      eventId: `b-${id++}`,
      eventType: 'order.created',
      timestamp: '2026-01-15T10:00:00.000Z',
      userId: `u-${i}`,
      payload: { orderId: `o-${i}`, total: i / 2, currency: 'EUR', items: [{ sku: 'a', qty: 1 }] },
    }));
  const iA: number[] = [];
  const iB: number[] = [];
  for (let pass = 0; pass < 6; pass++) {
    const ia = makeIngest(plain);
    const ib = makeIngest(schema);
    const inputsA = Array.from({ length: batches }, batch);
    const inputsB = Array.from({ length: batches }, batch);
    const runA = () => perCpuSecondAsync(batches * 100, async () => {
      for (const inputs of inputsA) await ia.publishBatch(inputs);
    });
    const runB = () => perCpuSecondAsync(batches * 100, async () => {
      for (const inputs of inputsB) await ib.publishBatch(inputs);
    });
    if (pass % 2 === 0) {
      iA.push(await runA());
      iB.push(await runB());
    } else {
      iB.push(await runB());
      iA.push(await runA());
    }
  }
  line('ingest publishBatch(100), no schema (median of 6)', median(iA));
  line('ingest publishBatch(100), JSON Schema (median of 6)', median(iB));
  process.stdout.write(`  ratio with/without schema: ${(median(iB) / median(iA)).toFixed(2)}\n`);
}
