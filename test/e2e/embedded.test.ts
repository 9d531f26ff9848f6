/**
 * The embedded platform end to end, on Node: one `keyflow start` child process, spoken to over
 * real HTTP and WebSocket only — publish, windows, keyState, subscriptions, latestEvents, dead
 * letters, operator routes, GraphiQL, subprotocol enforcement, and config validation at start-up.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type E2eServer, runToExit, startServer, stopAllServers } from '../helpers/e2e.ts';
import {
  GraphQLRequestError,
  KEY_STATE,
  type KeyStateOut,
  PUBLISH_EVENT,
  PUBLISH_EVENTS,
  type Receipt,
  WINDOWS,
  type WindowResultOut,
  gql,
  subscribe,
  wsClient,
} from '../helpers/graphql-client.ts';
import { waitFor } from '../helpers/wait.ts';

let server: E2eServer;
const run = randomUUID().slice(0, 8);
/** A minute-aligned base event time, well in the past so nothing else in this file reaches it. */
const T0 = Date.UTC(2025, 0, 15, 10, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  server = await startServer({
    env: { KEYFLOW_RETRY_BASE_MS: '5', KEYFLOW_MAX_RETRIES: '2', KEYFLOW_CHECKPOINT_INTERVAL_MS: '100' },
  });
});

afterAll(async () => {
  await stopAllServers();
});

/** Runs `fn`; on failure, appends the server's output so the cause is visible. */
async function withOutput<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    const tail = server?.output().slice(-6000) ?? '';
    if (e instanceof Error) e.message += `\n--- server output (tail) ---\n${tail}`;
    throw e;
  }
}

function sensor(key: string, ts: number, value: unknown, extra: Record<string, unknown> = {}) {
  return { eventId: `${run}-${randomUUID()}`, timestamp: iso(ts), eventType: 'iot.sensor', deviceId: key, payload: { value }, ...extra };
}

async function keyState(eventType: string, key: string): Promise<KeyStateOut | null> {
  return (await gql<{ keyState: KeyStateOut | null }>(server.url, KEY_STATE, { eventType, key })).keyState;
}

