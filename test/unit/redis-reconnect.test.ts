import { randomUUID } from 'node:crypto';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import type { CheckpointStore } from '../../src/state/port.ts';
import { createRedisCheckpoints, deleteRedisKeysWithPrefix } from '../../src/state/redis/checkpoints.ts';
import { assertReachable, hostPortOf, requireRedis } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const { url } = requireRedis();
const keyPrefix = `kft-rc-${randomUUID()}`;

/**
 * A TCP proxy in front of the real Redis that the test can cut and restore, so a lost connection
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

const stores: CheckpointStore[] = [];
let proxy: Awaited<ReturnType<typeof startProxy>>;

beforeAll(async () => {
  const hp = hostPortOf(url, 6379);
  await assertReachable('Redis', hp);
  proxy = await startProxy(hp);
});

afterAll(async () => {
  for (const s of stores) await s.close();
  await proxy?.close();
  const admin = new Redis(url, { maxRetriesPerRequest: 1 });
  await deleteRedisKeysWithPrefix(admin, keyPrefix);
  await admin.quit();
});

const write = (nextOffset: number) => ({ nextOffset, partitionState: `s${nextOffset}`, dirty: new Map([['k', `v${nextOffset}`]]) });

describe('Redis checkpoint store across a lost connection', () => {
  it('rejects with STORE_UNAVAILABLE while Redis is unreachable, then reconnects and commits under the same epoch', async () => {
    const store = createRedisCheckpoints({
      url: `redis://127.0.0.1:${proxy.port}`,
      keyPrefix,
      commandTimeoutMs: 1000,
      maxRetriesPerRequest: 1,
      redisOptions: { retryStrategy: () => 50 },
    });
    stores.push(store);
    await store.start();
    const epoch = await store.acquire('t.rc', 0);
    await store.commit('t.rc', 0, epoch, write(1));

    proxy.cut();
    const err = await store.commit('t.rc', 0, epoch, write(2)).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(KeyflowError);
    expect((err as KeyflowError).code).toBe(ErrorCode.STORE_UNAVAILABLE);
    expect((err as KeyflowError).retriable).toBe(true);
    expect((await store.healthy()).connected).toBe(false);

    proxy.restore();
    // The caller's retry loop: the same write again until it lands.
    await waitFor(() => store.commit('t.rc', 0, epoch, write(3)).then(() => true), { timeoutMs: 20_000, message: 'commit after reconnect' });
    expect((await store.healthy()).connected).toBe(true);
    expect(await store.load('t.rc', 0)).toEqual({ nextOffset: 3, partitionState: 's3', epoch });
    expect(await store.loadActor('t.rc', 0, 'k')).toBe('v3');
  });
});
