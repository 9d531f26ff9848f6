/**
 * Redis checkpoint store (distributed mode). Per partition, three keys share one hash tag so
 * they live in one Redis Cluster slot and one Lua script may touch all of them:
 *
 * - `<keyPrefix>:{<topic>:<partition>}:epoch`  — string, INCR'd by every `acquire`
 * - `<keyPrefix>:{<topic>:<partition>}:meta`   — hash: nextOffset, partitionState, epoch, seq
 * - `<keyPrefix>:{<topic>:<partition>}:actors` — hash: actor key → snapshot
 * - `<keyPrefix>:{<topic>:<partition>}:fin:<actor>` — hash (the results store), one per actor,
 *   expiring `resultRetentionMs` after its last write: one field per commit that made finals of
 *   the actor, `<n>:<latest window end>` → those finals packed into one value (`packFinals`),
 *   plus `#` → n, the actor's write counter. A later row of the same window id replaces an earlier
 *   one when read. Every 32nd write of an actor drops its fields whose windows all ended before
 *   the retention, so an actor that never goes idle does not keep its finals forever.
 *
 * `commit` is one Lua script: it compares the caller's epoch with the current one and only
 * then writes the actor snapshots, the deletions and the meta hash, so a zombie owner can never
 * overwrite the new owner's checkpoint (README, "Architecture": exactly-once state). Redis keeps data only
 * as durably as it is configured: run it with AOF (`appendonly yes`, `appendfsync everysec`).
 */
import type { Cluster, Redis } from 'ioredis';
import { ErrorCode, FencedError, KeyflowError } from '../../model/index.ts';
import type { CheckpointStore, CheckpointWrite, FinalWrite, PartitionCheckpoint } from '../port.ts';
import {
  buildRedis,
  closeRedis,
  connectRedis,
  globEscape,
  type RedisConnectionOptions,
  redisHealth,
  toStoreError,
} from './client.ts';

export interface RedisCheckpointsOptions extends RedisConnectionOptions {
  /**
   * Prefix of every key this store writes; lets several deployments (or test runs) share one
   * Redis (KEYFLOW_KEY_PREFIX). Must not contain `{` or `}` (they would break the per-partition
   * hash tag).
   */
  keyPrefix: string;
  /**
   * Pairs (actor key + snapshot) written per HSET inside the commit script. Bounded because
   * Lua's `unpack` fails beyond ~8000 values; tune only for benchmarks.
   * @default 500
   */
  hsetChunk?: number;
  /**
   * Partitions with at most this many actors are loaded by one atomic HGETALL; larger ones by
   * HSCAN in pages, so a huge load never blocks Redis for long.
   * @default 50_000
   */
  atomicLoadMax?: number;
  /** Expiry of an actor's stored finals after their last write, ms (the result retention). @default 86400000 */
  resultRetentionMs?: number;
}

/**
 * Checks the epoch, then writes dirty actors, deletions, finals and meta — all or nothing.
 *
 * KEYS: epoch, meta, actors, finals key prefix (`…:fin:`, the actor id is appended; same hash
 * tag, so same slot). ARGV: epoch, seq, nextOffset, partitionState, chunk, nDirty, nDeleted,
 * nActorsWithFinals, finals TTL ms, retain-finals-from (epoch ms, '' for none), then nDirty
 * (key, snapshot) pairs, then nDeleted keys, then per actor with finals (actor, latest window
 * end, packed finals).
 *
 * Returns {1} on success, {0, current epoch or ''} when fenced, {2, stored seq} when a newer
 * commit of the same epoch already landed (a late duplicate, e.g. resent after a reconnect).
 *
 * All or nothing: the check precedes every write, and Redis denies an out-of-memory script
 * only at its first write command (later writes of a script that already wrote are allowed),
 * so a failure leaves nothing half-written.
 */
