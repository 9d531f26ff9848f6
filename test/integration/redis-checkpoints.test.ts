import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isFenced, KeyflowError } from '../../src/model/errors.ts';
import type { CheckpointStore } from '../../src/state/port.ts';
import { createRedisCheckpoints, deleteRedisKeysWithPrefix } from '../../src/state/redis/checkpoints.ts';
import { assertReachable, hostPortOf, requireRedis } from '../helpers/services.ts';

const REDIS_URL = requireRedis().url;
const prefix = `kft-${randomUUID()}`;
let admin: Redis;
const stores: CheckpointStore[] = [];

async function open(): Promise<CheckpointStore> {
  const s = createRedisCheckpoints({ url: REDIS_URL, keyPrefix: prefix });
  stores.push(s);
  await s.start();
  return s;
}

function write(nextOffset: number, dirty: Record<string, string> = {}, deleted?: string[]) {
  return { nextOffset, partitionState: JSON.stringify({ wm: nextOffset }), dirty: new Map(Object.entries(dirty)), deleted };
}

interface Model {
  actors: Map<string, string>;
  nextOffset: number;
  epoch: number;
}

function prevActors(m: Model | null): Map<string, string> {
  return m === null ? new Map() : m.actors;
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    return e;
  }
  throw new Error('expected a rejection');
}

beforeAll(async () => {
  // A missing Redis must fail the suite, not skip it.
  await assertReachable('Redis', hostPortOf(REDIS_URL, 6379));
  admin = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  await admin.connect();
  expect(await admin.ping()).toBe('PONG');
});

afterAll(async () => {
  for (const s of stores) await s.close();
  if (admin) {
    await deleteRedisKeysWithPrefix(admin, prefix);
    await admin.quit();
  }
});

