/**
 * Resumable subscriptions: events(after:) over a real ws server (disconnect, publish, reconnect
 * with the last cursor: every event once, in partition order), a property test of the resumable
 * stream against the log (the reference) under a live bus that drops, repeats and delays messages,
 * cursor errors, and windowResults with snapshot and after.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { type Client, createClient } from 'graphql-ws';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createInProcessBus, createInProcessHub, createLiveFeed, eventMessage, subjects } from '../../src/bus/index.ts';
import { decodeEventsCursor, encodeEventsCursor, resumableEvents } from '../../src/graphql/resume.ts';
import type { EventLog } from '../../src/log/port.ts';
import { decodeEnvelope } from '../../src/model/index.ts';
import type { WindowResult } from '../../src/model/window-result.ts';
import { createEmbeddedHarness, createHarness, type Harness, PUBLISH_MANY, sensorEvent } from '../helpers/graphql-harness.ts';
import { createMemoryLog } from '../helpers/memory-log.ts';

const SENSORS = 'events.iot.sensors';

interface Running {
  h: Harness<EventLog>;
  url: string;
  close(): Promise<void>;
}

async function start(): Promise<Running> {
  const h = await createEmbeddedHarness();
  const http: Server = createServer(h.server.handler);
  const closeWs = h.server.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  return {
    h,
    url: `ws://127.0.0.1:${port}/graphql`,
    async close() {
      await closeWs();
      await new Promise<void>((r) => http.close(() => r()));
      await h.close();
    },
  };
}

function client(url: string): Client {
  return createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true });
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Got {
  eventId: string;
  partition: number;
  offset: string;
  cursor: string;
}

const EVENTS_AFTER = `subscription($topic: String!, $after: String, $key: String) { events(topic: $topic, after: $after, key: $key) { eventId partition offset cursor } }`;

function subscribe(c: Client, variables: Record<string, unknown>, got: Got[], errors: unknown[]): () => void {
  return c.subscribe<{ events: Got }>(
    { query: EVENTS_AFTER, variables },
    { next: (m) => (m.data ? got.push(m.data.events) : errors.push(m.errors)), error: (e) => errors.push(e), complete: () => undefined },
  );
}

function batch(from: number, n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => sensorEvent({ eventId: `e-${from + i}`, deviceId: `dev-${(from + i) % 17}`, payload: { value: from + i } }));
}

/** Every event once, each partition in ascending offset order. */
function expectExactlyOnceInOrder(got: Got[], expectedIds: string[]): void {
  expect(got.map((g) => g.eventId).sort()).toEqual([...expectedIds].sort());
  const last = new Map<number, number>();
  for (const g of got) {
    const o = Number(g.offset);
    expect(o).toBeGreaterThan(last.get(g.partition) ?? -1);
    last.set(g.partition, o);
  }
}

describe('events(after:) over graphql-ws', () => {
  it('a client that disconnects and resubscribes with its last cursor gets every event once, in partition order, then live', async () => {
    const r = await start();
    try {
      const cursorRes = await r.h.gql(`query($t: String!) { eventsCursor(topic: $t) }`, { t: SENSORS });
      const start0 = cursorRes.body.data!.eventsCursor as string;
      // published before the subscription, after the cursor: delivered from the log
      await r.h.gql(PUBLISH_MANY, { inputs: batch(0, 20) });

      const got: Got[] = [];
      const errors: unknown[] = [];
      const c1 = client(r.url);
      const off1 = subscribe(c1, { topic: SENSORS, after: start0 }, got, errors);
      await waitFor(() => got.length === 20, '20 events from the log');
      await r.h.gql(PUBLISH_MANY, { inputs: batch(20, 20) });
      await waitFor(() => got.length === 40, '20 live events');
      off1();
      await c1.dispose();

      // missed while disconnected
      await r.h.gql(PUBLISH_MANY, { inputs: batch(40, 30) });
      const c2 = client(r.url);
      const off2 = subscribe(c2, { topic: SENSORS, after: got.at(-1)!.cursor }, got, errors);
      await waitFor(() => got.length === 70, 'the 30 missed events');
      await r.h.gql(PUBLISH_MANY, { inputs: batch(70, 10) });
      await waitFor(() => got.length === 80, 'live again');
      await new Promise((res) => setTimeout(res, 50));
      off2();
      await c2.dispose();

      expect(errors).toEqual([]);
      expectExactlyOnceInOrder(got, Array.from({ length: 80 }, (_, i) => `e-${i}`));
      expect(new Set(got.map((g) => g.partition)).size).toBeGreaterThan(3);
      // the cursor of the last message names every partition's next offset
      const ends = await r.h.services.log.endOffsets(SENSORS);
      expect(decodeEventsCursor(got.at(-1)!.cursor, SENSORS)).toEqual(ends);
    } finally {
      await r.close();
    }
  });

  it('key: only that actor, and its cursor still resumes exactly', async () => {
    const r = await start();
    try {
      const start0 = (await r.h.gql(`{ eventsCursor(topic: "${SENSORS}") }`)).body.data!.eventsCursor as string;
      await r.h.gql(PUBLISH_MANY, { inputs: batch(0, 34) });
      const got: Got[] = [];
      const errors: unknown[] = [];
      const c = client(r.url);
      const off = subscribe(c, { topic: SENSORS, after: start0, key: 'dev-3' }, got, errors);
      await waitFor(() => got.length === 2, 'dev-3 events');
      off();
      await c.dispose();
      expect(got.map((g) => g.eventId)).toEqual(['e-3', 'e-20']);
    } finally {
      await r.close();
    }
  });
});

