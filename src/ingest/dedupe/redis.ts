/**
 * Redis {@link Dedupe}: idempotent publishing by eventId across every gateway that shares the
 * Redis. One key per eventId, `<keyPrefix>:dedupe:<eventId>`, holding either
 * `P|<claim token>|<claimed at, Redis ms>|<partition>|<topic>` (a pending claim: where its append
 * goes) or `D|<receipt JSON>` (a completed publish), both expiring after `ttlMs`, the dedupe
 * horizon.
 *
 * Stale claims. A gateway that dies after its append and before `complete` leaves its claim
 * pending. A claim older than `pendingTtlMs` is stale: the next claim of the eventId takes it
 * over and, with `resolveStale` (the log), looks for the event in the claim's partition from the
 * claim's time (less `staleMarginMs`) on. Found: the record's receipt is stored and the claim
 * answers `done` (DUPLICATE with the original receipt); not found: the dead gateway never
 * appended it, and the caller appends it now, once. The remaining edge: a gateway that is not
 * dead but stalls for longer than `pendingTtlMs` between its claim and its append (longer than
 * the append's whole retry budget) can still append after the takeover looked.
 *
 * Round trips. The client auto-pipelines: the claims of a whole batch, issued in one event-loop
 * turn, share one write and one round trip (likewise its receipts and releases).
 */
import { randomUUID } from 'node:crypto';
import type { Cluster, Redis } from 'ioredis';
import { LifecycleEvent } from '../../core/index.ts';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import { buildRedis, closeRedis, type RedisConnectionOptions, toStoreError } from '../../state/index.ts';
import {
  type ClaimLocation,
  type ClaimResult,
  DEFAULT_PENDING_TTL_MS,
  type Dedupe,
  type StaleClaimResolver,
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
  /** Age after which an unfinished claim is stale (its gateway died mid-publish) and the next claim takes it over, ms. @default 30_000 */
  pendingTtlMs?: number;
  /** Looks for a stale claim's event in the log; without it a stale claim is simply taken over (the event may be appended twice). */
  resolveStale?: StaleClaimResolver;
  /** The log is searched from this long before the stale claim's time (clock differences between Redis and the log's timestamps), ms. @default 10_000 */
  staleMarginMs?: number;
  logger?: { warn(obj: object, msg: string): void };
}

/**
 * The claim, atomically, on Redis's clock (TIME), so gateways' clocks do not matter:
 * - no key: store this caller's pending claim `P|<token>|<claimedAt>|<location>` → `{'C'}`;
 * - a completed receipt `D|…` → `{'D', value}`;
 * - a pending claim younger than ARGV[2] ms → `{'P'}`;
 * - a pending claim at least ARGV[2] ms old (stale: its gateway died or hangs) → this caller takes
 *   it over and gets the old claim back, `{'S', oldValue}`, to look for the event in the log.
 * A pending key lives for ARGV[3] ms (the horizon), so a stale claim is still there to resolve
 * when the client retries long after the crash.
 */
const CLAIM_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local mine = 'P|' .. ARGV[1] .. '|' .. now .. '|' .. ARGV[4]
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], mine, 'PX', ARGV[3])
  return {'C'}
end
if string.sub(v, 1, 2) ~= 'P|' then return {'D', v} end
local at = string.match(v, '^P|[^|]*|(%d+)|')
if at and now - tonumber(at) >= tonumber(ARGV[2]) then
  redis.call('SET', KEYS[1], mine, 'PX', ARGV[3])
  return {'S', v}
