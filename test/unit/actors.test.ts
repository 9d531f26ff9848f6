import { describe, expect, it } from 'vitest';
import { actorIdFor, createPartitionHost, isRollupId, POISON_MARKER, readPartitionState } from '../../src/actors/index.ts';
import type { FailurePolicy } from '../../src/actors/index.ts';
import { createEventTypeRegistry, deadLetterSchema } from '../../src/model/index.ts';
import type { EventInput } from '../../src/model/index.ts';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { createPartitionDriver } from '../helpers/partition-driver.ts';
import type { DriverOptions } from '../helpers/partition-driver.ts';
import { diffResults } from '../helpers/reference-model.ts';

/** The key actors' ids among checkpoint ids (rollup windows are checkpointed beside them). */
const keyActors = (ids: Iterable<string> | undefined): string[] => [...(ids ?? [])].filter((id) => !isRollupId(id));

const MIN = 60_000;
const T0 = Date.parse('2026-01-15T10:00:00.000Z');
/** One topic with one partition, so every key shares a partition (and its watermark). */
const registry = () =>
  createEventTypeRegistry([
    { eventType: 'iot.sensor', topic: 't.iot', partitions: 1, valueField: 'value' },
    { eventType: 'clickstream', topic: 't.click', partitions: 1, valueField: null },
  ]);
const TOPIC = 't.iot';

function sensor(i: number, t: number, extra: Partial<EventInput> = {}): EventInput {
  return { eventId: `e-${i}`, timestamp: new Date(t).toISOString(), eventType: 'iot.sensor', deviceId: 'dev-1', userId: 'u-1', payload: { value: i }, ...extra };
}

function driver(o: DriverOptions = {}) {
  // the poison marker is a test hook, off unless a test turns it on
  return createPartitionDriver({ registry: registry(), honourPoisonMarker: true, ...o });
}

