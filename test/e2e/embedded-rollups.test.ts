/**
 * Rollups across keys on the embedded platform (file log, file checkpoint store), over real HTTP
 * and WebSocket: the `rollups` subscription sees the numbers change as events are published; the
 * server is SIGKILLed in the middle of the work and restarted; the `rollups` query then equals the
 * reference recomputed from the raw events; bad arguments fail with stable codes.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Rollup } from '../../src/actors/index.ts';
import { type E2eServer, startServer, stopAllServers } from '../helpers/e2e.ts';
import { GraphQLRequestError, gql, PUBLISH_EVENTS, subscribe, wsClient } from '../helpers/graphql-client.ts';
import { close, type RefEvent } from '../helpers/reference-model.ts';
import { referenceRollups } from '../helpers/reference-rollups.ts';

let server: E2eServer;
const run = randomUUID().slice(0, 8);
/** Minute-aligned, in the past, apart from other suites' event times. */
const T0 = Date.UTC(2025, 2, 3, 9, 0, 0);

beforeAll(async () => {
  server = await startServer({ env: { KEYFLOW_CHECKPOINT_INTERVAL_MS: '100', KEYFLOW_IDLE_TIMEOUT_MS: '600000' } });
});

afterAll(async () => {
  await stopAllServers();
});

const ROLLUPS = `query ($window: String!, $top: Int, $by: RollupOrder) {
  rollups(eventType: "iot.sensor", window: $window, top: $top, by: $by) {
    window windowStart windowEnd count distinctKeys distinctUsers valueCount sum avg min max final
    topKeys { key count valueCount sum avg min max }
  }
}`;

type Out = Omit<Rollup, 'windowStart' | 'windowEnd'> & { windowStart: string; windowEnd: string };

async function rollups(window: string, top = 3, by = 'COUNT'): Promise<Rollup[]> {
  const r = await gql<{ rollups: Out[] }>(server.url, ROLLUPS, { window, top, by });
  return r.rollups.map((x) => ({ ...x, eventType: 'iot.sensor', windowStart: Date.parse(x.windowStart), windowEnd: Date.parse(x.windowEnd) }));
}

describe('rollups across keys, embedded, over HTTP and WebSocket', () => {
  it('live numbers change on the subscription; after a SIGKILL mid-work the query equals the reference', async () => {
    const keys = Array.from({ length: 7 }, (_, i) => `${run}-dev-${i}`);
    const events: { eventId: string; timestamp: string; eventType: string; deviceId: string; userId: string; payload: { value: number } }[] = [];
    for (let i = 0; i < 240; i++) {
      events.push({
        eventId: `${run}-r${i}`,
        timestamp: new Date(T0 + i * 700).toISOString(),
        eventType: 'iot.sensor',
        deviceId: keys[(i * 5) % keys.length]!,
        userId: `${run}-u${i % 4}`,
        payload: { value: ((i * 37) % 400) / 4 },
      });
    }
    const client = wsClient(server.url);
    const sub = subscribe<Out>(client, `subscription { rollups(eventType: "iot.sensor", window: "tumbling-1m", top: 2) { windowStart count distinctKeys topKeys { key count } } }`, {}, 'rollups');
    try {
      await gql(server.url, PUBLISH_EVENTS, { inputs: events.slice(0, 40) });
      // the first minute's 40 events, live (its count grows as the batches are processed)
      await sub.until((ms) => ms.some((m) => Date.parse(m.windowStart) === T0 && m.count === 40));
      await gql(server.url, PUBLISH_EVENTS, { inputs: events.slice(40, 120) });
      await sub.until((ms) => ms.some((m) => Date.parse(m.windowStart) === T0 + 60_000 && m.count === 120 - 86));
    } finally {
      sub.dispose();
      await client.dispose();
    }
    // kill in the middle of the work: a batch published, not necessarily processed or checkpointed
    const publishing = gql(server.url, PUBLISH_EVENTS, { inputs: events.slice(120, 200) });
    await publishing;
    await server.kill('SIGKILL');
    await server.restart();
    await gql(server.url, PUBLISH_EVENTS, { inputs: events.slice(200) });

    const ref: RefEvent[] = events.map((e) => ({ eventType: e.eventType, key: e.deviceId, timestamp: Date.parse(e.timestamp), userId: e.userId, payload: e.payload }));
    for (const [window, by] of [
      ['tumbling-1m', 'count'],
      ['tumbling-5m', 'sum'],
      ['sliding-5m-1m', 'max'],
    ] as const) {
      const want = referenceRollups([ref], { eventType: 'iot.sensor', window, top: 3, by, valueField: () => 'value', maxOutOfOrderMs: 10_000 });
      await expect
        .poll(async () => {
          const got = await rollups(window, 3, by.toUpperCase());
          return got.map((r) => ({ ...r, final: false, sum: close(r.sum, want.find((w) => w.windowStart === r.windowStart)?.sum ?? null) }));
        }, { timeout: 30_000 })
        .toEqual(want.map((r) => ({ ...r, eventType: 'iot.sensor', final: false, sum: true })));
    }
  }, 180_000);

  it('sessions, unknown windows and a too long top list fail with stable codes', async () => {
    const code = async (vars: Record<string, unknown>) => {
      try {
        await gql(server.url, ROLLUPS, vars);
        return 'none';
      } catch (e) {
        return e instanceof GraphQLRequestError ? e.errors[0]?.extensions?.code : String(e);
      }
    };
    expect(await code({ window: 'session-30m' })).toBe('UNKNOWN_WINDOW');
    expect(await code({ window: 'tumbling-7m' })).toBe('UNKNOWN_WINDOW');
    expect(await code({ window: 'tumbling-1m', top: 101 })).toBe('SCHEMA_VALIDATION_FAILED');
  });
});