end
return {'P'}
`;

/**
 * Deletes the key only while it is still a pending claim: this caller's (ARGV[1] = its token),
 * or any pending claim when the caller no longer knows its token (ARGV[1] = ''). A completed
 * receipt is never deleted.
 */
const RELEASE_LUA = `
local v = redis.call('GET', KEYS[1])
if not v or string.sub(v, 1, 2) ~= 'P|' then return 0 end
if ARGV[1] == '' then return redis.call('DEL', KEYS[1]) end
local prefix = 'P|' .. ARGV[1] .. '|'
if v == 'P|' .. ARGV[1] or string.sub(v, 1, #prefix) == prefix then return redis.call('DEL', KEYS[1]) end
return 0
`;

/** Puts a stale claim back (ARGV[2]) while the key still holds this caller's claim (token ARGV[1]): the resolution failed, the next claim tries again. */
const RESTORE_LUA = `
local v = redis.call('GET', KEYS[1])
local prefix = 'P|' .. ARGV[1] .. '|'
if v and string.sub(v, 1, #prefix) == prefix then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0
`;

interface DedupeCommands {
  kfDedupeClaim(key: string, token: string, staleAfterMs: number, keyTtlMs: number, location: string): Promise<string[]>;
  kfDedupeRelease(key: string, token: string): Promise<number>;
  kfDedupeRestore(key: string, token: string, value: string): Promise<number>;
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
  const staleMarginMs = opts.staleMarginMs ?? 10_000;
  const { resolveStale } = opts;
  // a pending claim lives as long as a receipt would, so a retry long after a crash still finds it
  const keyTtlMs = Math.max(ttlMs, pendingTtlMs);
  // Auto-pipelining: every command issued in one event-loop turn goes out in one write and comes
  // back in one round trip, so a batch's claims (one script call per eventId, issued together by
  // ingest) and its receipts cost one round trip each, not one per event. Per-key commands keep
  // working on Redis Cluster (ioredis pipelines per node), which one multi-key script would not.
  const conn = buildRedis({ ...opts, redisOptions: { enableAutoPipelining: true, ...opts.redisOptions } });
  const redis = conn.redis as (Redis | Cluster) & DedupeCommands;
  redis.defineCommand('kfDedupeClaim', { numberOfKeys: 1, lua: CLAIM_LUA });
  redis.defineCommand('kfDedupeRelease', { numberOfKeys: 1, lua: RELEASE_LUA });
  redis.defineCommand('kfDedupeRestore', { numberOfKeys: 1, lua: RESTORE_LUA });
  // This adapter's own pending claims (eventId → token), so `release` frees only a claim it
  // still holds and not one another gateway took over. Emptied by complete/release.
  const tokens = new Map<string, string>();
  const instance = randomUUID();
  let counter = 0;

  const keyOf = (eventId: string) => `${keyPrefix}:dedupe:${eventId}`;

  async function store(eventId: string, receipt: StoredReceipt): Promise<void> {
    const value = `D|${JSON.stringify({ topic: receipt.topic, partition: receipt.partition, offset: receipt.offset, timestamp: receipt.timestamp })}`;
    try {
      // PX 0 is an error in Redis; a zero horizon simply forgets the finished claim.
      if (ttlMs === 0) await redis.del(keyOf(eventId));
      else await redis.set(keyOf(eventId), value, 'PX', ttlMs);
    } catch (e) {
      throw toStoreError(e, `dedupe complete of eventId '${eventId}' failed`, ErrorCode.INTERNAL);
    }
  }

  /** This caller took over the stale claim `old`: look for the event where that claim appended. */
  async function resolve(eventId: string, token: string, old: string): Promise<ClaimResult> {
    const stale = parsePending(old);
    if (!resolveStale || !stale) {
      opts.logger?.warn({ event: LifecycleEvent.dedupeStaleClaim, eventId, resolved: false }, `dedupe: took over a stale claim of eventId '${eventId}' that names no location; it is appended again`);
      return CLAIMED;
    }
    let found: StoredReceipt | null;
    try {
      found = await resolveStale(eventId, { topic: stale.topic, partition: stale.partition, since: stale.claimedAt - staleMarginMs });
    } catch (cause) {
      // put the stale claim back so the next claim looks again; never append without knowing
      await redis.kfDedupeRestore(keyOf(eventId), token, old).catch(() => undefined);
      tokens.delete(eventId);
      throw new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `an earlier publish of eventId '${eventId}' was left unfinished and the log could not be searched for it; retry later`, {
        retriable: true,
        cause,
        details: { eventId },
      });
    }
    opts.logger?.warn(
      { event: LifecycleEvent.dedupeStaleClaim, eventId, topic: stale.topic, partition: stale.partition, claimedAt: stale.claimedAt, found: found !== null, offset: found?.offset },
      found
        ? `dedupe: a gateway died after appending eventId '${eventId}' (offset ${found.offset}) and before storing its receipt; answered DUPLICATE`
        : `dedupe: a gateway died before appending eventId '${eventId}'; it is appended now`,
    );
    if (!found) return CLAIMED;
    await store(eventId, found);
    tokens.delete(eventId);
    return { status: 'done', receipt: found };
  }

  return {
    kind: 'redis',

    async claim(eventId, where?: ClaimLocation) {
      counter += 1;
      const token = `${instance}:${counter}`;
      const location = where ? `${where.partition}|${where.topic}` : '';
      let reply: string[];
      try {
        reply = await redis.kfDedupeClaim(keyOf(eventId), token, pendingTtlMs, keyTtlMs, location);
      } catch (e) {
        throw toStoreError(e, `dedupe claim of eventId '${eventId}' failed`, ErrorCode.INTERNAL);
      }
      const [kind, value] = reply;
      if (kind === 'C') {
        tokens.set(eventId, token);
        return CLAIMED;
      }
      if (kind === 'S') {
        tokens.set(eventId, token);
        return resolve(eventId, token, value!);
      }
      if (kind === 'D') return { status: 'done', receipt: parseReceipt(value!.slice(2), eventId) };
      return PENDING;
    },

    async complete(eventId, receipt) {
      await store(eventId, receipt);
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

/** `P|<token>|<claimedAt>|<partition>|<topic>` → its location and time; null for a claim without a location. */
function parsePending(v: string): { claimedAt: number; topic: string; partition: number } | null {
  const m = /^P\|[^|]*\|(\d+)\|(\d+)\|(.+)$/.exec(v);
  if (!m) return null;
  return { claimedAt: Number(m[1]), partition: Number(m[2]), topic: m[3]! };
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