describe('cursor errors', () => {
  it('INVALID_CURSOR for garbage and for another topic; CURSOR_EXPIRED below the retained log', async () => {
    const h = await createHarness();
    const sub = async (variables: Record<string, unknown>) => {
      const res = await h.server.yoga.fetch('http://yoga/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
        body: JSON.stringify({ query: EVENTS_AFTER, variables }),
      });
      return res.text();
    };
    expect(await sub({ topic: SENSORS, after: 'nonsense' })).toContain('INVALID_CURSOR');
    expect(await sub({ topic: SENSORS, after: encodeEventsCursor('events.clickstream', [0]) })).toContain('INVALID_CURSOR');
    expect(await sub({ topic: SENSORS, after: encodeEventsCursor(SENSORS, Array.from({ length: 12 }, () => 7)) })).toContain('ahead of partition');
    h.log.endOffsets = async () => Array.from({ length: 12 }, () => 9);
    h.log.beginOffsets = async () => Array.from({ length: 12 }, () => 5);
    const expired = await sub({ topic: SENSORS, after: encodeEventsCursor(SENSORS, Array.from({ length: 12 }, () => 2)) });
    expect(expired).toContain('CURSOR_EXPIRED');
    expect(expired).toContain('firstRetainedOffset');
    await h.close();
  });
});

