import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import type { Dedupe, StoredReceipt } from '../../src/ingest/dedupe/port.ts';
import { deleteRedisKeysWithPrefix } from '../../src/state/redis/checkpoints.ts';
import { createRedisDedupe, type RedisDedupeOptions } from '../../src/ingest/dedupe/redis.ts';
import { assertReachable, hostPortOf, requireRedis } from '../helpers/services.ts';

const { url } = requireRedis();
const prefix = `kft-dd-${randomUUID()}`;
let admin: Redis;
const opened: Dedupe[] = [];

function gateway(o: RedisDedupeOptions = {}): Dedupe {
  const d = createRedisDedupe({ url, keyPrefix: prefix, ...o });
  opened.push(d);
  return d;
}

const receipt: StoredReceipt = { topic: 'events.iot.sensors', partition: 3, offset: 42, timestamp: 1_700_000_000_123 };

beforeAll(async () => {
  await assertReachable('Redis', hostPortOf(url, 6379));
  admin = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
});

afterAll(async () => {
  for (const d of opened) await d.close();
  if (admin) {
    await deleteRedisKeysWithPrefix(admin, prefix);
    await admin.quit();
  }
});

describe('Redis dedupe', () => {
  it('lets one gateway claim, shows others pending, then done with the stored receipt', async () => {
    const a = gateway();
    const b = gateway();
    expect(a.kind).toBe('redis');
    expect(await a.claim('e1')).toEqual({ status: 'claimed' });
    expect(await b.claim('e1')).toEqual({ status: 'pending' });
    expect(await a.claim('e1')).toEqual({ status: 'pending' });
    await a.complete('e1', receipt);
    expect(await b.claim('e1')).toEqual({ status: 'done', receipt });
    expect(await a.claim('e1')).toEqual({ status: 'done', receipt });
  });

  it('keeps a completed receipt for ttlMs and a claim for pendingTtlMs', async () => {
    const a = gateway({ ttlMs: 3_600_000, pendingTtlMs: 20_000 });
    await a.claim('e-ttl');
    const pendingTtl = await admin.pttl(`${prefix}:dedupe:e-ttl`);
    expect(pendingTtl).toBeGreaterThan(0);
    expect(pendingTtl).toBeLessThanOrEqual(20_000);
    await a.complete('e-ttl', receipt);
    const doneTtl = await admin.pttl(`${prefix}:dedupe:e-ttl`);
    expect(doneTtl).toBeGreaterThan(20_000);
    expect(doneTtl).toBeLessThanOrEqual(3_600_000);
  });

  it('release frees a pending claim for the next caller but never deletes a receipt', async () => {
    const a = gateway();
    const b = gateway();
    expect(await a.claim('e2')).toEqual({ status: 'claimed' });
    await a.release('e2');
    expect(await b.claim('e2')).toEqual({ status: 'claimed' });
    await b.complete('e2', receipt);
    await b.release('e2');
    await a.release('e2');
    expect(await a.claim('e2')).toEqual({ status: 'done', receipt });
  });

  it('a claim that expired and was taken over is not released by its first holder', async () => {
    const a = gateway({ pendingTtlMs: 50 });
    const b = gateway();
    expect(await a.claim('e3')).toEqual({ status: 'claimed' });
    let r = await b.claim('e3');
    for (let i = 0; i < 200 && r.status !== 'claimed'; i++) {
      await new Promise((res) => setTimeout(res, 10));
      r = await b.claim('e3');
    }
    expect(r).toEqual({ status: 'claimed' });
    await a.release('e3');
    expect(await a.claim('e3')).toEqual({ status: 'pending' });
  });

  it('exactly one of many concurrent claims across gateways wins', async () => {
    const gws = [gateway(), gateway(), gateway(), gateway()];
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => gws[i % 4]!.claim('e-race')));
    expect(results.filter((r) => r.status === 'claimed')).toHaveLength(1);
    expect(results.filter((r) => r.status === 'pending')).toHaveLength(39);
  });

  it('rejects invalid ttls as INVALID_CONFIG', () => {
    expect(() => createRedisDedupe({ ttlMs: -1 })).toThrow(KeyflowError);
    expect(() => createRedisDedupe({ pendingTtlMs: 0 })).toThrow(KeyflowError);
    expect(() => createRedisDedupe({ ttlMs: 1.5 })).toThrow(KeyflowError);
  });

  it('with a zero horizon forgets a publish once it completes', async () => {
    const a = gateway({ ttlMs: 0 });
    expect(await a.claim('e-zero')).toEqual({ status: 'claimed' });
    expect(await a.claim('e-zero')).toEqual({ status: 'pending' });
    await a.complete('e-zero', receipt);
    expect(await a.claim('e-zero')).toEqual({ status: 'claimed' });
  });

  it('rejects with STORE_UNAVAILABLE (retriable) when Redis is unreachable', async () => {
    const d = createRedisDedupe({ url: 'redis://127.0.0.1:1', commandTimeoutMs: 500, maxRetriesPerRequest: 1 });
    opened.push(d);
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
