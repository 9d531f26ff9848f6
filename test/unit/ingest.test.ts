/** Ingest over the in-memory log: routing, headers, all-or-nothing batches, idempotency under concurrency, retries, registered types (key paths, payload schemas). */
import { type ContextManager, ROOT_CONTEXT, context, trace } from '@opentelemetry/api';
import { describe, expect, it } from 'vitest';
import { createIngest } from '../../src/ingest/ingest.ts';
import { DEFAULT_EVENT_TYPES, createEventTypeRegistry, specFromDefinition } from '../../src/model/event-types.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { compileSpec } from '../../src/types/index.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import { createMemoryDedupe } from '../../src/ingest/dedupe/memory.ts';
import type { Dedupe } from '../../src/ingest/dedupe/port.ts';
import { sensorEvent } from '../helpers/graphql-harness.ts';
import { createMemoryLog } from '../helpers/memory-log.ts';

async function setup(opts: { dedupe?: Dedupe; maxBatch?: number } = {}) {
  const log = createMemoryLog();
  const registry = createEventTypeRegistry(DEFAULT_EVENT_TYPES);
  const ingest = createIngest({
    log,
    registry,
    dedupe: opts.dedupe ?? createMemoryDedupe({ maxEntries: 10_000, ttlMs: 3_600_000 }),
    limits: { maxEventBytes: 4096, maxBatch: opts.maxBatch ?? 100 },
    retryBaseDelayMs: 1,
  });
  return { log, registry, ingest };
}

async function rejection(p: Promise<unknown>): Promise<KeyflowError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(KeyflowError);
    return e as KeyflowError;
  }
  throw new Error('expected a rejection');
}

