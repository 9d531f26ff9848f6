/** graphql-ws over a real ws server on an ephemeral port: subscriptions in order, filters, cleanup, subprotocol, auth, limits. */
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { type Client, createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { subjects } from '../../src/bus/port.ts';
import { WS_CLOSE_UNAUTHENTICATED } from '../../src/graphql/server.ts';
import { DEFAULT_EVENT_TYPES } from '../../src/model/event-types.ts';
import type { WindowResult } from '../../src/model/window-result.ts';
import type { EventLog } from '../../src/log/port.ts';
import { type Harness, PUBLISH, PUBLISH_MANY, createEmbeddedHarness, sensorEvent } from '../helpers/graphql-harness.ts';

interface Running {
  h: Harness<EventLog>;
  http: Server;
  url: string;
  close(): Promise<void>;
}

/** The real embedded log and in-process bus behind a real HTTP + ws server on an ephemeral port. */
async function start(options: Parameters<typeof createEmbeddedHarness>[0] = {}): Promise<Running> {
  const h = await createEmbeddedHarness(options);
  const http = createServer(h.server.handler);
  const closeWs = h.server.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  return {
    h,
    http,
    url: `ws://127.0.0.1:${port}/graphql`,
    async close() {
      await closeWs();
      await new Promise<void>((r) => http.close(() => r()));
      await h.close();
    },
  };
}

function client(url: string, connectionParams?: Record<string, unknown>): Client {
  return createClient({ url, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams });
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

interface EventOut {
  eventId: string;
  key: string;
  partition: number;
  offset: string;
  topic: string;
}

const EVENTS_SUB = 'subscription($t: String!, $k: String) { events(topic: $t, key: $k) { eventId key topic partition offset timestamp } }';

describe('graphql-ws subscriptions', () => {
  let run: Running;
  beforeAll(async () => {
    run = await start();
  });
  afterAll(async () => {
    await run.close();
  });

  it('streams every event published to the topic after subscribing, in order', async () => {
    // Feature: keyflow, Property 13: WebSocket streaming consistency
    const c = client(run.url);
    const subject = subjects.events('events.iot.sensors');
    let n = 0;
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.record({ key: fc.constantFrom('a', 'b', 'c', 'd'), other: fc.boolean() }), { minLength: 1, maxLength: 12 }),
          async (plan) => {
            const run0 = n++;
            const it = c.iterate({ query: EVENTS_SUB, variables: { t: 'events.iot.sensors' } });
            await waitFor(() => run.h.subscriberCount(subject) === 1, 'the subscription');
            const expected: string[] = [];
            for (let i = 0; i < plan.length; i++) {
              const { key, other } = plan[i]!;
              const eventId = `p13-${run0}-${i}`;
              // Events of another topic are published in between and must not show up.
              const input = other
                ? sensorEvent({ eventId, eventType: 'clickstream', deviceId: key })
                : sensorEvent({ eventId, deviceId: key });
              const r = await run.h.gql(PUBLISH, { input });
              expect(r.body.errors).toBeUndefined();
              if (!other) expected.push(eventId);
            }
            const got: EventOut[] = [];
            while (got.length < expected.length) {
              const next = await it.next();
              expect(next.done).toBe(false);
              expect(next.value.errors).toBeUndefined();
              got.push((next.value.data as { events: EventOut }).events);
            }
            await it.return?.();
            expect(got.map((e) => e.eventId)).toEqual(expected);
            for (const e of got) expect(e.topic).toBe('events.iot.sensors');
            // Per partition, offsets rise.
            const last = new Map<number, number>();
            for (const e of got) {
              expect(Number(e.offset)).toBeGreaterThan(last.get(e.partition) ?? -1);
              last.set(e.partition, Number(e.offset));
            }
            await waitFor(() => run.h.subscriberCount(subject) === 0, 'the bus unsubscribe');
          },
        ),
        { numRuns: 100 },
      );
    } finally {
      await c.dispose();
    }
  });

  it('subscribers of one operation get the same payload bytes, each in a text frame under its own id', async () => {
    const subject = subjects.events('events.iot.sensors');
    const frames: { socket: number; text: string }[] = [];
    const sockets = [0, 1].map((n) => {
      const ws = new WebSocket(run.url, 'graphql-transport-ws');
      ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init' })));
      ws.on('message', (data: Buffer, isBinary: boolean) => {
        expect(isBinary).toBe(false);
        const text = data.toString('utf8');
        if (text.includes('"type":"connection_ack"')) {
          const subscribe = (id: string, query: string) => ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables: { t: 'events.iot.sensors' } } }));
          // an id that JSON escapes: its frame is matched by parsing
          subscribe(n === 0 ? 'same-1' : 'same "1"\\', EVENTS_SUB);
          if (n === 0) {
            subscribe('same-2', EVENTS_SUB);
            subscribe('other', 'subscription($t: String!) { events(topic: $t) { eventId } }');
          }
        } else if (text.includes('"type":"next"')) frames.push({ socket: n, text });
      });
      return ws;
    });
    try {
      // graphql-ws does not acknowledge a subscription: publish until every operation got the event
      await waitFor(() => run.h.subscriberCount(subject) === 1, 'the subscriptions');
      let i = 0;
      let last = '';
      const everyOperationGot = (eventId: string) => new Set(frames.filter((f) => f.text.includes(`"${eventId}"`)).map((f) => `${f.socket}:${JSON.parse(f.text).id}`)).size === 4;
      let publishing: Promise<unknown> = Promise.resolve();
      let busy = false;
      await waitFor(() => {
        for (let j = 0; j < i; j++) if (everyOperationGot(`shared-bytes-${j}`)) last = `shared-bytes-${j}`;
        if (last !== '') return true;
        if (!busy) {
          busy = true;
          publishing = run.h.gql(PUBLISH, { input: sensorEvent({ eventId: `shared-bytes-${i++}`, deviceId: 'shared' }) }).finally(() => {
            busy = false;
          });
        }
        return false;
      }, 'an event every operation got', 10_000);
      await publishing;
      const of = (socket: number, id: string) => frames.find((f) => f.socket === socket && JSON.parse(f.text).id === id && f.text.includes(last))!;
      const payloadOf = (f: { text: string }) => f.text.slice(f.text.indexOf('"payload":'));
      const same = [of(0, 'same-1'), of(0, 'same-2'), of(1, 'same "1"\\')];
      for (const f of same) {
        const m = JSON.parse(f.text) as { type: string; payload: { data: { events: { eventId: string } } } };
        expect(m.type).toBe('next');
        expect(m.payload.data.events.eventId).toBe(last);
      }
      expect(payloadOf(same[1]!)).toBe(payloadOf(same[0]!));
      expect(payloadOf(same[2]!)).toBe(payloadOf(same[0]!));
      expect(JSON.parse(of(0, 'other').text).payload).toEqual({ data: { events: { eventId: last } } });
    } finally {
      for (const ws of sockets) ws.terminate();
      await waitFor(() => run.h.subscriberCount(subject) === 0, 'the bus unsubscribe');
    }
  });

  it('with key, only that actor\'s events arrive', async () => {
    const c = client(run.url);
    try {
      const it = c.iterate({ query: EVENTS_SUB, variables: { t: 'events.iot.sensors', k: 'only-me' } });
      await waitFor(() => run.h.subscriberCount(subjects.events('events.iot.sensors')) === 1, 'the subscription');
      await run.h.gql(PUBLISH_MANY, {
        inputs: [
          sensorEvent({ eventId: 'k1', deviceId: 'someone-else' }),
          sensorEvent({ eventId: 'k2', deviceId: 'only-me' }),
          sensorEvent({ eventId: 'k3', deviceId: null, userId: 'only-me' }),
        ],
      });
      const a = await it.next();
      const b = await it.next();
      expect([a.value.data.events.eventId, b.value.data.events.eventId]).toEqual(['k2', 'k3']);
      await it.return?.();
    } finally {
      await c.dispose();
    }
  });

  it('windowResults streams matching results only; finalOnly keeps finals', async () => {
    const c = client(run.url);
    const subject = subjects.windowResults('iot.sensor', 'tumbling-1m');
    const result = (over: Partial<WindowResult>): WindowResult => ({
      eventType: 'iot.sensor',
      key: 'dev-1',
      window: 'tumbling-1m',
      windowStart: Date.UTC(2024, 0, 15, 10, 30),
      windowEnd: Date.UTC(2024, 0, 15, 10, 31),
      count: 1,
      valueCount: 1,
      sum: 2,
      avg: 2,
      min: 2,
      max: 2,
      distinctUsers: 0,
      final: false,
      revision: 0,
      ...over,
    });
    try {
      const it = c.iterate({
        query:
          'subscription { windowResults(eventType: "iot.sensor", key: "dev-1", window: "tumbling-1m", finalOnly: true) { key window windowStart count final } }',
      });
      await waitFor(() => run.h.subscriberCount(subject) === 1, 'the subscription');
      // One message per batch: the matching elements come out one by one, in order; a malformed
      // element is dropped alone, a message that is not a batch is dropped whole.
      run.h.bus.publish(subject, {
        results: [
          result({ count: 1 }),
          result({ key: 'dev-2', final: true }),
          { not: 'a window result' },
          result({ window: 'tumbling-5m', final: true }),
          result({ count: 3, final: true }),
        ],
      });
      run.h.bus.publish(subject, result({ count: 9, final: true }));
      run.h.bus.publish(subject, { results: 'not an array' });
      run.h.bus.publish(subject, { results: [result({ count: 4, final: true, revision: 1 })] });
      const expected = (count: number) => ({
        key: 'dev-1',
        window: 'tumbling-1m',
        windowStart: '2024-01-15T10:30:00.000Z',
        count,
        final: true,
      });
      expect((await it.next()).value.data.windowResults).toEqual(expected(3));
      expect((await it.next()).value.data.windowResults).toEqual(expected(4));
      await it.return?.();
      await waitFor(() => run.h.subscriberCount(subject) === 0, 'the bus unsubscribe');
    } finally {
      await c.dispose();
    }
  });

  it('a client that disconnects leaves no bus subscription behind', async () => {
    const c = client(run.url);
    const subject = subjects.events('events.transactions');
    const it = c.iterate({ query: EVENTS_SUB, variables: { t: 'events.transactions' } });
    void it.next().catch(() => {});
    await waitFor(() => run.h.subscriberCount(subject) === 1, 'the subscription');
    await c.dispose();
    await waitFor(() => run.h.subscriberCount(subject) === 0, 'the bus unsubscribe after disconnect');
  });

  it('an unknown topic or window fails the subscription with its code', async () => {
    const c = client(run.url);
    try {
      const topic = await c.iterate({ query: EVENTS_SUB, variables: { t: 'events.nowhere' } }).next();
      expect(topic.value.errors[0].extensions).toMatchObject({ code: 'UNKNOWN_TOPIC', requestId: expect.any(String), timestamp: expect.any(String) });
      const window = await c
        .iterate({ query: 'subscription { windowResults(eventType: "iot.sensor", window: "tumbling-2m") { key } }' })
        .next();
      expect(window.value.errors[0].extensions.code).toBe('UNKNOWN_WINDOW');
    } finally {
      await c.dispose();
    }
  });

  it('applies the same input validation and query limits as HTTP', async () => {
    const c = client(run.url);
    try {
      const bad = c.iterate({ query: PUBLISH, variables: { input: sensorEvent({ timestamp: 'tomorrow' }) } });
      const badErr = await bad.next().then(
        (r) => r.value.errors,
        (e: unknown) => e,
      );
      expect(JSON.stringify(badErr)).toContain('SCHEMA_VALIDATION_FAILED');

      const aliases = Array.from({ length: 40 }, (_, i) => `a${i}: topics { name }`).join(' ');
      const bomb = await c.iterate({ query: `{ ${aliases} }` }).next().then(
        (r) => r.value.errors,
        (e: unknown) => e,
      );
      expect(JSON.stringify(bomb)).toContain('QUERY_TOO_COMPLEX');
      expect(JSON.stringify(bomb)).toContain('requestId');

      const ok = await c.iterate({ query: PUBLISH, variables: { input: sensorEvent({ eventId: 'ws-pub' }) } }).next();
      expect(ok.value.data.publishEvent).toMatchObject({ status: 'ACCEPTED', eventId: 'ws-pub' });
    } finally {
      await c.dispose();
    }
  });

  it('accepts only the graphql-transport-ws subprotocol', async () => {
    const attempt = (protocols: string[]) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(run.url, protocols);
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('error', () => {});
      });
    expect(await attempt(['graphql-ws'])).toBe(400);
    expect(await attempt([])).toBe(400);
    expect(await attempt(['graphql-transport-ws'])).toBe(101);
  });
});

describe('graphql-ws authentication', () => {
  let run: Running;
  beforeAll(async () => {
    run = await start({ apiTokens: ['tok-1'] });
  });
  afterAll(async () => {
    await run.close();
  });

  it('closes a connection_init without a valid token as UNAUTHENTICATED and serves one with it', async () => {
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const c = createClient({
        url: run.url,
        webSocketImpl: WebSocket,
        retryAttempts: 0,
        lazy: false,
        connectionParams: { authorization: 'Bearer wrong' },
        on: { closed: (e) => resolve(e as { code: number; reason: string }) },
        onNonLazyError: () => {},
      });
      void c;
    });
    const ev = await closed;
    expect(ev.code).toBe(WS_CLOSE_UNAUTHENTICATED);
    expect(ev.reason).toContain('UNAUTHENTICATED');

    const c = client(run.url, { authorization: 'Bearer tok-1' });
    try {
      const r = await c.iterate({ query: '{ topics { name } }' }).next();
      expect(r.value.data.topics).toHaveLength(DEFAULT_EVENT_TYPES.length);
    } finally {
      await c.dispose();
    }
  });
});