describe('supervision', () => {
  it('retries a throwing record with exponential backoff, dead-letters it in the DLQ message format and goes on as if it never came', async () => {
    const delays: number[] = [];
    const d = driver({ retry: { maxRetries: 3, baseDelayMs: 10, maxDelayMs: 1000, jitter: 0, sleep: async (ms) => void delays.push(ms) } });
    const events = [sensor(1, T0), sensor(2, T0 + 1000), sensor(3, T0 + 2000, { payload: { value: 3, [POISON_MARKER]: true } }), sensor(4, T0 + 3000)];
    const recs = await d.feed(events);
    expect(delays).toEqual([10, 20, 40]);
    expect(d.deadLetters).toHaveLength(1);
    const m = deadLetterSchema.parse(d.deadLetters[0]);
    expect(m).toMatchObject({
      originalEncoding: 'utf8',
      originalKey: 'dev-1',
      errorType: 'INTERNAL',
      retryCount: 3,
      sourceTopic: TOPIC,
      sourcePartition: 0,
      sourceOffset: String(recs[2]!.offset),
    });
    expect(JSON.parse(m.originalMessage).eventId).toBe('e-3');
    expect(m.errorMessage).toMatch(/poison/);
    expect(Date.parse(m.lastAttemptTime)).toBeGreaterThanOrEqual(Date.parse(m.firstAttemptTime));

    // the partition went on, and the state equals a run without the poison record
    const clean = driver();
    await clean.feed(events.filter((_, i) => i !== 2));
    expect(diffResults(await d.held(), await clean.held())).toEqual([]);
    const h = d.host(TOPIC, 0);
    expect(h.nextOffset).toBe(4);
    expect((await h.keyState('iot.sensor', 'dev-1'))?.eventsProcessed).toBe(3);
    expect(d.events.map((e) => e.event.eventId)).toEqual(['e-1', 'e-2', 'e-4']);
  });

  it('a poison first event of a key creates no actor', async () => {
    const d = driver();
    await d.feed([sensor(1, T0, { deviceId: 'fresh', payload: { [POISON_MARKER]: true } })]);
    expect(d.deadLetters).toHaveLength(1);
    expect(await d.host(TOPIC, 0).keyState('iot.sensor', 'fresh')).toBeNull();
    expect(d.host(TOPIC, 0).actorCount).toBe(0);
  });

  it('a record that succeeds on a retry is counted once and not dead-lettered', async () => {
    const attempts: number[] = [];
    const d = driver({
      failureInjector: (ev, _rec, attempt) => {
        if (ev.eventId !== 'e-2') return;
        attempts.push(attempt);
        if (attempt < 3) throw new Error('transient');
      },
    });
    await d.feed([sensor(1, T0), sensor(2, T0 + 1), sensor(3, T0 + 2)]);
    expect(attempts).toEqual([1, 2, 3]);
    expect(d.deadLetters).toEqual([]);
    const [w] = await d.host(TOPIC, 0).windows({ eventType: 'iot.sensor', key: 'dev-1', window: 'tumbling-1m' });
    expect(w).toMatchObject({ count: 3, sum: 6 });
  });

  it('undecodable, schema-invalid and unknown-type records go straight to the DLQ without retries', async () => {
    const delays: number[] = [];
    const d = driver({ retry: { sleep: async (ms) => void delays.push(ms) } });
    d.appendRaw(TOPIC, 0, 'k1', new Uint8Array([0xff, 0xfe, 0x00]));
    d.appendRaw(TOPIC, 0, 'k2', '{not json');
    d.appendRaw(TOPIC, 0, 'k3', JSON.stringify({ eventId: 'x', timestamp: 'yesterday', eventType: 'iot.sensor', payload: {} }));
    d.appendRaw(TOPIC, 0, null, JSON.stringify({ eventId: 'y', timestamp: '2026-01-15T10:00:00Z', eventType: 'nope', payload: {} }), T0);
    await d.feed([sensor(1, T0)]);
    expect(delays).toEqual([]);
    expect(d.deadLetters.map((m) => [m.sourceOffset, m.errorType, m.retryCount, m.originalEncoding])).toEqual([
      ['0', 'DECODE_FAILED', 0, 'base64'],
      ['1', 'DECODE_FAILED', 0, 'utf8'],
      ['2', 'SCHEMA_VALIDATION_FAILED', 0, 'utf8'],
      ['3', 'UNKNOWN_EVENT_TYPE', 0, 'utf8'],
    ]);
    expect(d.deadLetters[0]!.originalMessage).toBe(Buffer.from([0xff, 0xfe, 0x00]).toString('base64'));
    expect(d.host(TOPIC, 0).nextOffset).toBe(5);
    expect((await d.host(TOPIC, 0).keyState('iot.sensor', 'dev-1'))?.eventsProcessed).toBe(1);
  });

  it('a `fail` decision stops the batch at the failing record and rejects', async () => {
    const failAlways: FailurePolicy = () => 'fail';
    const d = driver({ failurePolicy: failAlways });
    for (const e of [sensor(1, T0), sensor(2, T0 + 1, { payload: { [POISON_MARKER]: true } }), sensor(3, T0 + 2)]) d.append(e);
    await expect(d.process()).rejects.toThrow(/failure policy says fail/);
    const h = d.host(TOPIC, 0);
    expect(h.nextOffset).toBe(1);
    expect((await h.keyState('iot.sensor', 'dev-1'))?.eventsProcessed).toBe(1);
  });

  it('skips records below nextOffset, so a re-delivered batch counts once', async () => {
    const d = driver();
    const recs = await d.feed([sensor(1, T0), sensor(2, T0 + 1)]);
    await d.host(TOPIC, 0).processBatch(recs);
    expect((await d.host(TOPIC, 0).keyState('iot.sensor', 'dev-1'))?.eventsProcessed).toBe(2);
  });

  it('reports metrics once per batch', async () => {
    const seen: Record<string, number> = { processed: 0, dead: 0, late: 0 };
    const d = driver({
      latePolicy: 'drop',
      maxOutOfOrderMs: 0,
      metrics: {
        processed: (n) => void (seen.processed! += n),
        deadLettered: (n) => void (seen.dead! += n),
        lateDropped: (n) => void (seen.late! += n),
        activeActors: (n) => void (seen.actors = n),
      },
    });
    d.appendRaw(TOPIC, 0, 'k', 'garbage');
    await d.feed([sensor(1, T0 + 5 * MIN), sensor(2, T0)]);
    expect(seen).toEqual({ processed: 2, dead: 1, late: 1, actors: 1 });
  });
});

