/** Live-bus messages: one per batch per subject, split in order when large; parsers drop what does not parse. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createInProcessBus, createInProcessHub } from '../../src/bus/in-process/in-process-bus.ts';
import {
  MAX_BATCH_BYTES,
  MAX_BATCH_ITEMS,
  checkEventMessage,
  checkWindowResult,
  comparePositions,
  eventMessageSchema,
  eventMessage,
  parseEventBatch,
  parseWindowResultBatch,
  parseWindowResultBatchMessage,
  publishEventBatch,
  publishWindowResults,
  type WindowResultBatchMessage,
} from '../../src/bus/messages.ts';
import { subjects } from '../../src/bus/port.ts';
import type { LogRecord } from '../../src/log/port.ts';
import { type EventEnvelope, encodeEnvelope } from '../../src/model/event.ts';
import { type WindowResult, WINDOW_RESULT_KEYS, windowResultSchema } from '../../src/model/window-result.ts';

function recorder() {
  const bus = createInProcessBus({ hub: createInProcessHub() });
  const got = new Map<string, unknown[]>();
  const listen = (subject: string) => {
    got.set(subject, []);
    bus.subscribe(subject, (m) => got.get(subject)!.push(m));
  };
  return { bus, got, listen };
}

function item(i: number, payload: Record<string, unknown> = { value: i }): { event: EventEnvelope; record: LogRecord } {
  const event: EventEnvelope = {
    eventId: `e${i}`,
    timestamp: Date.UTC(2024, 0, 15, 10, 30) + i,
    eventType: 'iot.sensor',
    userId: null,
    deviceId: `d${i % 3}`,
    payload,
    metadata: null,
  };
  const record: LogRecord = {
    topic: 'events.iot.sensors',
    partition: 2,
    offset: 100 + i,
    key: event.deviceId,
    value: new TextEncoder().encode(encodeEnvelope(event)),
    headers: {},
    appendTime: 0,
  };
  return { event, record };
}

function result(eventType: string, i: number): WindowResult {
  return {
    eventType,
    key: `k${i}`,
    window: 'tumbling-1m',
    windowStart: 0,
    windowEnd: 60_000,
    count: i,
    valueCount: i,
    sum: i,
    avg: 1,
    min: 1,
    max: 1,
    distinctUsers: 0,
    final: i % 2 === 0,
    revision: 0,
  };
}

describe('bus messages', () => {
  it('a batch of events is one { events } message, in log order, and parses back', () => {
    const { bus, got, listen } = recorder();
    const subject = subjects.events('events.iot.sensors');
    listen(subject);
    const items = Array.from({ length: 10 }, (_, i) => item(i));
    publishEventBatch(bus, 'events.iot.sensors', items);
    const msgs = got.get(subject)!;
    expect(msgs).toHaveLength(1);
    const parsed = parseEventBatch(JSON.parse(JSON.stringify(msgs[0])));
    expect(parsed).toEqual(items.map(({ event, record }) => eventMessage(record, record.key!, event)));
  });

  it('a large batch of events is split in order by item count and by bytes', () => {
    const { bus, got, listen } = recorder();
    const subject = subjects.events('events.iot.sensors');
    listen(subject);
    const n = MAX_BATCH_ITEMS * 2 + 5;
    publishEventBatch(bus, 'events.iot.sensors', Array.from({ length: n }, (_, i) => item(i)));
    const sizes = got.get(subject)!.map((m) => (m as { events: unknown[] }).events.length);
    expect(sizes).toEqual([MAX_BATCH_ITEMS, MAX_BATCH_ITEMS, 5]);
    const offsets = got.get(subject)!.flatMap((m) => parseEventBatch(m)!.map((e) => e.offset));
    expect(offsets).toEqual(Array.from({ length: n }, (_, i) => 100 + i));

    got.set(subject, []);
    const big = 'x'.repeat(Math.ceil(MAX_BATCH_BYTES / 3));
    publishEventBatch(bus, 'events.iot.sensors', Array.from({ length: 7 }, (_, i) => item(i, { big })));
    const bySize = got.get(subject)!.map((m) => (m as { events: unknown[] }).events.length);
    expect(bySize.reduce((a, b) => a + b, 0)).toBe(7);
    expect(Math.max(...bySize)).toBeLessThan(3);
  });

  it('window results go out one message per event type, each in emission order, split when large', () => {
    const { bus, got, listen } = recorder();
    const a = subjects.windowResults('iot.sensor', 'tumbling-1m');
    const b = subjects.windowResults('clickstream', 'tumbling-1m');
    listen(a);
    listen(b);
    const mixed = [result('iot.sensor', 0), result('clickstream', 1), result('iot.sensor', 2), result('clickstream', 3)];
    publishWindowResults(bus, mixed);
    expect(got.get(a)).toEqual([{ results: [mixed[0], mixed[2]] }]);
    expect(got.get(b)).toEqual([{ results: [mixed[1], mixed[3]] }]);

    got.set(a, []);
    const many = Array.from({ length: MAX_BATCH_ITEMS + 1 }, (_, i) => result('iot.sensor', i));
    publishWindowResults(bus, many);
    expect(got.get(a)!.flatMap((m) => parseWindowResultBatch(m)!)).toEqual(many);
    expect(got.get(a)).toHaveLength(2);
    publishWindowResults(bus, []);
    expect(got.get(a)).toHaveLength(2);
  });

  it('a message a publisher built in this process is taken as it is; the same message from anywhere else is validated element by element', () => {
    const { bus, got, listen } = recorder();
    const events = subjects.events('events.iot.sensors');
    const results = subjects.windowResults('iot.sensor', 'tumbling-1m');
    listen(events);
    listen(results);
    // the processor publishes its lazily decoded envelope (getters); an offset no validation would pass shows what is checked
    class Lazy {
      constructor(private readonly e: EventEnvelope) {}
      get eventId() { return this.e.eventId; }
      get timestamp() { return this.e.timestamp; }
      get eventType() { return this.e.eventType; }
      get userId() { return this.e.userId; }
      get deviceId() { return this.e.deviceId; }
      get payload() { return this.e.payload; }
      get metadata() { return this.e.metadata; }
    }
    const items = [item(1), item(2)];
    const odd = item(3);
    publishEventBatch(bus, 'events.iot.sensors', [...items.map((i) => ({ ...i, event: new Lazy(i.event) as unknown as EventEnvelope })), { ...odd, record: { ...odd.record, offset: -1 } }]);
    const rs = [result('iot.sensor', 1), result('iot.sensor', 2)];
    publishWindowResults(bus, rs, { topic: 'events.iot.sensors', partition: 0, offset: 3, watermark: null });
    const own = got.get(events)![0] as { events: object[] };
    const ownResults = got.get(results)![0] as { results: object[] };
    const plain = [...items, { ...odd, record: { ...odd.record, offset: -1 } }].map(({ event, record }) => eventMessage(record, record.key!, event));
    const parsed = parseEventBatch(own)!;
    expect(parsed).toStrictEqual(plain);
    expect(parsed.map((m) => ({ ...m.event }))).toStrictEqual(plain.map((m) => m.event));
    expect(parseWindowResultBatchMessage(ownResults)!.results[1]).toBe(rs[1]);
    expect(parseWindowResultBatch(ownResults)![0]).toBe(rs[0]);
    // the same shape built by anyone else (or decoded from NATS) is checked: the bad elements go
    const copy = JSON.parse(JSON.stringify({ events: parsed })) as { events: object[] };
    expect(parseEventBatch(copy)).toEqual(plain.slice(0, 2));
    const resultsCopy = { ...ownResults, results: [...ownResults.results, { ...rs[0], count: 'x' }] };
    expect(parseWindowResultBatchMessage(resultsCopy)!.results).toEqual(rs);
  });

  it('property: the window result check accepts, rejects and strips exactly as the schema does', () => {
    const hostile = fc.constantFrom<unknown>(undefined, null, '', 'x', 0, -0, 1.5, -7, 2 ** 53, -(2 ** 53), 1e300, Number.POSITIVE_INFINITY, Number.NaN, true, false, {}, [], '3');
    const good = result('iot.sensor', 3);
    const arb = fc.record({
      fields: fc.array(fc.tuple(fc.constantFrom(...WINDOW_RESULT_KEYS), hostile), { maxLength: 3 }),
      extra: fc.array(fc.tuple(fc.constantFrom('cursor', '__proto__', 'constructor', 'x'), hostile), { maxLength: 2 }),
      viaJson: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ fields, extra, viaJson }) => {
        const v: Record<string, unknown> = { ...good };
        for (const [k, x] of fields) {
          if (x === undefined) delete v[k];
          else v[k] = x;
        }
        for (const [k, x] of extra) Object.defineProperty(v, k, { value: x, enumerable: true, writable: true, configurable: true });
        // JSON drops undefined and turns non-finite numbers to null, as a NATS message would arrive
        const input = viaJson ? JSON.parse(JSON.stringify(v)) : v;
        const z = windowResultSchema.safeParse(input);
        const c = checkWindowResult(input);
        expect(c === null).toBe(!z.success);
        if (z.success) {
          expect(c).toStrictEqual(z.data);
          expect(Object.keys(c!).sort()).toEqual(Object.keys(z.data).sort());
        }
      }),
      { numRuns: 2000 },
    );
    expect(checkWindowResult(good)).toBe(good);
    for (const bad of [null, 'x', [good], 7]) expect(checkWindowResult(bad)).toBeNull();
  });

  it('property: the event message check accepts, rejects and strips exactly as the schema does', () => {
    // fresh objects each time: the extra keys are defined on what is drawn
    const hostile = fc
      .constantFrom<() => unknown>(
        ...[undefined, null, '', 'x', 'y'.repeat(101), 'y'.repeat(257), 0, -1, 1.5, 2 ** 53, Number.NaN, true, '3'].map((x) => () => x),
        () => ({}),
        () => [],
        () => ({ a: [1, { b: null }] }),
        () => ({ n: Number.POSITIVE_INFINITY }),
        () => JSON.parse('{"__proto__":1}'),
      )
      .map((f) => f());
    const e = item(2);
    const good = eventMessage(e.record, 'd2', { ...e.event, metadata: { source: 'test' } });
    const envelopeKeys = Object.keys(good.event);
    const arb = fc.record({
      fields: fc.array(fc.tuple(fc.constantFrom('topic', 'partition', 'offset', 'key', 'event'), hostile), { maxLength: 2 }),
      envelope: fc.array(fc.tuple(fc.constantFrom(...envelopeKeys), hostile), { maxLength: 3 }),
      extra: fc.array(fc.tuple(fc.constantFrom('cursor', 'constructor', 'x'), hostile), { maxLength: 2 }),
      inEnvelope: fc.boolean(),
      viaJson: fc.boolean(),
    });
    fc.assert(
      fc.property(arb, ({ fields, envelope, extra, inEnvelope, viaJson }) => {
        const ev: Record<string, unknown> = { ...good.event };
        for (const [k, x] of envelope) {
          if (x === undefined) delete ev[k];
          else ev[k] = x;
        }
        const v: Record<string, unknown> = { ...good, event: ev };
        for (const [k, x] of fields) {
          if (x === undefined) delete v[k];
          else v[k] = x;
        }
        for (const [k, x] of extra) Object.defineProperty(inEnvelope && typeof v.event === 'object' && v.event !== null ? v.event : v, k, { value: x, enumerable: true, writable: true, configurable: true });
        const input = viaJson ? JSON.parse(JSON.stringify(v)) : v;
        const z = eventMessageSchema.safeParse(input);
        const c = checkEventMessage(input);
        expect(c === null).toBe(!z.success);
        if (z.success) expect(c).toStrictEqual(z.data);
      }),
      { numRuns: 3000 },
    );
    const wire = JSON.parse(JSON.stringify(good));
    expect(checkEventMessage(wire)).toBe(wire);
  });

  it('parsers drop a malformed message whole and a malformed element alone', () => {
    const good = result('iot.sensor', 1);
    for (const bad of [null, 1, 'x', [good], { results: good }, { results: null }, {}]) expect(parseWindowResultBatch(bad)).toBeNull();
    expect(parseWindowResultBatch({ results: [good, { ...good, count: 'x' }, null, good] })).toEqual([good, good]);
    const e = item(1);
    const msg = eventMessage(e.record, 'd1', e.event);
    for (const bad of [null, [msg], { events: msg }, { results: [msg] }]) expect(parseEventBatch(bad)).toBeNull();
    expect(parseEventBatch({ events: [{ ...msg, offset: -1 }, msg, { ...msg, event: {} }] })).toEqual([msg]);
  });
});

describe('bus messages: positions and interest', () => {
  it('result messages carry the emission position, one part per split message', () => {
    const { bus, got, listen } = recorder();
    const subject = subjects.windowResults('iot.sensor', 'tumbling-1m');
    listen(subject);
    const many = Array.from({ length: MAX_BATCH_ITEMS + 3 }, (_, i) => result('iot.sensor', i));
    publishWindowResults(bus, many, { topic: 'events.iot.sensors', partition: 4, offset: 120, watermark: 5000 });
    const msgs = got.get(subject)!.map((m) => parseWindowResultBatchMessage(JSON.parse(JSON.stringify(m)))!);
    expect(msgs.map((m) => m.position)).toEqual([
      { topic: 'events.iot.sensors', partition: 4, offset: 120, watermark: 5000, part: 0 },
      { topic: 'events.iot.sensors', partition: 4, offset: 120, watermark: 5000, part: 1 },
    ]);
    expect(msgs.flatMap((m) => m.results)).toEqual(many);
    expect(comparePositions(msgs[0]!.position!, msgs[1]!.position!)).toBe(-1);
  });

  it('results go out one message per window, in window name order, parts numbered across the emission whoever listens', () => {
    const at = { topic: 'events.iot.sensors', partition: 2, offset: 50, watermark: 9000 };
    const of = (window: string, i: number) => ({ ...result('iot.sensor', i), window });
    // interleaved key by key, as the actors emit them
    const emission = [of('tumbling-5m', 0), of('sliding-5m-1m', 0), of('tumbling-1m', 0), of('tumbling-5m', 1), of('sliding-5m-1m', 1), of('tumbling-1m', 1)];
    const all = recorder();
    const windows = ['sliding-5m-1m', 'tumbling-1m', 'tumbling-5m'];
    for (const w of windows) all.listen(subjects.windowResults('iot.sensor', w));
    publishWindowResults(all.bus, emission, at);
    for (const [part, w] of windows.entries()) {
      expect(all.got.get(subjects.windowResults('iot.sensor', w))).toEqual([{ results: emission.filter((r) => r.window === w), position: { ...at, part } }]);
    }
    // a publisher whose only listener watches one window builds that one, with the same part
    const one = recorder();
    const watched = subjects.windowResults('iot.sensor', 'tumbling-5m');
    one.listen(watched);
    const published: string[] = [];
    const spy = {
      ...one.bus,
      publish: (s: string, m: unknown) => {
        published.push(s);
        one.bus.publish(s, m);
      },
    };
    publishWindowResults(spy, emission, at);
    expect(published).toEqual([watched]);
    expect(one.got.get(watched)).toEqual(all.got.get(watched));
    // the every-window pattern receives them all, positions growing
    const star = recorder();
    star.listen(subjects.allWindowResults('iot.sensor'));
    publishWindowResults(star.bus, emission, at);
    const positions = star.got.get(subjects.allWindowResults('iot.sensor'))!.map((m) => (m as WindowResultBatchMessage).position!);
    expect(positions.map((p) => p.part)).toEqual([0, 1, 2]);
    // window names are subject tokens: characters NATS cannot take are replaced
    expect(subjects.windowResults('iot.sensor', 'a.b*>')).toBe('keyflow.windows.iot_sensor.a_b__');
  });

  it('nothing is built or published for a subject nobody wants', () => {
    const { bus, got, listen } = recorder();
    const wanted = subjects.windowResults('iot.sensor', 'tumbling-1m');
    listen(wanted);
    const asked: string[] = [];
    const spy = {
      ...bus,
      wants: (s: string) => {
        asked.push(s);
        return bus.wants(s);
      },
      publish: (s: string, m: unknown) => bus.publish(s, m) };
    publishEventBatch(spy, 'events.iot.sensors', [item(1)]);
    publishWindowResults(spy, [result('iot.sensor', 1), result('clickstream', 2)]);
    expect(asked).toEqual([subjects.events('events.iot.sensors'), wanted, subjects.windowResults('clickstream', 'tumbling-1m')]);
    expect(got.get(wanted)).toHaveLength(1);
    expect(bus.wants(subjects.events('events.iot.sensors'))).toBe(false);
  });
});