const COMMIT_LUA = `
local cur = redis.call('GET', KEYS[1])
if cur ~= ARGV[1] then
  return {0, cur or ''}
end
local metaEpoch = redis.call('HGET', KEYS[2], 'epoch')
if metaEpoch == ARGV[1] then
  local seq = redis.call('HGET', KEYS[2], 'seq') or '0'
  if tonumber(seq) >= tonumber(ARGV[2]) then
    return {2, seq}
  end
end
local chunk = tonumber(ARGV[5])
local nDirty = tonumber(ARGV[6])
local nDeleted = tonumber(ARGV[7])
local nGroups = tonumber(ARGV[8])
local ttl = ARGV[9]
local retainFrom = tonumber(ARGV[10])
-- list[from..to] to one hash command on key in slices: unpack() of thousands of arguments overflows Lua's stack
local function sliced(command, key, list, from, to, width)
  local i = from
  while i <= to do
    local stop = math.min(i + width - 1, to)
    local args = {}
    local n = 0
    for j = i, stop do
      n = n + 1
      args[n] = list[j]
    end
    redis.call(command, key, unpack(args))
    i = stop + 1
  end
end
local first = 11
local last = first + 2 * nDirty - 1
sliced('HSET', KEYS[3], ARGV, first, last, 2 * chunk)
local lastDeleted = last + nDeleted
sliced('HDEL', KEYS[3], ARGV, last + 1, lastDeleted, 2 * chunk)
for j = last + 1, lastDeleted do
  redis.call('DEL', KEYS[4] .. ARGV[j])
end
-- one field per actor with finals in this commit
local j = lastDeleted + 1
for _ = 1, nGroups do
  local key = KEYS[4] .. ARGV[j]
  local n = redis.call('HINCRBY', key, '#', 1)
  redis.call('HSET', key, n .. ':' .. ARGV[j + 1], ARGV[j + 2])
  redis.call('PEXPIRE', key, ttl)
  if retainFrom and n % 32 == 0 then
    local old = {}
    for _, f in ipairs(redis.call('HKEYS', key)) do
      local c = string.find(f, ':', 1, true)
      if c and tonumber(string.sub(f, c + 1)) < retainFrom then old[#old + 1] = f end
    end
    sliced('HDEL', key, old, 1, #old, chunk)
  end
  j = j + 3
end
redis.call('HSET', KEYS[2], 'nextOffset', ARGV[3], 'partitionState', ARGV[4], 'epoch', ARGV[1], 'seq', ARGV[2])
return {1}
`;

/** One commit's finals, grouped by actor: per actor the latest window end and the rows packed into one value. */
interface FinalGroups {
  actors: string[];
  latestEnds: number[];
  packed: string[];
}

/**
 * Groups a commit's finals by actor (first appearance order) and packs each actor's rows into one
 * string: `<id length>,<data length>:<id><data>` per row. One hash field per actor and commit
 * instead of one per final: a busy commit carries ~100k finals, and an argument per final was a
 * third of the processor's CPU (ioredis serialises each argument on its own).
 */
export function groupFinals(finals: readonly FinalWrite[] | undefined): FinalGroups {
  const out: FinalGroups = { actors: [], latestEnds: [], packed: [] };
  if (!finals || finals.length === 0) return out;
  const index = new Map<string, number>();
  for (const f of finals) {
    let g = index.get(f.actor);
    if (g === undefined) {
      g = out.actors.length;
      index.set(f.actor, g);
      out.actors.push(f.actor);
      out.latestEnds.push(f.windowEnd);
      out.packed.push('');
    } else if (f.windowEnd > out.latestEnds[g]!) out.latestEnds[g] = f.windowEnd;
    out.packed[g] += `${f.id.length},${f.data.length}:${f.id}${f.data}`;
  }
  return out;
}

/**
 * The rows of an actor's finals hash (`fin:<actor>`), later writes of a window id replacing
 * earlier ones. Fields are `<n>:<latest end>` (packed rows, n the actor's write counter) and `#`
 * (the counter); a field of any other name is a row stored whole by an earlier version (one field
 * per window id), older than every packed field.
 */
export function unpackFinalFields(fields: Record<string, string>, what: string): string[] {
  const byId = new Map<string, string>();
  const packed: [number, string][] = [];
  for (const [name, value] of Object.entries(fields)) {
    if (name === '#') continue;
    const c = name.indexOf(':');
    const n = c > 0 ? Number(name.slice(0, c)) : Number.NaN;
    if (Number.isSafeInteger(n)) packed.push([n, value]);
    else byId.set(name, value);
  }
  packed.sort((a, b) => a[0] - b[0]);
  for (const [, value] of packed) {
    let p = 0;
    while (p < value.length) {
      const comma = value.indexOf(',', p);
      const colon = value.indexOf(':', comma + 1);
      const idLen = Number(value.slice(p, comma));
      const dataLen = Number(value.slice(comma + 1, colon));
      const idEnd = colon + 1 + idLen;
      const end = idEnd + dataLen;
      if (comma < 0 || colon < 0 || !Number.isSafeInteger(idLen) || !Number.isSafeInteger(dataLen) || end > value.length) {
        throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `${what}: a stored finals field is damaged at character ${p}`);
      }
      byId.set(value.slice(colon + 1, idEnd), value.slice(idEnd, end));
      p = end;
    }
  }
  return [...byId.values()];
}

