/**
 * Rate limits in Redis are shared by every gateway: two limiters on the same Redis (two gateways)
 * spend one budget per identity; with Redis unreachable each falls back to its own in-memory
 * budget instead of refusing or admitting everyone.
 */
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { createRateLimits } from '../../src/graphql/plugins/rate-limits.ts';
import { requireRedis } from '../helpers/services.ts';
import { uniqueName } from '../helpers/wait.ts';

describe('rate limits in Redis', () => {
  const clients: Redis[] = [];
  afterAll(() => {
    for (const c of clients) c.disconnect();
  });
  function client(url: string, enableAutoPipelining = false): Redis {
    const r = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, lazyConnect: false, enableAutoPipelining });
    r.on('error', () => {});
    clients.push(r);
    return r;
  }

  it('two gateways share one budget per identity', async () => {
    const { url } = requireRedis();
    const keyPrefix = uniqueName('rl');
    const a = createRateLimits({ perIdentity: 5, windowMs: 60_000, redis: client(url), keyPrefix });
    const b = createRateLimits({ perIdentity: 5, windowMs: 60_000, redis: client(url), keyPrefix });
    await new Promise((r) => setTimeout(r, 200));
    const outcomes: (string | undefined)[] = [];
    for (let i = 0; i < 8; i++) outcomes.push((await (i % 2 === 0 ? a : b).consume('identity', 'partner-x'))?.code);
    expect(outcomes.filter((o) => o === undefined)).toHaveLength(5);
    expect(outcomes.slice(5)).toEqual(['RATE_LIMITED', 'RATE_LIMITED', 'RATE_LIMITED']);
    // Another identity has its own budget.
    expect(await a.consume('identity', 'partner-y')).toBeUndefined();
  });

  it('with auto-pipelining (as src/app/access.ts builds the client), concurrent checks spend the budget exactly', async () => {
    const { url } = requireRedis();
    const keyPrefix = uniqueName('rlp');
    const a = createRateLimits({ perIdentity: 7, windowMs: 60_000, redis: client(url, true), keyPrefix });
    const b = createRateLimits({ perIdentity: 7, windowMs: 60_000, redis: client(url, true), keyPrefix });
    await new Promise((r) => setTimeout(r, 200));
    // issued in one event-loop turn: each client sends its checks in one pipelined write
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).consume('identity', 'partner-p')));
    expect(outcomes.filter((o) => o === undefined)).toHaveLength(7);
    expect(outcomes.filter((o) => o?.code === 'RATE_LIMITED')).toHaveLength(13);
  });

  it('with Redis unreachable, each gateway keeps an in-memory budget', async () => {
    const limits = createRateLimits({ perIdentity: 3, windowMs: 60_000, redis: client('redis://127.0.0.1:1'), keyPrefix: uniqueName('rl') });
    const outcomes: (string | undefined)[] = [];
    for (let i = 0; i < 5; i++) outcomes.push((await limits.consume('identity', 'partner-z'))?.code);
    expect(outcomes).toEqual([undefined, undefined, undefined, 'RATE_LIMITED', 'RATE_LIMITED']);
  });
});
