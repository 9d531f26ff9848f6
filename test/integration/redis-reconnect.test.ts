import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import type { CheckpointStore } from '../../src/state/port.ts';
import { createRedisCheckpoints, deleteRedisKeysWithPrefix } from '../../src/state/redis/checkpoints.ts';
import { assertReachable, hostPortOf, requireRedis } from '../helpers/services.ts';
import { startProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

const { url } = requireRedis();
const keyPrefix = `kft-rc-${randomUUID()}`;


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
