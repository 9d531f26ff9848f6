/**
 * The CI smoke, run twice — the same test function against the server on Node and on Deno 2
 * (`deno run -A --node-modules-dir=manual src/cli/main.ts start`, as `npm run start:deno`): publish over
 * HTTP, receive the window result over a graphql-ws subscription, read the window back.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { type Runtime, startServer, stopAllServers } from '../helpers/e2e.ts';
import { PUBLISH_EVENT, PUBLISH_EVENTS, type Receipt, WINDOWS, type WindowResultOut, gql, subscribe, wsClient } from '../helpers/graphql-client.ts';
import { waitFor } from '../helpers/wait.ts';

afterAll(async () => {
  await stopAllServers();
});

const iso = (ms: number) => new Date(ms).toISOString();

async function smoke(runtime: Runtime): Promise<void> {
  const server = await startServer({ runtime, env: { KEYFLOW_CHECKPOINT_INTERVAL_MS: '200' } });
  const client = wsClient(server.wsUrl);
  try {
    const health = (await (await fetch(`${server.baseUrl}/health`)).json()) as { status: string; mode: string };
    expect(health).toMatchObject({ status: 'ok', mode: 'embedded' });

    const key = `smoke-${runtime}-${Date.now().toString(36)}`;
    const base = Date.UTC(2025, 5, 1, 12, 0, 0);
    const sub = subscribe<WindowResultOut>(
      client,
      'subscription($k: String) { windowResults(eventType: "iot.sensor", key: $k, window: "tumbling-1m") { key windowStart count sum final } }',
      { k: key },
      'windowResults',
    );
    // a subscription is not acknowledged: publish until the first result arrives
    let warmups = 0;
    await waitFor(
      async () => {
        warmups++;
        const input = { eventId: `${key}-w${warmups}`, timestamp: iso(base), eventType: 'iot.sensor', deviceId: key, payload: { value: 0 } };
        const r = await gql<{ publishEvent: Receipt }>(server.url, PUBLISH_EVENT, { input });
        expect(r.publishEvent.status).toBe('ACCEPTED');
        await new Promise((res) => setTimeout(res, 250));
        return sub.messages.length > 0;
      },
      { timeoutMs: 30_000, message: `first windowResults message on ${runtime}` },
    );
    const inputs = [1, 2, 3].map((v) => ({ eventId: `${key}-${v}`, timestamp: iso(base + v * 1000), eventType: 'iot.sensor', deviceId: key, payload: { value: v } }));
    const receipts = (await gql<{ publishEvents: Receipt[] }>(server.url, PUBLISH_EVENTS, { inputs })).publishEvents;
    expect(receipts.map((r) => r.status)).toEqual(['ACCEPTED', 'ACCEPTED', 'ACCEPTED']);

    const msgs = await sub.until((m) => m.some((w) => w.count === warmups + 3));
    expect(msgs.find((w) => w.count === warmups + 3)).toEqual({ key, windowStart: iso(base), count: warmups + 3, sum: 6, final: false });

    const { windows } = await gql<{ windows: WindowResultOut[] }>(server.url, WINDOWS, { eventType: 'iot.sensor', key, window: 'tumbling-1m' });
    expect(windows).toHaveLength(1);
    expect(windows[0]).toMatchObject({ key, windowStart: iso(base), windowEnd: iso(base + 60_000), count: warmups + 3, valueCount: warmups + 3, sum: 6, min: 0, max: 3 });
    sub.dispose();

    // a graceful stop on SIGTERM exits 0 on both runtimes
    await client.dispose();
    const exit = await server.stop();
    expect(exit?.code, server.output().slice(-4000)).toBe(0);
  } catch (e) {
    if (e instanceof Error) e.message += `\n--- ${runtime} server output (tail) ---\n${server.output().slice(-6000)}`;
    throw e;
  } finally {
    await client.dispose();
    await server.stop();
  }
}

describe.each(['node', 'deno'] as const)('smoke on %s', (runtime) => {
  it('publishes over HTTP, streams a window result over WebSocket, reads the window', () => smoke(runtime), 180_000);
});
