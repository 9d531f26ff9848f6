import { randomUUID } from 'node:crypto';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNatsBus } from '../../src/bus/nats/nats-bus.ts';
import type { LiveBus } from '../../src/bus/port.ts';
import { assertReachable, hostPortOf, requireNats } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const { url } = requireNats();

/**
 * A TCP proxy in front of the real NATS that the test can cut and restore, so a lost connection
 * is exercised without stopping the shared server.
 */
async function startProxy(upstream: string): Promise<{ port: number; cut(): void; restore(): void; close(): Promise<void> }> {
  const [host, port] = upstream.split(':') as [string, string];
  const sockets = new Set<Socket>();
  let down = false;
  const server: Server = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const up = tcpConnect({ host, port: Number(port) });
    sockets.add(client);
    sockets.add(up);
    client.pipe(up).pipe(client);
    const drop = () => {
      client.destroy();
      up.destroy();
      sockets.delete(client);
      sockets.delete(up);
    };
    client.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no port');
  return {
    port: address.port,
    cut() {
      down = true;
      for (const s of sockets) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

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