describe('watermark and finals', () => {
  it('an idle partition advances its watermark by processing time past the idle timeout and emits the finals due', async () => {
    const d = driver({ idleTimeoutMs: 30_000, maxOutOfOrderMs: 10_000 });
    await d.feed([sensor(1, T0 + 10_000)]);
    const h = d.host(TOPIC, 0);
    expect(h.watermark).toBe(T0);
    d.advance(30_000);
    expect(h.watermark).toBe(T0);
    expect(d.emitted.filter((r) => r.final)).toEqual([]);
    d.advance(45_000); // 45 s idle past the timeout: T0 + 45 s, tumbling-1m [T0, T0+1m) not yet final
    expect(h.watermark).toBe(T0 + 45_000);
    expect(d.emitted.filter((r) => r.final)).toEqual([]);
    d.advance(15_000);
    expect(h.watermark).toBe(T0 + MIN);
    // the windows ending at T0 + 1m: tumbling-1m [T0, +1m) and sliding-5m-1m [T0 − 4m, +5m)
    expect(d.emitted.filter((r) => r.final).map((r) => `${r.window}@${r.windowEnd - T0}`).sort()).toEqual(['sliding-5m-1m@60000', 'tumbling-1m@60000']);
    // a new record ends the idle phase; the watermark keeps what it gained
    await d.feed([sensor(2, T0 + 20_000)]);
    expect(h.watermark).toBe(T0 + MIN);
    expect(d.late).toHaveLength(1);
  });

  it('result retention: finals stay queryable until windowEnd < watermark - retention, then the actor is deleted', async () => {
    const d = driver({ resultRetentionMs: 60 * MIN, maxOutOfOrderMs: 0 });
    await d.feed([sensor(1, T0), sensor(2, T0 + 50 * MIN, { deviceId: 'dev-2' })]);
    const h = d.host(TOPIC, 0);
    expect((await h.windows({ eventType: 'iot.sensor', key: 'dev-1', finalOnly: true })).map((r) => r.window).sort()).toEqual([
      'session-30m',
      'sliding-5m-1m',
      'sliding-5m-1m',
      'sliding-5m-1m',
      'sliding-5m-1m',
      'sliding-5m-1m',
      'tumbling-15m',
      'tumbling-1m',
      'tumbling-5m',
    ]);
    d.checkpoint();
    await d.feed([sensor(3, T0 + 200 * MIN, { deviceId: 'dev-2' })]);
    expect(await h.windows({ eventType: 'iot.sensor', key: 'dev-1' })).toEqual([]);
    expect(await h.keyState('iot.sensor', 'dev-1')).toBeNull();
    expect(keyActors(h.checkpoint().deleted)).toEqual(['dev-1']);
    h.markCommitted();
    expect(h.checkpoint().deleted).toBeUndefined();
  });
});

describe('checkpoints', () => {
  it('a checkpoint holds only actors changed since the last commit; changes after checkpoint() stay dirty', async () => {
    const d = driver();
    await d.feed([sensor(1, T0), sensor(2, T0, { deviceId: 'dev-2' })]);
    const h = d.host(TOPIC, 0);
    const cp1 = h.checkpoint();
    expect(keyActors(cp1.dirty.keys()).sort()).toEqual(['dev-1', 'dev-2']);
    expect(cp1.nextOffset).toBe(2);
    expect(readPartitionState(cp1.partitionState)).toEqual({ watermark: T0 - 10_000, maxEventTime: T0 });
    expect(actorIdFor(registry(), TOPIC, 'iot.sensor', 'dev-1')).toBe('dev-1');
    expect(actorIdFor(registry(), TOPIC, 'clickstream', 'dev-1')).toBe('clickstream\u001fdev-1');
    await d.feed([sensor(3, T0 + 1)]);
    h.markCommitted();
    expect(keyActors(h.checkpoint().dirty.keys())).toEqual(['dev-1']);
    h.markCommitted();
    expect(h.checkpoint().dirty.size).toBe(0);
  });

  it('restore + replay from nextOffset equals a run without the crash (no double counting)', async () => {
    const events = Array.from({ length: 40 }, (_, i) => sensor(i, T0 + i * 20_000, { deviceId: `dev-${i % 3}` }));
    const a = driver({ batchSize: 3 });
    await a.feed(events.slice(0, 15));
    a.checkpoint();
    await a.feed(events.slice(15, 30));
    a.crash();
    await a.feed(events.slice(30));
    const b = driver();
    await b.feed(events);
    expect(diffResults(await a.held(), await b.held())).toEqual([]);
    expect((await a.host(TOPIC, 0).keyState('iot.sensor', 'dev-0'))?.eventsProcessed).toBe(14);
  });
});