/** Returns a flat [k, v, k, v, …] array: HGETALL without ioredis' object conversion (keys like `__proto__` survive). */
const LOAD_ACTORS_LUA = `return redis.call('HGETALL', KEYS[1])`;

interface CheckpointCommands {
  // ioredis flattens array arguments one level, so a 40k-element ARGV never hits the spread limit.
  kfCommit(epochKey: string, metaKey: string, actorsKey: string, finalsPrefix: string, argv: string[]): Promise<[number, string?]>;
  kfLoadActors(key: string): Promise<string[]>;
}

/**
 * Creates the Redis checkpoint store.
 *
 * @example
 * const store = createRedisCheckpoints({ url: process.env.REDIS_URL, keyPrefix: 'keyflow' });
 * await store.start();
 * const epoch = await store.acquire('events.iot.sensors', 3);
 * await store.commit('events.iot.sensors', 3, epoch, { nextOffset: 42, partitionState: '{}', dirty: new Map() });
 */
export function createRedisCheckpoints(opts: RedisCheckpointsOptions): CheckpointStore {
  const { keyPrefix } = opts;
  if (/[{}]/.test(keyPrefix)) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `Redis keyPrefix "${keyPrefix}" must not contain { or }`);
  }
  const chunk = Math.max(1, Math.min(opts.hsetChunk ?? 500, 3000));
  const atomicLoadMax = opts.atomicLoadMax ?? 50_000;
  const conn = buildRedis(opts);
  const redis = conn.redis as (Redis | Cluster) & CheckpointCommands;
  redis.defineCommand('kfCommit', { numberOfKeys: 4, lua: COMMIT_LUA });
  const finalsTtl = String(Math.max(1, Math.floor(opts.resultRetentionMs ?? 86_400_000)));
  redis.defineCommand('kfLoadActors', { numberOfKeys: 1, lua: LOAD_ACTORS_LUA });
  // Orders commits of one epoch: the script drops a commit older than the last one applied, so
  // a write resent after a reconnect can never roll a checkpoint back. Microseconds of wall
  // time (monotonic within the process), so a second store instance in this process continues
  // above the first; stays below 2^53.
  let seq = 0;

  const keysOf = (topic: string, partition: number) => {
    const base = `${keyPrefix}:{${topic}:${partition}}`;
    return { epoch: `${base}:epoch`, meta: `${base}:meta`, actors: `${base}:actors`, finals: `${base}:fin:` };
  };

  const where = (topic: string, partition: number) => `Redis checkpoint store ${topic}/${partition}`;

  return {
    kind: 'redis',

    async start() {
      await connectRedis(conn, 'Redis checkpoint store');
    },

    async close() {
      await closeRedis(conn);
    },

    async acquire(topic, partition) {
      try {
        return await redis.incr(keysOf(topic, partition).epoch);
      } catch (e) {
        throw toStoreError(e, `${where(topic, partition)}: acquire failed`);
      }
    },

    async load(topic, partition): Promise<PartitionCheckpoint | null> {
      let meta: (string | null)[];
      try {
        meta = await redis.hmget(keysOf(topic, partition).meta, 'nextOffset', 'partitionState', 'epoch');
      } catch (e) {
        throw toStoreError(e, `${where(topic, partition)}: load failed`);
      }
      const [nextOffset, partitionState, epoch] = meta;
      if (nextOffset == null || partitionState == null || epoch == null) return null;
      return { nextOffset: Number(nextOffset), partitionState, epoch: Number(epoch) };
    },

    async loadActor(topic, partition, key) {
      try {
        return await redis.hget(keysOf(topic, partition).actors, key);
      } catch (e) {
        throw toStoreError(e, `${where(topic, partition)}: loadActor failed`);
      }
    },

    async loadFinals(topic, partition, actor) {
      let fields: Record<string, string>;
      try {
        fields = await redis.hgetall(keysOf(topic, partition).finals + actor);
      } catch (e) {
        throw toStoreError(e, `${where(topic, partition)}: loadFinals failed`);
      }
      return unpackFinalFields(fields, `${where(topic, partition)}: finals of ${JSON.stringify(actor)}`);
    },

    async loadActors(topic, partition) {
      const key = keysOf(topic, partition).actors;
      const out = new Map<string, string>();
      try {
        // Up to a bound, one atomic HGETALL (through a script, so keys like `__proto__` survive
        // ioredis' object conversion). Beyond it, HSCAN so one huge partition does not block Redis
        // for everyone: not a snapshot, which is fine for the owner that just acquired the
        // partition (it is the only writer left; a zombie's commits are fenced).
        if ((await redis.hlen(key)) <= atomicLoadMax) {
          const flat = await redis.kfLoadActors(key);
          for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!, flat[i + 1]!);
          return out;
        }
        let cursor = '0';
        do {
          const [next, flat] = await redis.hscan(key, cursor, 'COUNT', 5000);
          cursor = next;
          for (let i = 0; i + 1 < flat.length; i += 2) out.set(flat[i]!, flat[i + 1]!);
        } while (cursor !== '0');
        return out;
      } catch (e) {
        throw toStoreError(e, `${where(topic, partition)}: loadActors failed`);
      }
    },

    async commit(topic, partition, epoch, write: CheckpointWrite) {
      if (!Number.isSafeInteger(write.nextOffset) || write.nextOffset < 0) {
        throw new KeyflowError(ErrorCode.CHECKPOINT_FAILED, `${where(topic, partition)}: nextOffset ${write.nextOffset} is not a non-negative integer`);
      }
      const k = keysOf(topic, partition);
      const deleted = write.deleted ?? [];
      const groups = groupFinals(write.finals);
      // Flattened so the whole checkpoint travels as one EVALSHA, whatever its size.
      const argv: string[] = new Array(10 + 2 * write.dirty.size + deleted.length + 3 * groups.actors.length);
      seq = Math.max(seq + 1, Math.floor((performance.timeOrigin + performance.now()) * 1000));
      argv[0] = String(epoch);
      argv[1] = String(seq);
      argv[2] = String(write.nextOffset);
      argv[3] = write.partitionState;
      argv[4] = String(chunk);
      argv[5] = String(write.dirty.size);
      argv[6] = String(deleted.length);
      argv[7] = String(groups.actors.length);
      argv[8] = finalsTtl;
      argv[9] = write.retainFinalsFrom === undefined ? '' : String(write.retainFinalsFrom);
      let i = 10;
      for (const [key, snapshot] of write.dirty) {
        argv[i++] = key;
        argv[i++] = snapshot;
      }
      for (const key of deleted) argv[i++] = key;
      for (let g = 0; g < groups.actors.length; g++) {
        argv[i++] = groups.actors[g]!;
        argv[i++] = String(groups.latestEnds[g]!);
        argv[i++] = groups.packed[g]!;
      }

      let reply: [number, string?];
      try {
        reply = await redis.kfCommit(k.epoch, k.meta, k.actors, k.finals, argv);
      } catch (e) {
        throw toStoreError(e, `${where(topic, partition)}: commit under epoch ${epoch} failed; it may or may not have been applied, and retrying it is safe`);
      }
      if (reply[0] === 1) return;
      if (reply[0] === 0) {
        const cur = reply[1] ? Number(reply[1]) : null;
        throw new FencedError(topic, partition, epoch, cur);
      }
      throw new KeyflowError(
        ErrorCode.CHECKPOINT_FAILED,
        `${where(topic, partition)}: commit under epoch ${epoch} was older than one already applied (seq ${reply[1]}); it was dropped`,
      );
    },

    async healthy() {
      return redisHealth(redis);
    },
  };
}

/**
 * Deletes every key under a prefix (SCAN + UNLINK). For tests and for tearing a deployment's
 * checkpoints down deliberately; never called by the runtime.
 */
export async function deleteRedisKeysWithPrefix(redis: Redis, keyPrefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${globEscape(keyPrefix)}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) n += await redis.unlink(...keys);
  } while (cursor !== '0');
  return n;
}
