import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus } from '../../src/bus/nats/nats-bus.ts';
import type { LiveBus } from '../../src/bus/port.ts';
import { assertReachable, hostPortOf, requireNats } from '../helpers/services.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const { url } = requireNats();


const buses: LiveBus[] = [];
let proxy: Awaited<ReturnType<typeof startProxy>>;

beforeAll(async () => {
  const hp = hostPortOf(url, 4222);
  await assertReachable('NATS', hp);
  proxy = await startProxy(hp);
});

afterAll(async () => {
  for (const b of buses) await b.close();
  await proxy?.close();
});

describe('NATS live bus across a lost connection', () => {
  it('reports unhealthy while cut off, reconnects, and restores its subscriptions and responders', async () => {
    const prefix = `kft-${randomUUID().slice(0, 8)}`;
    const flaky = createNatsBus({
      servers: `nats://127.0.0.1:${proxy.port}`,
      prefix,
      maxReconnectDelayMs: 200,
      connectionOptions: { ignoreClusterUpdates: true, pingInterval: 200, maxPingOut: 2 },
    });
    const steady = createNatsBus({ servers: url, prefix });
    buses.push(flaky, steady);
    await Promise.all([flaky.start(), steady.start()]);

    const got: unknown[] = [];
    flaky.subscribe('keyflow.events.t', (m) => got.push(m));
    flaky.respond('keyflow.query.t.0', async (req) => ({ echo: req }));
    await waitFor(() => steady.request('keyflow.query.t.0', 1, 500), { message: 'responder before the cut' });

    proxy.cut();
    await waitFor(async () => !(await flaky.healthy()).connected, { message: 'disconnect noticed' });

    proxy.restore();
    await waitFor(async () => (await flaky.healthy()).connected, { timeoutMs: 20_000, message: 'reconnected' });
    // The responder and the subscription came back with the connection.
    expect(await waitFor(() => steady.request('keyflow.query.t.0', 2, 500), { message: 'responder after reconnect' })).toEqual({ echo: 2 });
    await waitFor(
      () => {
        steady.publish('keyflow.events.t', 'after');
        return got.includes('after');
      },
      { message: 'subscription after reconnect' },
    );
  });
});