describe('resumableEvents against the log (property)', () => {
  it('whatever the bus drops, repeats or delays, and wherever the client stops and resumes: every event once, in partition order', async () => {
    const topic = 't.prop';
    await fc.assert(
      fc.asyncProperty(
        fc.array(
          fc.record({
            keys: fc.array(fc.integer({ min: 0, max: 9 }), { minLength: 1, maxLength: 6 }),
            bus: fc.constantFrom('deliver', 'drop', 'twice', 'late'),
            stopAfter: fc.boolean(),
          }),
          { minLength: 1, maxLength: 25 },
        ),
        fc.integer({ min: 1, max: 8 }),
        async (steps, maxBuffered) => {
          let t = 0;
          const log = createMemoryLog(() => ++t);
          await log.ensureTopics([{ name: topic, partitions: 4 }]);
          const hub = createInProcessHub();
          const bus = createInProcessBus({ hub });
          await bus.start();
          const live = createLiveFeed({ bus });
          const got: { id: string; partition: number; offset: number }[] = [];
          let cursor = encodeEventsCursor(topic, [0, 0, 0, 0]);
          let it = resumableEvents({ log, live, topic, from: decodeEventsCursor(cursor, topic), maxBuffered }, 4);
          const lateMessages: unknown[] = [];
          const drain = async () => {
            // take what is there now
            for (;;) {
              const r = await Promise.race([it.next(), new Promise<null>((res) => setTimeout(() => res(null), 3))]);
              if (r === null || r.done) return r === null ? 'idle' : 'done';
              const v = r.value;
              if (v instanceof Error) return 'ended';
              got.push({ id: v.eventId, partition: v.partition, offset: v.offset });
              cursor = v.cursor;
            }
          };
          let n = 0;
          for (const step of steps) {
            const records = step.keys.map((k) => ({ key: `k${k}`, value: JSON.stringify({ eventId: `id-${n++}`, timestamp: '2024-01-01T00:00:00.000Z', eventType: 'x', userId: null, deviceId: `k${k}`, payload: {}, metadata: null }) }));
            const results = await log.append(topic, records);
            const events = results.map((r, i) => eventMessage(r, records[i]!.key, decodeEnvelope(new TextEncoder().encode(records[i]!.value))));
            // the bus publishes per partition in offset order, like the processors
            for (let p = 0; p < 4; p++) {
              const mine = events.filter((e) => e.partition === p);
              if (mine.length === 0) continue;
              if (step.bus === 'deliver' || step.bus === 'twice') bus.publish(subjects.events(topic), { events: mine });
              if (step.bus === 'twice') bus.publish(subjects.events(topic), { events: mine });
              if (step.bus === 'late') lateMessages.push({ events: mine });
            }
            if (step.bus !== 'late') for (const m of lateMessages.splice(0)) bus.publish(subjects.events(topic), m);
            const state = await drain();
            if (step.stopAfter || state === 'ended') {
              await it.return!();
              it = resumableEvents({ log, live, topic, from: decodeEventsCursor(cursor, topic), maxBuffered }, 4);
            }
          }
          for (const m of lateMessages.splice(0)) bus.publish(subjects.events(topic), m);
          // a last event on every partition flushes anything the bus dropped
          for (let tries = 0; tries < 50 && got.length < n; tries++) {
            const state = await drain();
            if (state === 'ended') {
              await it.return!();
              it = resumableEvents({ log, live, topic, from: decodeEventsCursor(cursor, topic), maxBuffered }, 4);
            }
            if (state === 'idle' && got.length < n) {
              // nothing more on the bus: resume from the cursor, which reads the log to its end
              await it.return!();
              it = resumableEvents({ log, live, topic, from: decodeEventsCursor(cursor, topic), maxBuffered }, 4);
            }
          }
          await it.return!();
          await bus.close();
          const reference = log.records(topic).map((r) => decodeEnvelope(r.value).eventId);
          expect(got.map((g) => g.id).sort()).toEqual([...reference].sort());
          for (let p = 0; p < 4; p++) {
            const offsets = got.filter((g) => g.partition === p).map((g) => g.offset);
            expect(offsets).toEqual(offsets.map((_, i) => i));
          }
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);
});

describe('windowResults(snapshot, after)', () => {
  const RESULTS = `subscription($after: String) { windowResults(eventType: "iot.sensor", key: "dev-1", window: "tumbling-1m", snapshot: true, after: $after) { windowStart count final cursor } }`;
  const w = (over: Partial<WindowResult>): WindowResult => ({
    eventType: 'iot.sensor',
    key: 'dev-1',
    window: 'tumbling-1m',
    windowStart: 0,
    windowEnd: 60_000,
    count: 1,
    valueCount: 1,
    sum: 1,
    avg: 1,
    min: 1,
    max: 1,
    distinctUsers: 0,
    final: false,
    revision: 0,
    ...over,
  });

  it('starts with the current values, drops live results not newer than them, and resumes after a cursor without repeating', async () => {
    const r = await start();
    try {
      r.h.windowResults.push(w({ windowStart: 0, count: 5 }), w({ windowStart: 60_000, windowEnd: 120_000, count: 2 }));
      const got: { windowStart: string; count: number; final: boolean; cursor: string }[] = [];
      const c = client(r.url);
      const off = c.subscribe<{ windowResults: (typeof got)[number] }>({ query: RESULTS }, { next: (m) => got.push(m.data!.windowResults), error: () => undefined, complete: () => undefined });
      await waitFor(() => got.length === 2, 'the snapshot');
      const pos = (offset: number) => ({ topic: SENSORS, partition: 3, offset, watermark: 1000, part: 0 });
      // older than the snapshot's value (count 4 < 5): dropped; newer: delivered
      r.h.bus.publish(subjects.windowResults('iot.sensor', 'tumbling-1m'), { results: [w({ count: 4 })], position: pos(10) });
      r.h.bus.publish(subjects.windowResults('iot.sensor', 'tumbling-1m'), { results: [w({ count: 6 })], position: pos(11) });
      await waitFor(() => got.length === 3, 'the newer live result');
      expect(got.map((g) => g.count)).toEqual([5, 2, 6]);
      const cursor = got[2]!.cursor;
      off();
      await c.dispose();

      r.h.windowResults.splice(0, 2, w({ count: 7 }), w({ windowStart: 60_000, windowEnd: 120_000, count: 2 }));
      const again: typeof got = [];
      const c2 = client(r.url);
      const off2 = c2.subscribe<{ windowResults: (typeof got)[number] }>(
        { query: RESULTS, variables: { after: cursor } },
        { next: (m) => again.push(m.data!.windowResults), error: () => undefined, complete: () => undefined },
      );
      await waitFor(() => again.length === 2, 'the snapshot on resume');
      // a replay at or below the cursor's position is not sent again; a later one is
      r.h.bus.publish(subjects.windowResults('iot.sensor', 'tumbling-1m'), { results: [w({ count: 8 })], position: pos(11) });
      r.h.bus.publish(subjects.windowResults('iot.sensor', 'tumbling-1m'), { results: [w({ count: 9 })], position: pos(12) });
      await waitFor(() => again.length === 3, 'the next live result');
      expect(again.map((g) => g.count)).toEqual([7, 2, 9]);
      off2();
      await c2.dispose();
    } finally {
      await r.close();
    }
  });
});