describe('ingest', () => {
  it('creates the topic on first use (so a fresh log works) and appends one call per topic', async () => {
    const { log, ingest } = await setup();
    const receipts = await ingest.publishBatch([
      sensorEvent({ eventId: '1' }),
      sensorEvent({ eventId: '2', eventType: 'transaction', userId: 'u', deviceId: null, payload: { amount: 3 } }),
      sensorEvent({ eventId: '3', deviceId: 'dev-2' }),
    ]);
    expect(receipts.map((r) => r.topic)).toEqual(['events.iot.sensors', 'events.transactions', 'events.iot.sensors']);
    expect(await log.partitions('events.iot.sensors')).toBe(12);
    expect(log.appendCalls).toBe(2);
  });

  it('uses the traceparent of the active span when there is one', async () => {
    const { log, ingest } = await setup();
    const spanContext = { traceId: 'a'.repeat(32), spanId: 'b'.repeat(16), traceFlags: 1 };
    const active = trace.setSpanContext(ROOT_CONTEXT, spanContext);
    // A minimal context manager whose active context holds the span (the SDK registers a real one).
    const manager: ContextManager = {
      active: () => active,
      with: (_c, fn, thisArg, ...args) => fn.call(thisArg, ...args),
      bind: (_c, target) => target,
      enable() {
        return this;
      },
      disable() {
        return this;
      },
    };
    context.setGlobalContextManager(manager);
    try {
      await ingest.publish(sensorEvent());
    } finally {
      context.disable();
    }
    expect(log.records('events.iot.sensors')[0]!.headers.traceparent).toBe(`00-${'a'.repeat(32)}-${'b'.repeat(16)}-01`);
  });

  it('an empty batch publishes nothing', async () => {
    const { log, ingest } = await setup();
    expect(await ingest.publishBatch([])).toEqual([]);
    expect(log.appendCalls).toBe(0);
  });

  it('a batch over maxBatch is BATCH_TOO_LARGE', async () => {
    const { log, ingest } = await setup({ maxBatch: 2 });
    const e = await rejection(ingest.publishBatch([sensorEvent(), sensorEvent(), sensorEvent()]));
    expect(e.code).toBe(ErrorCode.BATCH_TOO_LARGE);
    expect(log.appendCalls).toBe(0);
  });

  it('the same eventId twice in one batch is appended once; the second answers DUPLICATE with the first receipt', async () => {
    const { log, ingest } = await setup();
    const [a, b] = await ingest.publishBatch([sensorEvent({ eventId: 'x' }), sensorEvent({ eventId: 'x', deviceId: 'other' })]);
    expect(a!.status).toBe('ACCEPTED');
    expect(b).toEqual({ ...a, status: 'DUPLICATE' });
    expect(log.records('events.iot.sensors')).toHaveLength(1);
  });

  it('concurrent publishes of one eventId append once; every other caller gets the first receipt as DUPLICATE', async () => {
    const { log, ingest } = await setup();
    // Slow appends keep the first claim in flight while the others arrive.
    const append = log.append.bind(log);
    log.append = async (topic, records) => {
      await new Promise((r) => setTimeout(r, 20));
      return append(topic, records);
    };
    const receipts = await Promise.all(Array.from({ length: 8 }, () => ingest.publish(sensorEvent({ eventId: 'same' }))));
    expect(log.records('events.iot.sensors')).toHaveLength(1);
    expect(receipts.filter((r) => r.status === 'ACCEPTED')).toHaveLength(1);
    const first = receipts.find((r) => r.status === 'ACCEPTED')!;
    for (const r of receipts) expect({ ...r, status: 'ACCEPTED' }).toEqual(first);
  });

  it('two batches claiming overlapping eventIds in opposite orders both finish (no hold-and-wait)', async () => {
    const { log, ingest } = await setup();
    const append = log.append.bind(log);
    log.append = async (topic, records) => {
      await new Promise((r) => setTimeout(r, 5));
      return append(topic, records);
    };
    const ids = ['p', 'q', 'r', 's'];
    const [x, y] = await Promise.all([
      ingest.publishBatch(ids.map((eventId) => sensorEvent({ eventId }))),
      ingest.publishBatch([...ids].reverse().map((eventId) => sensorEvent({ eventId }))),
    ]);
    expect(log.records('events.iot.sensors')).toHaveLength(4);
    expect([...x!, ...y!].filter((r) => r.status === 'ACCEPTED')).toHaveLength(4);
  });

  it('a retriable broker error is retried with backoff and the publish succeeds', async () => {
    const { log, ingest } = await setup();
    await ingest.publish(sensorEvent({ eventId: 'warm' }));
    log.failNext(2, new KeyflowError(ErrorCode.TIMEOUT, 'leader not available', { retriable: true }));
    const r = await ingest.publish(sensorEvent({ eventId: 'retry' }));
    expect(r.status).toBe('ACCEPTED');
    expect(log.appendCalls).toBe(4);
  });

  it('after the attempts run out: BROKER_UNAVAILABLE (retriable), and a later publish of the same eventId is appended', async () => {
    const { log, ingest } = await setup();
    log.failNext(3, new KeyflowError(ErrorCode.TIMEOUT, 'down', { retriable: true }));
    const e = await rejection(ingest.publish(sensorEvent({ eventId: 'later' })));
    expect(e.code).toBe(ErrorCode.BROKER_UNAVAILABLE);
    expect(e.retriable).toBe(true);
    expect(log.records('events.iot.sensors')).toHaveLength(0);
    const r = await ingest.publish(sensorEvent({ eventId: 'later' }));
    expect(r.status).toBe('ACCEPTED');
  });

  it('a non-retriable error is not retried', async () => {
    const { log, ingest } = await setup();
    await ingest.publish(sensorEvent({ eventId: 'warm' }));
    log.failNext(1, new Error('bug'));
    await expect(ingest.publish(sensorEvent())).rejects.toThrow('bug');
    expect(log.appendCalls).toBe(2);
  });

  it('when the second topic of a batch fails, a retry appends only what is missing', async () => {
    const { log, ingest } = await setup();
    const batch = [sensorEvent({ eventId: 's1' }), sensorEvent({ eventId: 't1', eventType: 'transaction', payload: { amount: 1 } })];
    const append = log.append.bind(log);
    let calls = 0;
    log.append = async (topic, records) => {
      if (topic === 'events.transactions' && calls++ < 3) throw new KeyflowError(ErrorCode.TIMEOUT, 'down', { retriable: true });
      return append(topic, records);
    };
    await rejection(ingest.publishBatch(batch));
    const receipts = await ingest.publishBatch(batch);
    expect(receipts.map((r) => r.status)).toEqual(['DUPLICATE', 'ACCEPTED']);
    expect(log.records('events.iot.sensors')).toHaveLength(1);
    expect(log.records('events.transactions')).toHaveLength(1);
  });

  it('a registered type routes by its key paths and refuses a payload that breaks its schema, naming the path', async () => {
    const { log, registry, ingest } = await setup();
    const spec = specFromDefinition({
      name: 'order.created',
      partitions: 4,
      keyPaths: ['payload.orderId', 'userId'],
      valuePath: 'payload.total',
      schema: { type: 'object', required: ['orderId', 'total'], properties: { orderId: { type: 'string' }, total: { type: 'number' } } },
    });
    registry.register(compileSpec(spec, 1));
    await log.ensureTopics([{ name: spec.topic, partitions: spec.partitions }]);
    const ok = await ingest.publish({ eventType: 'order.created', timestamp: '2024-01-15T10:30:00Z', userId: 'u1', payload: { orderId: 'o-9', total: 12.5 } });
    expect(ok.topic).toBe('events.order.created');
    expect(ok.partition).toBe(partitionForKey('o-9', 4));
    expect(log.records('events.order.created')[0]!.key).toBe('o-9');
    const bad = await rejection(ingest.publish({ eventType: 'order.created', timestamp: '2024-01-15T10:30:00Z', payload: { orderId: 'o-10', total: 'x' } }));
    expect(bad.code).toBe(ErrorCode.SCHEMA_VALIDATION_FAILED);
    expect(bad.details).toEqual({
      errors: [{ index: 0, code: 'SCHEMA_VALIDATION_FAILED', message: expect.stringContaining('payload.total'), issues: [{ path: 'payload.total', message: 'must be number' }] }],
    });
    const missing = await rejection(ingest.publish({ eventType: 'order.created', timestamp: '2024-01-15T10:30:00Z', payload: { total: 1 } }));
    expect((missing.details as { errors: { issues: unknown[] }[] }).errors[0]!.issues).toEqual([{ path: 'payload.orderId', message: "must have required property 'orderId'" }]);
    expect(log.records('events.order.created')).toHaveLength(1);
  });

  it('an unknown type is UNKNOWN_EVENT_TYPE and creates nothing', async () => {
    const { log, ingest } = await setup();
    const e = await rejection(ingest.publish(sensorEvent({ eventType: 'weather' })));
    expect(e.code).toBe(ErrorCode.UNKNOWN_EVENT_TYPE);
    expect(e.details).toEqual({ errors: [{ index: 0, code: 'UNKNOWN_EVENT_TYPE', message: expect.any(String) }] });
    expect(await log.partitions('events.weather')).toBeUndefined();
  });
});
