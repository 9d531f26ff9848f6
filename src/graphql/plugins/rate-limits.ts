/**
 * Request rate limits per identity and per client address with rate-limiter-flexible: in memory
 * on one node, in Redis when a client is given so every gateway shares the budget (with an
 * in-memory insurance limiter while Redis is unreachable, so an outage neither blocks nor frees
 * everyone). One point per HTTP request or WebSocket operation.
 */
import type { Redis } from 'ioredis';
import { type RateLimiterAbstract, RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { ErrorCode, KeyflowError } from '../../model/index.ts';

export interface RateLimitOptions {
  /** Requests one identity may make per window; 0 = no limit. @default 0 */
  perIdentity?: number;
  /** Requests one client address may make per window; 0 = no limit. @default 0 */
  perAddress?: number;
  /** Window, ms (rounded up to whole seconds). @default 1000 */
  windowMs?: number;
  /** Shared Redis; undefined keeps the counters in this process. */
  redis?: Redis | undefined;
  /** Prefix of the Redis keys. @default 'keyflow' */
  keyPrefix?: string;
}

export type RateLimitScope = 'identity' | 'address';

export interface RateLimits {
  /** Takes one point from `key`'s budget for this scope; resolves to RATE_LIMITED when it is spent. */
  consume(scope: RateLimitScope, key: string): Promise<KeyflowError | undefined>;
}

function limiter(points: number, duration: number, redis: Redis | undefined, keyPrefix: string): RateLimiterAbstract | undefined {
  if (points <= 0) return undefined;
  const memory = new RateLimiterMemory({ points, duration, keyPrefix });
  if (!redis) return memory;
  return new RateLimiterRedis({ storeClient: redis, points, duration, keyPrefix, insuranceLimiter: memory });
}

export function rateLimited(scope: RateLimitScope, msBeforeNext: number, limit: number, windowSeconds: number): KeyflowError {
  const retryAfterSeconds = Math.max(1, Math.ceil(msBeforeNext / 1000));
  return new KeyflowError(
    ErrorCode.RATE_LIMITED,
    `rate limit of ${limit} requests per ${windowSeconds} s for this ${scope} reached; retry after ${retryAfterSeconds} s`,
    { retriable: true, details: { scope, limit, windowSeconds, retryAfterSeconds } },
  );
}

/**
 * @example
 * const limits = createRateLimits({ perIdentity: 100, perAddress: 200, windowMs: 1000 });
 * const refused = await limits.consume('address', '10.0.0.7'); // KeyflowError RATE_LIMITED or undefined
 */
export function createRateLimits(options: RateLimitOptions): RateLimits {
  const duration = Math.max(1, Math.ceil((options.windowMs ?? 1000) / 1000));
  const prefix = options.keyPrefix ?? 'keyflow';
  const byScope: Record<RateLimitScope, { l: RateLimiterAbstract | undefined; points: number }> = {
    identity: { l: limiter(options.perIdentity ?? 0, duration, options.redis, `${prefix}:rl:id`), points: options.perIdentity ?? 0 },
    address: { l: limiter(options.perAddress ?? 0, duration, options.redis, `${prefix}:rl:ip`), points: options.perAddress ?? 0 },
  };
  return {
    async consume(scope, key) {
      const { l, points } = byScope[scope];
      if (!l) return undefined;
      try {
        await l.consume(key, 1);
        return undefined;
      } catch (e) {
        if (e instanceof RateLimiterRes) return rateLimited(scope, e.msBeforeNext, points, duration);
        // Both the store and its insurance failed: serve rather than refuse everyone.
        return undefined;
      }
    },
  };
}