describe('Redis checkpoint store', () => {
  it('keeps a partition\'s keys under one hash tag and round-trips a checkpoint', async () => {
    const s = await open();
    expect(s.kind).toBe('redis');
    expect(await s.healthy()).toMatchObject({ connected: true });
    expect(await s.load('t.a', 0)).toBeNull();
    const e = await s.acquire('t.a', 0);
    await s.commit('t.a', 0, e, write(10, { k1: 'v1', k2: 'v2' }));
    expect(await s.load('t.a', 0)).toEqual({ nextOffset: 10, partitionState: '{"wm":10}', epoch: e });
    expect(await s.loadActor('t.a', 0, 'k1')).toBe('v1');
    expect(await s.loadActor('t.a', 0, 'nope')).toBeNull();
    await s.commit('t.a', 0, e, write(12, { k2: 'v2b', k3: 'v3' }, ['k1']));
    expect(await s.loadActors('t.a', 0)).toEqual(new Map([['k2', 'v2b'], ['k3', 'v3']]));
    expect((await s.load('t.a', 0))?.nextOffset).toBe(12);

    const keys = (await admin.keys(`${prefix}:*t.a:0*`)).sort();
    expect(keys).toEqual([`${prefix}:{t.a:0}:actors`, `${prefix}:{t.a:0}:epoch`, `${prefix}:{t.a:0}:meta`]);
    // Same hash tag → same cluster slot, so the commit script may touch all three keys.
    const slots = await Promise.all(keys.map((k) => admin.call('CLUSTER', 'KEYSLOT', k).catch(() => null)));
    if (slots[0] !== null) expect(new Set(slots).size).toBe(1);
  });

  it('keeps partitions and topics apart', async () => {
    const s = await open();
    const e1 = await s.acquire('t.b', 1);
    const e2 = await s.acquire('t.b', 2);
    await s.commit('t.b', 1, e1, write(5, { x: '1' }));
    await s.commit('t.b', 2, e2, write(7, { x: '2' }));
    expect(await s.loadActor('t.b', 1, 'x')).toBe('1');
    expect(await s.loadActor('t.b', 2, 'x')).toBe('2');
    expect(await s.load('t.b', 3)).toBeNull();
    expect(await s.loadActors('t.b', 3)).toEqual(new Map());
  });

  it('survives awkward actor keys and snapshots', async () => {
    const s = await open();
    const e = await s.acquire('t.c', 0);
    const dirty = { __proto__x: 'a', constructor: 'b', 'a:b{c}': 'c', 'ключ 🔑': 'd', '': 'empty key', k: '' };
    const m = new Map(Object.entries(dirty));
    m.set('__proto__', 'proto');
    await s.commit('t.c', 0, e, { nextOffset: 0, partitionState: '', dirty: m });
    expect(await s.loadActors('t.c', 0)).toEqual(m);
    expect(await s.loadActor('t.c', 0, '__proto__')).toBe('proto');
    expect(await s.load('t.c', 0)).toEqual({ nextOffset: 0, partitionState: '', epoch: e });
  });

  it('gives each acquire a larger epoch and fences every earlier one', async () => {
    const a = await open();
    const b = await open();
    const e1 = await a.acquire('t.d', 0);
    await a.commit('t.d', 0, e1, write(1, { k: 'a1' }));
    const e2 = await b.acquire('t.d', 0);
    expect(e2).toBeGreaterThan(e1);
    const err = await rejection(a.commit('t.d', 0, e1, write(2, { k: 'zombie', z: 'zombie' }, ['k'])));
    expect(isFenced(err)).toBe(true);
    expect((err as KeyflowError).details).toMatchObject({ epoch: e1, current: e2 });
    expect(await b.load('t.d', 0)).toEqual({ nextOffset: 1, partitionState: '{"wm":1}', epoch: e1 });
    expect(await b.loadActors('t.d', 0)).toEqual(new Map([['k', 'a1']]));
  });

  it('fences a commit under an epoch never acquired', async () => {
    const s = await open();
    const err = await rejection(s.commit('t.e', 0, 1, write(1, { k: 'v' })));
    expect(isFenced(err)).toBe(true);
    expect((err as KeyflowError).details).toMatchObject({ current: null });
    expect(await s.load('t.e', 0)).toBeNull();
    expect(await s.loadActors('t.e', 0)).toEqual(new Map());
  });

  it('two owners racing: after the second acquire the first cannot commit, and the state is the second\'s', async () => {
    const a = await open();
    const b = await open();
    const ea = await a.acquire('t.race', 0);
    let stop = false;
    let fencedAfterAcquire = 0;
    let acquiredAt = Number.POSITIVE_INFINITY;
    let startedCount = 0;
    const zombie = (async () => {
      let off = 0;
      while (!stop) {
        off += 1;
        const startedAfterAcquire = startedCount >= acquiredAt;
        startedCount += 1;
        try {
          await a.commit('t.race', 0, ea, write(off, { shared: `a${off}`, [`a${off}`]: 'x' }));
          // A commit that started after b acquired must never succeed.
          expect(startedAfterAcquire).toBe(false);
        } catch (e) {
          expect(isFenced(e)).toBe(true);
          if (startedAfterAcquire) fencedAfterAcquire += 1;
          if (fencedAfterAcquire >= 5) return;
        }
      }
    })();
    // Let the zombie land a few commits, then take over.
    while (startedCount < 5) await new Promise((r) => setTimeout(r, 1));
    const eb = await b.acquire('t.race', 0);
    acquiredAt = startedCount;
    const restored = await b.loadActors('t.race', 0);
    const cp = await b.load('t.race', 0);
    expect(cp?.epoch).toBe(ea);
    await b.commit('t.race', 0, eb, write(1000, { shared: 'b' }));
    await zombie;
    stop = true;
    expect(fencedAfterAcquire).toBeGreaterThanOrEqual(5);
    expect(await b.load('t.race', 0)).toEqual({ nextOffset: 1000, partitionState: '{"wm":1000}', epoch: eb });
    const after = await b.loadActors('t.race', 0);
    expect(after.get('shared')).toBe('b');
    // Nothing the zombie tried after the takeover landed.
    expect(after.size).toBe(restored.size + (restored.has('shared') ? 0 : 1));
  });

  it('commits and reloads 20k dirty actors in one script call, then deletes 10k of them', async () => {
    // Count the commands the store sends through its client.
    const client = new Redis(REDIS_URL, { lazyConnect: true });
    const sent: string[] = [];
    const send = client.sendCommand.bind(client);
    client.sendCommand = ((command: { name: string }, ...rest: unknown[]) => {
      sent.push(command.name);
      return (send as (...a: unknown[]) => unknown)(command, ...rest);
    }) as typeof client.sendCommand;
    await client.connect();
    const s = createRedisCheckpoints({ client, keyPrefix: prefix });
    await s.start();
    const e = await s.acquire('t.big', 0);
    const dirty = new Map<string, string>();
    for (let i = 0; i < 20_000; i++) dirty.set(`device-${i}`, JSON.stringify({ i, windows: [[i, i * 2, 'x'.repeat(40)]] }));
    sent.length = 0;
    await s.commit('t.big', 0, e, { nextOffset: 20_000, partitionState: 'p', dirty });
    // One EVALSHA (plus one EVAL only if the script was not cached yet).
    expect(sent.filter((n) => n === 'evalsha').length).toBe(1);
    expect(sent.filter((n) => n !== 'evalsha' && n !== 'eval')).toEqual([]);
    const back = await s.loadActors('t.big', 0);
    expect(back.size).toBe(20_000);
    expect(back).toEqual(dirty);

    const deleted = [...dirty.keys()].filter((_, i) => i % 2 === 0);
    await s.commit('t.big', 0, e, { nextOffset: 20_001, partitionState: 'p2', dirty: new Map([['device-1', 'changed']]), deleted });
    const after = await s.loadActors('t.big', 0);
    expect(after.size).toBe(10_000);
    expect(after.get('device-1')).toBe('changed');
    expect(after.has('device-0')).toBe(false);
    expect(after.get('device-3')).toBe(dirty.get('device-3'));
    await s.close();
    await client.quit();
  });

  it('loads a partition above atomicLoadMax page by page, with the same result', async () => {
    const s = createRedisCheckpoints({ url: REDIS_URL, keyPrefix: prefix, atomicLoadMax: 100, hsetChunk: 7 });
    stores.push(s);
    await s.start();
    const e = await s.acquire('t.paged', 0);
    const dirty = new Map<string, string>();
    for (let i = 0; i < 12_345; i++) dirty.set(i === 0 ? '__proto__' : `k${i}`, `v${i}`);
    await s.commit('t.paged', 0, e, { nextOffset: 1, partitionState: '', dirty });
    expect(await s.loadActors('t.paged', 0)).toEqual(dirty);
  });

  it('writes many finals per actor in slices of hsetChunk, every one of them, with the expiry set', async () => {
    const s = createRedisCheckpoints({ url: REDIS_URL, keyPrefix: prefix, hsetChunk: 7, resultRetentionMs: 60_000 });
    stores.push(s);
    await s.start();
    const e = await s.acquire('t.fin', 0);
    const finals = [];
    // actors interleaved on purpose: the store groups them itself
    for (let i = 0; i < 60; i++) {
      const actor = `a${i % 3}`;
      finals.push({ actor, id: `w|${i}`, windowEnd: i, data: `["w",${i}]` });
    }
    await s.commit('t.fin', 0, e, { nextOffset: 60, partitionState: '', dirty: new Map(), finals });
    const client = new Redis(REDIS_URL);
    for (let a = 0; a < 3; a++) {
      const expected = finals.filter((f) => f.actor === `a${a}`).map((f) => f.data);
      expect((await s.loadFinals('t.fin', 0, `a${a}`)).sort()).toEqual(expected.sort());
      const ttl = await client.pttl(`${prefix}:{t.fin:0}:fin:a${a}`);
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(60_000);
    }
    await client.quit();
  });

  it("drops an always-busy actor's finals once they pass the retention (its hash never goes idle)", async () => {
    const s = createRedisCheckpoints({ url: REDIS_URL, keyPrefix: prefix, resultRetentionMs: 3_600_000 });
    stores.push(s);
    await s.start();
    const e = await s.acquire('t.ret', 0);
    // one commit per minute of event time, each making one final of the minute that ended
    for (let m = 1; m <= 64; m++) {
      const end = m * 60_000;
      await s.commit('t.ret', 0, e, {
        nextOffset: m,
        partitionState: '',
        dirty: new Map(),
        finals: [{ actor: 'busy', id: `tumbling-1m|${end - 60_000}`, windowEnd: end, data: `[${m}]` }],
        retainFinalsFrom: end - 10 * 60_000,
      });
    }
    const rows = (await s.loadFinals('t.ret', 0, 'busy')).map((d) => Number(d.slice(1, -1)));
    // pruned at the 64th write: everything that ended before minute 54 is gone, the rest is there
    expect(Math.min(...rows)).toBe(54);
    expect(rows.sort((a, b) => a - b)).toEqual(Array.from({ length: 11 }, (_, i) => 54 + i));
  });

  it('reads finals a previous version stored one field per window, under later packed rows', async () => {
    const s = await open();
    const e = await s.acquire('t.legacy', 0);
    const client = new Redis(REDIS_URL);
    await client.hset(`${prefix}:{t.legacy:0}:fin:dev`, 'tumbling-1m|0', '["old-a"]', 'tumbling-1m|60000', '["old-b"]');
    await s.commit('t.legacy', 0, e, { nextOffset: 1, partitionState: '', dirty: new Map(), finals: [{ actor: 'dev', id: 'tumbling-1m|0', windowEnd: 60_000, data: '["new-a"]' }] });
    expect((await s.loadFinals('t.legacy', 0, 'dev')).sort()).toEqual(['["new-a"]', '["old-b"]']);
    await client.quit();
  });

  it('rejects a commit with a bad offset before touching Redis', async () => {
    const s = await open();
    const e = await s.acquire('t.f', 0);
    const err = await rejection(s.commit('t.f', 0, e, write(-1)));
    expect(err).toBeInstanceOf(KeyflowError);
    expect((err as KeyflowError).code).toBe(ErrorCode.CHECKPOINT_FAILED);
    expect(await s.load('t.f', 0)).toBeNull();
  });

  it('rejects a keyPrefix that would break the hash tag', () => {
    expect(() => createRedisCheckpoints({ keyPrefix: 'a{b' })).toThrow(KeyflowError);
  });

  // Feature: keyflow, Property 18: Rebalancing data integrity
  it('property: across any interleaving of owners, the store holds exactly the commits of the current owner', async () => {
    const a = await open();
    const b = await open();
    const owners = [a, b];
    let run = 0;
    const op = fc.oneof(
      fc.record({ t: fc.constant('acquire' as const), who: fc.integer({ min: 0, max: 1 }) }),
      fc.record({
        t: fc.constant('commit' as const),
        who: fc.integer({ min: 0, max: 1 }),
        dirty: fc.dictionary(fc.constantFrom('k1', 'k2', 'k3', 'k4'), fc.string({ maxLength: 8 })),
        deleted: fc.array(fc.constantFrom('k1', 'k2', 'k3', 'k4'), { maxLength: 2 }),
      }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), async (ops) => {
        run += 1;
        const topic = `t.prop${run}`;
        const epochs: (number | null)[] = [null, null];
        let current: number | null = null;
        let model: Model | null = null;
        let offset = 0;
        for (const o of ops) {
          const store = owners[o.who]!;
          if (o.t === 'acquire') {
            const e = await store.acquire(topic, 0);
            expect(current === null || e > current).toBe(true);
            epochs[o.who] = current = e;
            continue;
          }
          const epoch = epochs[o.who] ?? 0;
          offset += 1;
          const dirty = new Map(Object.entries(o.dirty));
          const deleted = o.deleted.filter((k) => !dirty.has(k));
          try {
            await store.commit(topic, 0, epoch, { nextOffset: offset, partitionState: `s${offset}`, dirty, deleted });
            expect(epoch).toBe(current);
            const actors: Map<string, string> = new Map(prevActors(model));
            for (const [k, v] of dirty) actors.set(k, v);
            for (const k of deleted) actors.delete(k);
            model = { actors, nextOffset: offset, epoch };
          } catch (e) {
            expect(isFenced(e)).toBe(true);
            expect(epoch).not.toBe(current);
          }
        }
        const cp = await a.load(topic, 0);
        if (model === null) {
          expect(cp).toBeNull();
          expect(await b.loadActors(topic, 0)).toEqual(new Map());
        } else {
          const m: Model = model;
          expect(cp).toEqual({ nextOffset: m.nextOffset, partitionState: `s${m.nextOffset}`, epoch: m.epoch });
          expect(await b.loadActors(topic, 0)).toEqual(m.actors);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('Redis checkpoint store when Redis is down', () => {
  it('rejects with STORE_UNAVAILABLE (retriable) instead of hanging, and reports unhealthy', async () => {
    const s = createRedisCheckpoints({ url: 'redis://127.0.0.1:1', keyPrefix: prefix, commandTimeoutMs: 500, maxRetriesPerRequest: 1 });
    stores.push(s);
    const startErr = await rejection(s.start());
    expect(startErr).toBeInstanceOf(KeyflowError);
    expect((startErr as KeyflowError).code).toBe(ErrorCode.STORE_UNAVAILABLE);
    expect((startErr as KeyflowError).retriable).toBe(true);

    const commitErr = await rejection(s.commit('t.down', 0, 1, write(1, { k: 'v' })));
    expect(commitErr).toBeInstanceOf(KeyflowError);
    expect((commitErr as KeyflowError).code).toBe(ErrorCode.STORE_UNAVAILABLE);
    expect((commitErr as KeyflowError).retriable).toBe(true);

    for (const p of [s.acquire('t.down', 0), s.load('t.down', 0), s.loadActor('t.down', 0, 'k'), s.loadActors('t.down', 0)]) {
      const err = await rejection(p);
      expect((err as KeyflowError).code).toBe(ErrorCode.STORE_UNAVAILABLE);
    }
    expect(await s.healthy()).toMatchObject({ connected: false });
  });
});
