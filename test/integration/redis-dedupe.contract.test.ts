/** The Redis dedupe adapter: the dedupe contract on a real Redis, plus what only Redis has (TTLs, tokens, errors). */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRedisDedupe, type Dedupe, type RedisDedupeOptions, type StoredReceipt } from '../../src/ingest/index.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import { deleteRedisKeysWithPrefix } from '../../src/state/redis/checkpoints.ts';
import { describeDedupeContract } from '../contract/dedupe.contract.ts';
import { assertReachable, hostPortOf, requireRedis } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const { url } = requireRedis();

async function redisAdmin(): Promise<Redis> {
  await assertReachable('Redis', hostPortOf(url, 6379));
  const admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  return admin;
}

const DAY = 86_400_000;

describeDedupeContract('Redis', async () => {
  const prefix = `kft-ddc-${randomUUID()}`;
  const admin = await redisAdmin();
  return {
    open: (options = {}) => createRedisDedupe({ url, keyPrefix: prefix, ttlMs: DAY, ...options }),
    // Redis keys expire in real time: the contract waits for the expiry it expects.
    elapse: () => {},
    async cleanup() {
      await deleteRedisKeysWithPrefix(admin, prefix);
      await admin.quit();
    },
  };
});

describe('Redis dedupe specifics', () => {
  const prefix = `kft-dd-${randomUUID()}`;
  let admin: Redis;
  const opened: Dedupe[] = [];

  function gateway(o: Partial<RedisDedupeOptions> = {}): Dedupe {
    const d = createRedisDedupe({ url, keyPrefix: prefix, ttlMs: DAY, ...o });
    opened.push(d);
    return d;
  }

  const receipt: StoredReceipt = { topic: 'events.iot.sensors', partition: 3, offset: 42, timestamp: 1_700_000_000_123 };

  beforeAll(async () => {
    admin = await redisAdmin();
  });

  afterAll(async () => {
    for (const d of opened) await d.close();
    if (admin) {
      await deleteRedisKeysWithPrefix(admin, prefix);
      await admin.quit();
    }
  });

  it('is the redis kind', () => {
    expect(gateway().kind).toBe('redis');
  });

  it('keeps a pending claim for the horizon (a stale one is still there to resolve) and a receipt for ttlMs', async () => {
    const a = gateway({ ttlMs: 3_600_000, pendingTtlMs: 20_000 });
    await a.claim('e-ttl', { topic: 'events.iot.sensors', partition: 2 });
    const pendingTtl = await admin.pttl(`${prefix}:dedupe:e-ttl`);
    expect(pendingTtl).toBeGreaterThan(20_000);
    expect(pendingTtl).toBeLessThanOrEqual(3_600_000);
    expect(await admin.get(`${prefix}:dedupe:e-ttl`)).toMatch(/^P\|[^|]+\|\d+\|2\|events\.iot\.sensors$/);
    await a.complete('e-ttl', receipt);
    const doneTtl = await admin.pttl(`${prefix}:dedupe:e-ttl`);
    expect(doneTtl).toBeGreaterThan(20_000);
    expect(doneTtl).toBeLessThanOrEqual(3_600_000);
  });

  it('a claim that expired and was taken over is not released by its first holder', async () => {
    const a = gateway({ pendingTtlMs: 50 });
    const b = gateway({ pendingTtlMs: 50 });
    expect(await a.claim('e3')).toEqual({ status: 'claimed' });
    await waitFor(async () => (await b.claim('e3')).status === 'claimed', { timeoutMs: 5000, message: "a's claim never expired" });
    await a.release('e3');
    expect(await a.claim('e3')).toEqual({ status: 'pending' });
  });

  it('rejects invalid ttls as INVALID_CONFIG', () => {
    for (const o of [{ ttlMs: -1 }, { pendingTtlMs: 0 }, { ttlMs: 1.5 }]) {
      let err: unknown;
      try {
        createRedisDedupe({ keyPrefix: prefix, ttlMs: DAY, ...o });
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(KeyflowError);
      expect((err as KeyflowError).code).toBe(ErrorCode.INVALID_CONFIG);
    }
  });

  it('rejects with STORE_UNAVAILABLE (retriable) when Redis is unreachable', async () => {
    const d = gateway({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 500, maxRetriesPerRequest: 1 });
    for (const p of [d.claim('x'), d.complete('x', receipt), d.release('x')]) {
      const err = await p.then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KeyflowError);
      expect((err as KeyflowError).code).toBe(ErrorCode.STORE_UNAVAILABLE);
      expect((err as KeyflowError).retriable).toBe(true);
    }
  });
});