describe('foreign event types on a topic', () => {
  it('keeps them in their own actors under a composite id that survives checkpoint and restore', async () => {
    const d = driver();
    const click = { eventId: 'c1', timestamp: new Date(T0).toISOString(), eventType: 'clickstream', userId: 'dev-1', payload: {} };
    d.appendRaw(TOPIC, 0, 'dev-1', JSON.stringify(click), T0);
    await d.feed([sensor(1, T0)]);
    const h = d.host(TOPIC, 0);
    expect(keyActors(h.checkpoint().dirty.keys()).sort()).toEqual(['clickstream\u001fdev-1', 'dev-1']);
    d.checkpoint();
    d.crash();
    const h2 = d.host(TOPIC, 0);
    expect((await h2.keyState('clickstream', 'dev-1'))?.eventsProcessed).toBe(1);
    expect((await h2.keyState('iot.sensor', 'dev-1'))?.eventsProcessed).toBe(1);
  });
});

describe('passivation', () => {
  it('passivates idle clean actors without open windows and reactivates them by query and by event', async () => {
    const d = driver({ passivateAfterMs: 5 * MIN, maxOutOfOrderMs: 0 });
    await d.feed([sensor(1, T0), sensor(2, T0 + 1000), sensor(3, T0 + 3 * 3_600_000, { deviceId: 'dev-2' })]);
    const h = d.host(TOPIC, 0);
    const before = await h.windows({ eventType: 'iot.sensor', key: 'dev-1' });
    expect(before.every((r) => r.final)).toBe(true);
    d.clock.advance(10 * MIN);
    expect(h.passivateIdle()).toBe(0); // not committed yet
    d.checkpoint();
    expect(h.passivateIdle()).toBe(1); // dev-2 has open windows
    expect(h.actorCount).toBe(1);
    // by query
    expect(await h.windows({ eventType: 'iot.sensor', key: 'dev-1' })).toEqual(before);
    expect(h.actorCount).toBe(2);
    d.clock.advance(10 * MIN);
    expect(h.passivateIdle()).toBe(1);
    // by event (late for its windows, but it reaches the actor and is counted)
    await d.feed([sensor(4, T0 + 2000)]);
    expect(h.actorCount).toBe(2);
    expect((await h.keyState('iot.sensor', 'dev-1'))?.eventsProcessed).toBe(3);
  });
});

describe('passivation during a batch', () => {
  it('does not passivate while a batch waits for a retry, so the retried record is not lost', async () => {
    let passivated = -1;
    let hostRef: { passivateIdle(): number } | undefined;
    const d = driver({
      passivateAfterMs: MIN,
      maxOutOfOrderMs: 0,
      retry: {
        sleep: async () => {
          passivated = hostRef!.passivateIdle();
        },
      },
      failureInjector: (ev, _r, attempt) => {
        if (ev.eventId === 'e-9' && attempt === 1) throw new Error('transient');
      },
    });
    await d.feed([sensor(1, T0), sensor(2, T0 + 3_600_000, { deviceId: 'dev-2' })]);
    d.checkpoint();
    d.clock.advance(10 * MIN);
    hostRef = d.host(TOPIC, 0);
    await d.feed([sensor(9, T0 + 2000)]);
    expect(passivated).toBe(0);
    expect((await d.host(TOPIC, 0).keyState('iot.sensor', 'dev-1'))?.eventsProcessed).toBe(2);
  });
});

describe('createPartitionHost', () => {
  it('emits finals only when emitUpdates is off, and lets the runtime switch it', async () => {
    const results: { final: boolean }[] = [];
    const clock = createSimulatedClock(0);
    const h = createPartitionHost({
      topic: TOPIC,
      partition: 0,
      registry: registry(),
      clock,
      windows: ['tumbling-1m'],
      maxOutOfOrderMs: 0,
      emitUpdates: false,
      output: { onResults: (r) => void results.push(...r), onLate: () => {}, onDeadLetter: () => {} },
    });
    h.restore(null, new Map());
    const rec = (offset: number, t: number) => ({
      topic: TOPIC,
      partition: 0,
      offset,
      key: 'dev-1',
      value: new TextEncoder().encode(JSON.stringify(sensor(offset, t))),
      headers: {},
      appendTime: t,
    });
    await h.processBatch([rec(0, T0), rec(1, T0 + MIN)]);
    expect(results).toEqual([expect.objectContaining({ final: true, windowStart: T0 })]);
    h.emitUpdates = true;
    await h.processBatch([rec(2, T0 + MIN + 1)]);
    expect(results.at(-1)).toMatchObject({ final: false, count: 2 });
    expect(() => createPartitionHost({ topic: TOPIC, partition: 0, registry: registry(), clock, windows: ['weekly'], output: { onResults() {}, onLate() {}, onDeadLetter() {} } })).toThrow(
      /unknown window/,
    );
  });
});
