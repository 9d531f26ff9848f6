/**
 * Shared Redis plumbing for the checkpoint store and the dedupe adapter: one way to build an
 * ioredis client that fails calls instead of queueing them forever, and one way to turn ioredis
 * failures into {@link KeyflowError}s with a stable code.
 */
import { type Cluster, Redis, type RedisOptions } from 'ioredis';
import { ErrorCode, KeyflowError, isKeyflowError } from '../../model/index.ts';

/** How to reach Redis and how long to wait for it. Shared by the Redis adapters. */
export interface RedisConnectionOptions {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. Ignored when `client` is given. @default 'redis://127.0.0.1:6379' */
  url?: string;
  /** Extra ioredis options (TLS, sentinels, username, …), merged over the keyflow defaults below. */
  redisOptions?: RedisOptions;
  /**
   * An already-built ioredis client — a `Redis`, or a `Cluster` for Redis Cluster (every script
   * touches keys of one hash tag only) — to use instead of connecting. The adapter then neither
   * connects nor quits it: its owner does.
   */
  client?: Redis | Cluster;
  /**
   * Longest wait for one command's reply, in ms, including time queued while Redis is
   * unreachable; then the call rejects with STORE_UNAVAILABLE (retriable).
   * @default 5000
   */
  commandTimeoutMs?: number;
  /**
   * Reconnect attempts a queued command waits through before it is rejected with
   * STORE_UNAVAILABLE. The client itself keeps reconnecting forever.
   * @default 3
   */
  maxRetriesPerRequest?: number;
}

export interface OwnedRedis {
  readonly redis: Redis | Cluster;
  /** Whether this adapter created the client (and so must connect and quit it). */
  readonly owned: boolean;
}

/** Builds the client: lazy, so `start()` decides when to connect, and bounded so calls never hang. */
export function buildRedis(opts: RedisConnectionOptions): OwnedRedis {
  if (opts.client) return { redis: opts.client, owned: false };
  const base: RedisOptions = {
    lazyConnect: true,
    commandTimeout: opts.commandTimeoutMs ?? 5000,
    maxRetriesPerRequest: opts.maxRetriesPerRequest ?? 3,
    connectTimeout: 5000,
    // Reconnect forever with capped exponential backoff; individual calls are bounded above.
    retryStrategy: (times) => Math.min(100 * 2 ** Math.min(times, 6), 5000),
    ...opts.redisOptions,
  };
  const redis = new Redis(opts.url ?? 'redis://127.0.0.1:6379', base);
  // Without a listener ioredis prints every connection error; the adapters report through
  // rejected calls and healthy() instead.
  redis.on('error', () => {});
  return { redis, owned: true };
}

/** Connects an owned client and waits until it is ready; rejects with STORE_UNAVAILABLE. */
export async function connectRedis(r: OwnedRedis, what: string): Promise<void> {
  if (!r.owned) return;
  const redis = r.redis as Redis;
  const s = redis.status;
  if (s === 'ready') return;
  try {
    if (s === 'wait' || s === 'end' || s === 'close') {
      await redis.connect();
    } else {
      await waitReady(redis, redis.options.connectTimeout ?? 5000);
    }
  } catch (e) {
    throw toStoreError(e, `${what}: cannot connect to Redis; the client keeps retrying in the background`);
  }
}

function waitReady(redis: Redis, ms: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => done(new Error(`not ready after ${ms} ms (status ${redis.status})`)), ms);
    const onReady = () => done();
    const onEnd = () => done(new Error('connection ended'));
    function done(err?: Error): void {
      clearTimeout(t);
      redis.off('ready', onReady);
      redis.off('end', onEnd);
      if (err) reject(err);
      else resolve();
    }
    redis.once('ready', onReady);
    redis.once('end', onEnd);
  });
}

export async function closeRedis(r: OwnedRedis): Promise<void> {
  if (!r.owned) return;
  const redis = r.redis;
  if (redis.status === 'end') return;
  if (redis.status === 'ready') {
    try {
      // QUIT lets replies still in flight arrive before the socket closes.
      await redis.quit();
      return;
    } catch {
      // fall through to a hard disconnect
    }
  }
  redis.disconnect(false);
}

/** Reports connectivity without queueing a PING behind a dead connection. */
export async function redisHealth(redis: Redis | Cluster): Promise<{ connected: boolean; detail?: string }> {
  if (redis.status !== 'ready') return { connected: false, detail: `redis status ${redis.status}` };
  try {
    const pong = await redis.ping();
    return { connected: pong === 'PONG', detail: 'redis ready' };
  } catch (e) {
    return { connected: false, detail: e instanceof Error ? e.message : String(e) };
  }
}

// Server replies that mean "try again later" rather than "this request is wrong".
const TRANSIENT_REPLY = /^(LOADING|BUSY|TRYAGAIN|CLUSTERDOWN|READONLY|MASTERDOWN|NOREPLICAS|MOVED|ASK|OOM)\b/;

/**
 * Maps an ioredis failure to a KeyflowError. Connection trouble (timeouts, refused, exhausted
 * retries, closed) and transient server states become STORE_UNAVAILABLE (retriable); any other
 * server error reply becomes `otherCode` (not retriable). KeyflowErrors pass through.
 */
export function toStoreError(e: unknown, message: string, otherCode: ErrorCode = ErrorCode.CHECKPOINT_FAILED): KeyflowError {
  if (isKeyflowError(e)) return e;
  const name = e instanceof Error ? e.name : '';
  const text = e instanceof Error ? e.message : String(e);
  if (name === 'ReplyError' && !TRANSIENT_REPLY.test(text)) {
    return new KeyflowError(otherCode, `${message}: Redis replied ${text}`, { cause: e });
  }
  return new KeyflowError(ErrorCode.STORE_UNAVAILABLE, `${message}: ${text}`, { retriable: true, cause: e });
}

/** Escapes Redis glob metacharacters so a prefix can be used in SCAN MATCH. */
export function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
