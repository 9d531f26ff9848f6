/**
 * Redis {@link Dedupe}: idempotent publishing by eventId across every gateway that shares the
 * Redis. One key per eventId, `<keyPrefix>:dedupe:<eventId>`, holding either
 * `P|<claim token>` (a pending claim, expiring after `pendingTtlMs`) or `D|<receipt JSON>`
 * (a completed publish, expiring after `ttlMs`, the dedupe horizon).
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import { buildRedis, closeRedis, type RedisConnectionOptions, toStoreError } from '../../state/index.ts';
import {
  type ClaimResult,
  DEFAULT_PENDING_TTL_MS,
  type Dedupe,
  type StoredReceipt,
} from './port.ts';

export interface RedisDedupeOptions extends RedisConnectionOptions {
  /** Prefix of every key (KEYFLOW_KEY_PREFIX); the dedupe keys are `<keyPrefix>:dedupe:<eventId>`. */
  keyPrefix: string;
  /**
   * Dedupe horizon: how long a completed publish is remembered, ms; 0 remembers nothing once
   * complete (only concurrent duplicates are caught). KEYFLOW_DEDUPE_HORIZON.
   */
  ttlMs: number;
  /** Lifetime of an unfinished claim, ms (a gateway that died mid-append frees it then). @default 30_000 */
  pendingTtlMs?: number;
}

/**
 * SET NX PX and the GET on failure run as one script, so a claim never sees the key vanish
 * (expire) between the two and mistake that for "nothing there".
 * Returns false-ish nil when claimed, else the current value.
 */
const CLAIM_LUA = `
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return nil
end
return redis.call('GET', KEYS[1])
`;

/**
 * Deletes the key only while it is still a pending claim: this caller's (ARGV[1] = its value),
 * or any pending claim when the caller no longer knows its token (ARGV[1] = ''). A completed
 * receipt is never deleted.
 */
const RELEASE_LUA = `
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
if ARGV[1] ~= '' then
  if v == ARGV[1] then return redis.call('DEL', KEYS[1]) end
  return 0
end
if string.sub(v, 1, 2) == 'P|' then return redis.call('DEL', KEYS[1]) end
return 0
`;

interface DedupeCommands {
  kfDedupeClaim(key: string, value: string, pendingTtlMs: number): Promise<string | null>;
  kfDedupeRelease(key: string, value: string): Promise<number>;
}

const CLAIMED: ClaimResult = { status: 'claimed' };
const PENDING: ClaimResult = { status: 'pending' };

/**
 * Creates the Redis dedupe adapter. It connects on first use; `close()` quits the client
 * (unless it was passed in as `client`).
 *
 * @example
 * const dedupe = createRedisDedupe({ url: process.env.REDIS_URL, keyPrefix: 'keyflow', ttlMs: 86_400_000 });
 */
export function createRedisDedupe(opts: RedisDedupeOptions): Dedupe {
  const { keyPrefix } = opts;
  const ttlMs = msSetting(opts.ttlMs, 'ttlMs', 0);
  const pendingTtlMs = msSetting(opts.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS, 'pendingTtlMs', 1);
  const conn = buildRedis(opts);
  const redis = conn.redis as (Redis | Cluster) & DedupeCommands;
  redis.defineCommand('kfDedupeClaim', { numberOfKeys: 1, lua: CLAIM_LUA });
  redis.defineCommand('kfDedupeRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
  // This adapter's own pending claims, so `release` frees only a claim it still holds and not
  // one another gateway took after ours expired. Emptied by complete/release.
  const tokens = new Map<string, string>();
  const instance = randomUUID();
  let counter = 0;

  const keyOf = (eventId: string) => `${keyPrefix}:dedupe:${eventId}`;

  return {
    kind: 'redis',

    async claim(eventId) {
      counter += 1;
      const mine = `P|${instance}:${counter}`;
      let current: string | null;
      try {
        current = await redis.kfDedupeClaim(keyOf(eventId), mine, pendingTtlMs);
      } catch (e) {
        throw toStoreError(e, `dedupe claim of eventId '${eventId}' failed`, ErrorCode.INTERNAL);
      }
      if (current === null) {
        tokens.set(eventId, mine);
        return CLAIMED;
      }
      if (current.startsWith('D|')) return { status: 'done', receipt: parseReceipt(current.slice(2), eventId) };
      return PENDING;
    },

    async complete(eventId, receipt) {
      const value = `D|${JSON.stringify({ topic: receipt.topic, partition: receipt.partition, offset: receipt.offset, timestamp: receipt.timestamp })}`;
      try {
        // PX 0 is an error in Redis; a zero horizon simply forgets the finished claim.
        if (ttlMs === 0) await redis.del(keyOf(eventId));
        else await redis.set(keyOf(eventId), value, 'PX', ttlMs);
      } catch (e) {
        throw toStoreError(e, `dedupe complete of eventId '${eventId}' failed`, ErrorCode.INTERNAL);
      }
      tokens.delete(eventId);
    },

    async release(eventId) {
      const mine = tokens.get(eventId) ?? '';
      try {
        await redis.kfDedupeRelease(keyOf(eventId), mine);
      } catch (e) {
        throw toStoreError(e, `dedupe release of eventId '${eventId}' failed`, ErrorCode.INTERNAL);
      }
      tokens.delete(eventId);
    },

    async close() {
      tokens.clear();
      await closeRedis(conn);
    },
  };
}

function parseReceipt(json: string, eventId: string): StoredReceipt {
  try {
    const r = JSON.parse(json) as Partial<StoredReceipt>;
    if (typeof r.topic === 'string' && typeof r.partition === 'number' && typeof r.offset === 'number' && typeof r.timestamp === 'number') {
      return { topic: r.topic, partition: r.partition, offset: r.offset, timestamp: r.timestamp };
    }
  } catch {
    // reported below
  }
  throw new KeyflowError(ErrorCode.INTERNAL, `dedupe receipt of eventId '${eventId}' in Redis is unreadable: ${json.slice(0, 200)}`);
}

function msSetting(v: number, name: string, min: number): number {
  if (!Number.isSafeInteger(v) || v < min) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `Redis dedupe ${name} must be an integer of ms >= ${min}, got ${v}`);
  }
  return v;
}