describe('embedded platform over HTTP and WebSocket (Node)', () => {
  it('serves /health, /ready and /metrics', () =>
    withOutput(async () => {
      const health = await fetch(`${server.baseUrl}/health`);
      expect(health.status).toBe(200);
      const h = (await health.json()) as { status: string; mode: string; components: { name: string; connected: boolean }[] };
      expect(h.status).toBe('ok');
      expect(h.mode).toBe('embedded');
      expect(h.components.map((c) => c.name)).toEqual(expect.arrayContaining(['broker', 'checkpoints', 'bus']));
      expect(h.components.every((c) => c.connected)).toBe(true);

      const ready = await fetch(`${server.baseUrl}/ready`);
      expect(ready.status).toBe(200);
      await ready.arrayBuffer();

      const metrics = await fetch(`${server.baseUrl}/metrics`);
      expect(metrics.status).toBe(200);
      expect(metrics.headers.get('content-type') ?? '').toMatch(/text\/plain/);
      expect(await metrics.text()).toContain('keyflow_events_processed_total');
    }));

  it('publishes one event and a batch; receipts are complete; a repeated eventId is a DUPLICATE', () =>
    withOutput(async () => {
      const key = `dev-${run}-pub`;
      const one = sensor(key, T0, 1);
      const { publishEvent } = await gql<{ publishEvent: Receipt }>(server.url, PUBLISH_EVENT, { input: one });
      expect(publishEvent).toMatchObject({ status: 'ACCEPTED', eventId: one.eventId, topic: 'events.iot.sensors', timestamp: iso(T0) });
      expect(Number.isInteger(publishEvent.partition)).toBe(true);
      expect(publishEvent.partition).toBeGreaterThanOrEqual(0);
      expect(publishEvent.partition).toBeLessThan(12);
      expect(publishEvent.offset).toMatch(/^\d+$/);

      const batch = [
        sensor(key, T0 + 1000, 2),
        { eventId: `${run}-${randomUUID()}`, timestamp: iso(T0 + 2000), eventType: 'clickstream', userId: `u-${run}`, payload: { page: '/' } },
        { eventId: `${run}-${randomUUID()}`, timestamp: iso(T0 + 3000), eventType: 'transaction', userId: `u-${run}`, payload: { amount: 9.5 } },
      ];
      const { publishEvents } = await gql<{ publishEvents: Receipt[] }>(server.url, PUBLISH_EVENTS, { inputs: batch });
      expect(publishEvents.map((r) => [r.status, r.eventId, r.topic])).toEqual([
        ['ACCEPTED', batch[0]!.eventId, 'events.iot.sensors'],
        ['ACCEPTED', batch[1]!.eventId, 'events.clickstream'],
        ['ACCEPTED', batch[2]!.eventId, 'events.transactions'],
      ]);
      // one key, one partition, offsets in publish order
      expect(publishEvents[0]!.partition).toBe(publishEvent.partition);
      expect(Number(publishEvents[0]!.offset)).toBeGreaterThan(Number(publishEvent.offset));

      const again = await gql<{ publishEvent: Receipt }>(server.url, PUBLISH_EVENT, { input: one });
      expect(again.publishEvent).toEqual({ ...publishEvent, status: 'DUPLICATE' });
    }));

  it('rejects an invalid batch as a whole, naming the bad index', () =>
    withOutput(async () => {
      const key = `dev-${run}-bad`;
      const inputs = [sensor(key, T0, 1), { eventId: `${run}-x`, timestamp: iso(T0), eventType: 'no.such.type', payload: {} }];
      const err = await gql(server.url, PUBLISH_EVENTS, { inputs }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(GraphQLRequestError);
      expect((err as GraphQLRequestError).codes).toContain('UNKNOWN_EVENT_TYPE');
      // nothing of the batch was published: an event published after it is the first the key counts
      // (one partition is processed in order, so a published bad batch would have been counted first)
      expect(await keyState('iot.sensor', key)).toBeNull();
      await gql(server.url, PUBLISH_EVENT, { input: sensor(key, T0 + 1000, 2) });
      const ks = await waitFor(async () => (await keyState('iot.sensor', key)) ?? undefined, { timeoutMs: 30_000, message: 'the later event counted' });
      expect(ks.eventsProcessed).toBe(1);
    }));

  it('aggregates windows and reports keyState; windows become final when the watermark passes them', () =>
    withOutput(async () => {
      const key = `dev-${run}-win`;
      const base = T0 + 3_600_000; // 11:00:00
      const events = [
        sensor(key, base + 5_000, 4, { userId: 'alice' }),
        sensor(key, base + 20_000, 10, { userId: 'bob' }),
        sensor(key, base + 15_000, 'not a number', { userId: 'alice' }), // out of order, no value
        sensor(key, base + 50_000, -2),
        sensor(key, base + 70_000, 7, { userId: 'carol' }), // next minute
      ];
      await gql(server.url, PUBLISH_EVENTS, { inputs: events });
      const ks = await waitFor(
        async () => {
          const s = await keyState('iot.sensor', key);
          return s && s.eventsProcessed === events.length ? s : undefined;
        },
        { timeoutMs: 30_000, message: 'keyState eventsProcessed = 5' },
      );
      expect(ks).toMatchObject({ eventType: 'iot.sensor', key, topic: 'events.iot.sensors', lastEventTime: iso(base + 70_000) });
      expect(ks.watermark).toBe(iso(base + 60_000)); // max event time − 10 s
      expect(ks.openWindows).toBeGreaterThan(0);

      const { windows } = await gql<{ windows: WindowResultOut[] }>(server.url, WINDOWS, { eventType: 'iot.sensor', key, window: 'tumbling-1m' });
      expect(windows).toEqual([
        {
          eventType: 'iot.sensor',
          key,
          window: 'tumbling-1m',
          windowStart: iso(base),
          windowEnd: iso(base + 60_000),
          count: 4,
          valueCount: 3,
          sum: 12,
          avg: 4,
          min: -2,
          max: 10,
          distinctUsers: 2,
          final: true, // watermark = base + 60 s ≥ windowEnd
          revision: 0,
        },
        {
          eventType: 'iot.sensor',
          key,
          window: 'tumbling-1m',
          windowStart: iso(base + 60_000),
          windowEnd: iso(base + 120_000),
          count: 1,
          valueCount: 1,
          sum: 7,
          avg: 7,
          min: 7,
          max: 7,
          distinctUsers: 1,
          final: false,
          revision: 0,
        },
      ]);
      const all = await gql<{ windows: WindowResultOut[] }>(server.url, WINDOWS, { eventType: 'iot.sensor', key });
      expect(new Set(all.windows.map((w) => w.window))).toEqual(new Set(['tumbling-1m', 'tumbling-5m', 'tumbling-15m', 'sliding-5m-1m', 'session-30m']));
      const session = all.windows.filter((w) => w.window === 'session-30m');
      expect(session).toHaveLength(1);
      expect(session[0]).toMatchObject({ windowStart: iso(base + 5_000), windowEnd: iso(base + 70_000 + 1_800_000), count: 5, final: false });

      // a later event on the same key moves the partition's watermark past every window so far
      await gql(server.url, PUBLISH_EVENT, { input: sensor(key, base + 3 * 3_600_000, 1) });
      const finals = await waitFor(
        async () => {
          const r = await gql<{ windows: WindowResultOut[] }>(server.url, WINDOWS, { eventType: 'iot.sensor', key, window: 'session-30m', finalOnly: true });
          return r.windows.length === 1 ? r.windows : undefined;
        },
        { timeoutMs: 30_000, message: 'session window final' },
      );
      expect(finals[0]).toMatchObject({ windowStart: iso(base + 5_000), count: 5, valueCount: 4, sum: 19, final: true, distinctUsers: 3 });
    }));

  it('streams events and windowResults to subscribers, in order per partition', () =>
    withOutput(async () => {
      const key = `dev-${run}-sub`;
      const client = wsClient(server.wsUrl);
      try {
        const events = subscribe<{ eventId: string; key: string; partition: number; offset: string }>(
          client,
          'subscription($t: String!, $k: String) { events(topic: $t, key: $k) { eventId key topic partition offset } }',
          { t: 'events.iot.sensors', k: key },
          'events',
        );
        const results = subscribe<WindowResultOut>(
          client,
          `subscription($k: String) { windowResults(eventType: "iot.sensor", key: $k, window: "tumbling-1m") {
            key window windowStart count sum final revision } }`,
          { k: key },
          'windowResults',
        );
        // The server does not acknowledge a subscription: publish warm-up events until one arrives,
        // so that the events below are certainly published after both subscriptions are active.
        const base = T0 + 5 * 3_600_000; // after every event time of the tests before
        const warmups = new Set<string>();
        await waitFor(
          async () => {
            const w = sensor(key, base, 0);
            warmups.add(w.eventId);
            await gql(server.url, PUBLISH_EVENT, { input: w });
            await new Promise((r) => setTimeout(r, 200));
            return events.messages.length > 0 && results.messages.length > 0;
          },
          { timeoutMs: 30_000, message: 'first subscription messages' },
        );

        const batch = Array.from({ length: 20 }, (_, i) => sensor(key, base + 1000 + i * 1000, i + 1));
        const receipts = (await gql<{ publishEvents: Receipt[] }>(server.url, PUBLISH_EVENTS, { inputs: batch })).publishEvents;
        const ids = batch.map((e) => e.eventId);
        const got = await events.until((m) => m.filter((e) => !warmups.has(e.eventId)).length >= ids.length);
        const mine = got.filter((e) => !warmups.has(e.eventId));
        expect(mine.map((e) => e.eventId)).toEqual(ids);
        expect(mine.every((e) => e.key === key && e.partition === receipts[0]!.partition)).toBe(true);
        const offsets = mine.map((e) => Number(e.offset));
        expect(offsets).toEqual(receipts.map((r) => Number(r.offset)));
        expect(offsets).toEqual([...offsets].sort((a, b) => a - b));

        const expectedSum = (20 * 21) / 2;
        const final = await results.until((m) => m.some((r) => r.count === warmups.size + 20));
        const last = final.find((r) => r.count === warmups.size + 20)!;
        expect(last).toMatchObject({ key, window: 'tumbling-1m', windowStart: iso(base), sum: expectedSum, final: false, revision: 0 });
        // updates of one window arrive in order: counts never go down
        const counts = final.filter((r) => r.windowStart === iso(base)).map((r) => r.count);
        expect(counts).toEqual([...counts].sort((a, b) => a - b));
        expect(events.errors).toEqual([]);
        expect(results.errors).toEqual([]);
        events.dispose();
        results.dispose();
      } finally {
        await client.dispose();
      }
    }));

  it('lists latestEvents newest event time first', () =>
    withOutput(async () => {
      // event times of now (a later one is refused: KEYFLOW_MAX_FUTURE_SKEW_MS), so these are the
      // newest of the topic: everything else this file publishes lies in 2025
      const base = Date.now();
      const user = `u-${run}-latest`;
      const inputs = [2, 0, 4, 1, 3].map((i) => ({
        eventId: `${run}-latest-${i}`,
        timestamp: iso(base + i * 1000),
        eventType: 'transaction',
        userId: user,
        payload: { amount: i },
      }));
      await gql(server.url, PUBLISH_EVENTS, { inputs });
      const { latestEvents } = await gql<{ latestEvents: { eventId: string; timestamp: string; key: string; topic: string }[] }>(
        server.url,
        'query { latestEvents(topic: "events.transactions", limit: 5) { eventId timestamp key topic } }',
      );
      expect(latestEvents.map((e) => e.eventId)).toEqual([4, 3, 2, 1, 0].map((i) => `${run}-latest-${i}`));
      expect(latestEvents.every((e) => e.key === user && e.topic === 'events.transactions')).toBe(true);
    }));

  it('dead-letters a poison event after retries and keeps processing the partition', () =>
    withOutput(async () => {
      const key = `dev-${run}-poison`;
      const base = T0 + 6 * 3_600_000;
      const poison = sensor(key, base, 1, { payload: { value: 1, __keyflowPoison: true } });
      const after = sensor(key, base + 1000, 5);
      await gql(server.url, PUBLISH_EVENTS, { inputs: [poison, after] });
      const letter = await waitFor(
        async () => {
          const { deadLetters } = await gql<{ deadLetters: Record<string, unknown>[] }>(
            server.url,
            `query { deadLetters(limit: 100) { id errorType errorMessage retryCount firstAttemptTime lastAttemptTime
              sourceTopic sourcePartition sourceOffset originalMessage } }`,
          );
          return deadLetters.find((d) => String(d.originalMessage).includes(poison.eventId));
        },
        { timeoutMs: 30_000, message: 'dead letter for the poison event' },
      );
      expect(letter).toMatchObject({ retryCount: 2, sourceTopic: 'events.iot.sensors' });
      expect(String(letter.errorMessage)).toContain('__keyflowPoison');
      expect(String(letter.sourceOffset)).toMatch(/^\d+$/);
      expect(JSON.parse(String(letter.originalMessage))).toMatchObject({ eventId: poison.eventId });
      // the next event of the same partition was processed; the poison one was not counted
      const ks = await waitFor(
        async () => {
          const s = await keyState('iot.sensor', key);
          return s && s.lastEventTime === iso(base + 1000) ? s : undefined;
        },
        { timeoutMs: 30_000, message: 'event after the poison pill processed' },
      );
      expect(ks.eventsProcessed).toBe(1);
      const metrics = await (await fetch(`${server.baseUrl}/metrics`)).text();
      expect(metrics).toMatch(/keyflow_events_dead_lettered_total(\{[^}]*\})? [1-9]/);
      expect(metrics).toMatch(/keyflow_events_processed_total(\{[^}]*\})? [1-9]/);
    }));

  it('serves GraphiQL on GET /graphql for browsers', () =>
    withOutput(async () => {
      const res = await fetch(server.url, { headers: { accept: 'text/html' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type') ?? '').toMatch(/text\/html/);
      expect((await res.text()).toLowerCase()).toContain('graphiql');
    }));

  it('rejects a WebSocket with another subprotocol, or none', () =>
    withOutput(async () => {
      for (const protocols of [['graphql-ws'], [] as string[]]) {
        const outcome = await new Promise<string>((resolveOutcome) => {
          const ws = new WebSocket(server.wsUrl, protocols);
          ws.once('open', () => {
            ws.close();
            resolveOutcome('open');
          });
          ws.once('unexpected-response', (_req, res) => {
            resolveOutcome(`http ${res.statusCode}`);
            ws.terminate();
          });
          ws.once('error', (e) => resolveOutcome(`error ${e.message}`));
        });
        expect(outcome).toBe('http 400');
      }
      // while the right one is accepted
      const client = wsClient(server.wsUrl);
      try {
        const sub = subscribe(client, 'subscription { events(topic: "events.clickstream") { eventId } }', {}, 'events');
        // the socket was accepted: the subscription delivers events, without an error (a subscription
        // is not acknowledged, so publish until one arrives)
        let attempt = 0;
        await waitFor(
          async () => {
            attempt++;
            await gql(server.url, PUBLISH_EVENT, {
              input: { eventId: `${run}-ws-ok-${attempt}`, timestamp: iso(T0), eventType: 'clickstream', userId: `u-${run}-ws`, payload: {} },
            });
            return sub.messages.length > 0 || sub.errors.length > 0;
          },
          { timeoutMs: 30_000, intervalMs: 200, message: 'a clickstream event on the accepted socket' },
        );
        expect(sub.errors).toEqual([]);
        sub.dispose();
      } finally {
        await client.dispose();
      }
    }));
});

describe('start-up configuration', () => {
  it('an invalid value stops start-up with a non-zero exit naming the variable', async () => {
    const r = await runToExit({ env: { KEYFLOW_PORT: 'abc', KEYFLOW_DATA_DIR: '/nonexistent-keyflow-e2e' }, timeoutMs: 90_000 });
    expect(r.code, r.output).not.toBe(0);
    expect(r.code).not.toBeNull();
    expect(r.output).toContain('KEYFLOW_PORT');
    expect(r.output).toContain('INVALID_CONFIG');
  });
});
