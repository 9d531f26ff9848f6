/**
 * Rollups across keys against the reference (test/helpers/reference-rollups.ts, built on the
 * reference window model): random events over several partitions, with late events under every
 * late policy, random checkpoints, crashes (restore from the last committed checkpoint and replay
 * from its offset) and passivation; the merged rollups must equal the reference recomputed from
 * the raw events.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Rollup, RollupOrder } from '../../src/actors/index.ts';
import { isRollupId, mergeRollups } from '../../src/actors/index.ts';
import type { LatePolicy } from '../../src/actors/windows/index.ts';
import { createEventTypeRegistry, type EventInput, partitionForKey } from '../../src/model/index.ts';
import { createPartitionDriver, type DriverOptions, type PartitionDriver } from '../helpers/partition-driver.ts';
import type { RefEvent } from '../helpers/reference-model.ts';
import { diffRollups, referenceRollups } from '../helpers/reference-rollups.ts';

const T0 = Date.parse('2026-03-02T08:00:00.000Z');
const MIN = 60_000;
const TOPIC = 't.rollups';
const TYPE = 'iot.rollup';
const PARTITIONS = 3;
const SPECS = ['tumbling-1m', 'sliding-3m-1m', 'session-2m'];
const ROLLUP_SPECS = ['tumbling-1m', 'sliding-3m-1m'];
const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
const ORDERS: RollupOrder[] = ['count', 'sum', 'avg', 'max', 'min'];

const registry = () => createEventTypeRegistry([{ eventType: TYPE, topic: TOPIC, partitions: PARTITIONS, valueField: 'value', windows: SPECS }]);

interface Gen {
  key: string;
  user: string | null;
  value: unknown;
  step: number;
  behind: number;
}

const genArb = fc.record({
  key: fc.constantFrom(...KEYS),
  user: fc.constantFrom('u0', 'u1', 'u2', 'u3', null),
  // multiples of 1/4 (sums exact in any order) and values that must be ignored
  value: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: -4000, max: 4000 }).map((n) => n / 4) },
    { weight: 1, arbitrary: fc.constantFrom<unknown>('12', null, true, undefined) },
  ),
  step: fc.integer({ min: 0, max: 40_000 }),
  // up to 4 minutes behind: late for some windows with a 10 s out-of-order bound
  behind: fc.oneof(
    { weight: 5, arbitrary: fc.integer({ min: 0, max: 8_000 }) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 4 * MIN }) },
    { weight: 2, arbitrary: fc.integer({ min: 0, max: 48 }).map((n) => n * 5_000) },
  ),
});

type Cmd = { t: 'add'; gens: Gen[] } | { t: 'clock'; ms: number } | { t: 'checkpoint' } | { t: 'crash' } | { t: 'passivate' };
const cmdArb: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 4, arbitrary: fc.array(genArb, { minLength: 1, maxLength: 10 }).map((gens) => ({ t: 'add' as const, gens })) },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 20 * MIN }).map((ms) => ({ t: 'clock' as const, ms })) },
  { weight: 2, arbitrary: fc.constant({ t: 'checkpoint' as const }) },
  { weight: 2, arbitrary: fc.constant({ t: 'crash' as const }) },
  { weight: 1, arbitrary: fc.constant({ t: 'passivate' as const }) },
);

/** `grid`: event times rounded down to a multiple of it, so they hit window bounds and the watermark exactly (lateness is decided at equality). */
function toInputs(gens: Gen[], grid: number): EventInput[] {
  let base = T0;
  return gens.map((g, i) => {
    base += g.step;
    const t = Math.floor((base - g.behind) / grid) * grid;
    const payload: Record<string, unknown> = {};
    if (g.value !== undefined) payload.value = g.value;
    return { eventId: `r-${i}`, timestamp: new Date(t).toISOString(), eventType: TYPE, deviceId: g.key, userId: g.user, payload };
  });
}

function byPartition(inputs: EventInput[]): RefEvent[][] {
  const out: RefEvent[][] = Array.from({ length: PARTITIONS }, () => []);
  for (const e of inputs) {
    out[partitionForKey(e.deviceId!, PARTITIONS)]!.push({
      eventType: e.eventType,
      key: e.deviceId!,
      timestamp: Date.parse(e.timestamp),
      userId: e.userId ?? null,
      payload: e.payload as Record<string, unknown>,
    });
  }
  return out;
}

function rollupsOf(d: PartitionDriver, window: string, top: number, by: RollupOrder): Rollup[] {
  const parts = Array.from({ length: PARTITIONS }, (_, p) => d.host(TOPIC, p).rollups({ eventType: TYPE, window, top, by }));
  return mergeRollups(parts, top, by);
}


describe('rollups across keys vs the reference model', () => {
  // Feature: keyflow, rollups: count, distinct keys, distinct users, sum/avg/min/max and top-N per window equal the reference recomputed from the raw events, across crashes and restores
  it('random events, late policies, checkpoints, crashes and passivation: every rollup equals the reference', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(cmdArb, { minLength: 1, maxLength: 25 }),
        fc.constantFrom<LatePolicy>('drop', 'side-output', 'update'),
        fc.constantFrom(0, 30_000),
        fc.constantFrom(2 * MIN, 10 * MIN, 86_400_000),
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 0, max: 4 }),
        fc.constantFrom(...ORDERS),
        fc.constantFrom(1, 5_000, MIN),
        fc.constantFrom(10_000, MIN),
        async (cmds, latePolicy, allowedLatenessMs, resultRetentionMs, batchSize, top, by, grid, maxOutOfOrderMs) => {
          // idle-watermark advance follows processing time, which a replay cannot reproduce: off
          const opts: DriverOptions = { registry: registry(), latePolicy, allowedLatenessMs, resultRetentionMs, batchSize, maxOutOfOrderMs, idleTimeoutMs: 1e15, passivateAfterMs: 5 * MIN };
          const d = createPartitionDriver(opts);
          const all: Gen[] = [];
          for (const c of cmds) if (c.t === 'add') all.push(...c.gens);
          const inputs = toInputs(all, grid);
          let next = 0;
          for (const c of cmds) {
            if (c.t === 'add') {
              for (const e of inputs.slice(next, next + c.gens.length)) d.append(e);
              next += c.gens.length;
              await d.process();
            } else if (c.t === 'clock') d.advance(c.ms);
            else if (c.t === 'checkpoint') d.checkpoint();
            else if (c.t === 'crash') d.crash();
            else for (const h of d.hosts.values()) h.passivateIdle();
          }
          await d.process();
          const events = byPartition(inputs);
          for (const window of ROLLUP_SPECS) {
            const want = referenceRollups(events, { eventType: TYPE, window, top, by, valueField: () => 'value', maxOutOfOrderMs, allowedLatenessMs, latePolicy, resultRetentionMs });
            expect(diffRollups(rollupsOf(d, window, top, by), want)).toEqual([]);
          }
          // and the same after a final checkpoint, crash and restore with nothing left to replay
          d.checkpoint();
          d.crash();
          for (const window of ROLLUP_SPECS) {
            const want = referenceRollups(events, { eventType: TYPE, window, top, by, valueField: () => 'value', maxOutOfOrderMs, allowedLatenessMs, latePolicy, resultRetentionMs });
            expect(diffRollups(rollupsOf(d, window, top, by), want)).toEqual([]);
          }
        },
      ),
      { numRuns: 100 },
    );
  });

  it('under update, a late event counts while its window is within retention (end >= watermark - retention), not after', async () => {
    const reg = registry();
    const key = KEYS.find((k) => partitionForKey(k, PARTITIONS) === 0)!;
    const d = createPartitionDriver({ registry: reg, latePolicy: 'update', maxOutOfOrderMs: 0, resultRetentionMs: 2 * MIN });
    const at = (id: string, t: number): EventInput => ({ eventId: id, timestamp: new Date(t).toISOString(), eventType: TYPE, deviceId: key, userId: id, payload: { value: 1 } });
    // watermark T0 + 3m: the tumbling window [T0, T0+1m) ends exactly at watermark − retention
    const inputs = [at('a', T0 + 3 * MIN), at('b', T0 + 1000)];
    await d.feed(inputs);
    const [r] = rollupsOf(d, 'tumbling-1m', 1, 'count');
    expect(r).toMatchObject({ windowStart: T0, count: 1, distinctUsers: 1, final: true });
    const want = referenceRollups(byPartition(inputs), { eventType: TYPE, window: 'tumbling-1m', top: 1, by: 'count', valueField: () => 'value', maxOutOfOrderMs: 0, latePolicy: 'update', resultRetentionMs: 2 * MIN });
    expect(diffRollups(rollupsOf(d, 'tumbling-1m', 1, 'count'), want)).toEqual([]);
    // one millisecond further, the window is past its retention: the late event is not counted
    const later = [at('c', T0 + 3 * MIN + 1), at('d', T0 + 2000)];
    await d.feed(later);
    expect(rollupsOf(d, 'tumbling-1m', 1, 'count').map((x) => x.windowStart)).toEqual([T0 + 3 * MIN]);
  });

  it('many keys and users in one window (the tables grow): equal to the reference', async () => {
    const d = createPartitionDriver({ registry: registry(), maxOutOfOrderMs: 10_000, batchSize: 97 });
    const inputs: EventInput[] = Array.from({ length: 3000 }, (_, i) => ({
      eventId: `m-${i}`,
      timestamp: new Date(T0 + i * 20).toISOString(),
      eventType: TYPE,
      deviceId: `key-${(i * 7919) % 701}`,
      userId: i % 5 === 0 ? null : `user-${(i * 104729) % 389}`,
      payload: { value: (i % 41) / 4 },
    }));
    for (const e of inputs.slice(0, 1700)) d.append(e);
    await d.process();
    d.checkpoint();
    for (const e of inputs.slice(1700)) d.append(e);
    await d.process();
    d.crash();
    await d.process(); // restored from the checkpoint at 1700, the rest replayed
    for (const [window, by] of [['tumbling-1m', 'count'], ['sliding-3m-1m', 'sum']] as const) {
      const want = referenceRollups(byPartition(inputs), { eventType: TYPE, window, top: 20, by, valueField: () => 'value', maxOutOfOrderMs: 10_000 });
      expect(want[0]!.distinctKeys).toBeGreaterThan(300);
      expect(diffRollups(rollupsOf(d, window, 20, by), want)).toEqual([]);
    }
  });

  it('a partition restored with rollups turned off deletes their windows from the store with its next checkpoint', async () => {
    const d = createPartitionDriver({ registry: registry(), maxOutOfOrderMs: 0 });
    const key = KEYS.find((k) => partitionForKey(k, PARTITIONS) === 0)!;
    await d.feed([{ eventId: 'a', timestamp: new Date(T0).toISOString(), eventType: TYPE, deviceId: key, userId: null, payload: { value: 1 } }]);
    d.checkpoint();
    const h = createPartitionDriver({ registry: registry(), maxOutOfOrderMs: 0, rollups: false }).host(TOPIC, 0);
    const stored = d.store.get(`${TOPIC}/0`)!;
    h.restore(stored.cp, stored.actors);
    expect(h.rollups({ eventType: TYPE, window: 'tumbling-1m' })).toEqual([]);
    const ids = [...stored.actors.keys()].filter(isRollupId);
    expect(ids.length).toBeGreaterThan(0);
    expect(h.checkpoint().deleted?.filter(isRollupId).sort()).toEqual(ids.sort());
  });

  it('session specs have no rollups; an event type without a value field has counts, keys and users only', async () => {
    const reg = createEventTypeRegistry([{ eventType: 'click', topic: 't.clicks', partitions: 1, valueField: null, windows: ['tumbling-1m', 'session-2m'] }]);
    const d = createPartitionDriver({ registry: reg, maxOutOfOrderMs: 0 });
    await d.feed([
      { eventId: 'c1', timestamp: new Date(T0 + 1000).toISOString(), eventType: 'click', deviceId: 'a', userId: 'x', payload: { value: 3 } },
      { eventId: 'c2', timestamp: new Date(T0 + 2000).toISOString(), eventType: 'click', deviceId: 'b', userId: 'x', payload: {} },
      { eventId: 'c3', timestamp: new Date(T0 + 3000).toISOString(), eventType: 'click', deviceId: 'b', userId: 'y', payload: {} },
    ]);
    const h = d.host('t.clicks', 0);
    expect(h.rollups({ eventType: 'click', window: 'session-2m' })).toEqual([]);
    const [r] = mergeRollups([h.rollups({ eventType: 'click', window: 'tumbling-1m', top: 1, by: 'count' })], 1, 'count');
    expect(r).toMatchObject({ count: 3, distinctKeys: 2, distinctUsers: 2, valueCount: 0, sum: null, avg: null, final: false });
    expect(r!.topKeys).toEqual([{ key: 'b', count: 2, valueCount: 0, sum: null, avg: null, min: null, max: null }]);
  });

  it('rollup windows are committed with the checkpoint under reserved ids and deleted there once past retention', async () => {
    const d = createPartitionDriver({ registry: registry(), maxOutOfOrderMs: 0, resultRetentionMs: MIN });
    const key = KEYS.find((k) => partitionForKey(k, PARTITIONS) === 0)!;
    await d.feed([{ eventId: 'a', timestamp: new Date(T0).toISOString(), eventType: TYPE, deviceId: key, userId: null, payload: { value: 1 } }]);
    d.checkpoint();
    const ids = () => [...d.store.get(`${TOPIC}/0`)!.actors.keys()].filter(isRollupId);
    // one tumbling-1m window and three sliding-3m-1m windows hold the event
    expect(ids()).toHaveLength(4);
    // far later: every window above is final and past its retention
    await d.feed([{ eventId: 'b', timestamp: new Date(T0 + 60 * MIN).toISOString(), eventType: TYPE, deviceId: key, userId: null, payload: { value: 1 } }]);
    d.checkpoint();
    expect(ids()).toHaveLength(4);
    expect(ids().every((id) => id.endsWith(String(Math.floor((T0 + 60 * MIN) / MIN) * MIN)) || id.includes('sliding'))).toBe(true);
    expect(d.host(TOPIC, 0).rollups({ eventType: TYPE, window: 'tumbling-1m' }).map((p) => p.windowStart)).toEqual([T0 + 60 * MIN]);
  });
});

describe('rollup checkpoints are incremental', () => {
  const SEP = '\u001f';
  const keys = Array.from({ length: 2000 }, (_, i) => `dev-${i}`)
    .filter((k) => partitionForKey(k, PARTITIONS) === 0)
    .slice(0, 300);
  const ev = (id: string, t: number, key: string, user: string | null, value: number): EventInput => ({
    eventId: id,
    timestamp: new Date(t).toISOString(),
    eventType: TYPE,
    deviceId: key,
    userId: user,
    payload: { value },
  });
  const rollupWrites = (d: PartitionDriver) => {
    const w = d.host(TOPIC, 0).checkpoint();
    return { dirty: [...w.dirty].filter(([id]) => isRollupId(id)), deleted: (w.deleted ?? []).filter(isRollupId) };
  };

  it('a commit writes a delta of the changed tallies and new users, rewrites the base only once the deltas would outgrow it, and restores exactly', async () => {
    const d = createPartitionDriver({ registry: registry(), maxOutOfOrderMs: 30 * MIN, idleTimeoutMs: 1e15 });
    const inputs: EventInput[] = keys.map((k, i) => ev(`a-${i}`, T0 + i, k, `u-${i % 50}`, i / 4));
    await d.feed(inputs);
    d.checkpoint();
    // one event of one key: each of the 4 windows holding it (tumbling-1m, 3 × sliding-3m-1m) writes one delta of one tally and one user
    const one = ev('b-0', T0 + 1000, keys[7]!, 'fresh-user', 2.5);
    inputs.push(one);
    await d.feed([one]);
    const first = rollupWrites(d);
    expect(first.dirty).toHaveLength(4);
    expect(first.deleted).toEqual([]);
    for (const [id, data] of first.dirty) {
      expect(id.endsWith(`${SEP}1`)).toBe(true);
      const delta = JSON.parse(data) as { k: unknown[][]; u: string[] };
      expect(delta.k.map((t) => t[0])).toEqual([keys[7]]);
      expect(delta.u).toEqual(['fresh-user']);
    }
    d.checkpoint();
    // many small commits: the deltas pile up until they would hold as many rows as the window, then one base rewrite drops them
    let rewrites = 0;
    let maxIds = 0;
    for (let c = 0; c < 120; c++) {
      const batch = Array.from({ length: 5 }, (_, j) => ev(`c-${c}-${j}`, T0 + 2000 + c * 10 + j, keys[(c * 5 + j * 61) % keys.length]!, j === 0 ? `v-${c}` : null, c - j));
      inputs.push(...batch);
      await d.feed(batch);
      const w = rollupWrites(d);
      // a base id is prefix, type, spec, start; a delta's has its number after them
      if (w.dirty.some(([id]) => id.split(SEP).length === 5)) {
        rewrites++;
        expect(w.deleted.length).toBeGreaterThan(0);
      }
      d.checkpoint();
      maxIds = Math.max(maxIds, [...d.store.get(`${TOPIC}/0`)!.actors.keys()].filter(isRollupId).length);
    }
    expect(rewrites).toBeGreaterThan(0);
    // 4 windows, each a base and fewer deltas than a rewrite allows (5 rows each, window ~ 300 keys + 170 users)
    expect(maxIds).toBeLessThan(4 * (1 + 470 / 5 + 1));
    const events = byPartition(inputs);
    const want = (window: string) => referenceRollups(events, { eventType: TYPE, window, top: 20, by: 'sum', valueField: () => 'value', maxOutOfOrderMs: 30 * MIN });
    for (const window of ROLLUP_SPECS) expect(diffRollups(rollupsOf(d, window, 20, 'sum'), want(window))).toEqual([]);
    d.crash();
    for (const window of ROLLUP_SPECS) expect(diffRollups(rollupsOf(d, window, 20, 'sum'), want(window))).toEqual([]);
  });

  it('a checkpoint that was not committed is written again by the next (same delta number, its changes and the later ones)', async () => {
    const d = createPartitionDriver({ registry: registry(), maxOutOfOrderMs: 30 * MIN });
    const inputs: EventInput[] = keys.slice(0, 40).map((k, i) => ev(`a-${i}`, T0 + i, k, `u-${i}`, i));
    await d.feed(inputs);
    d.checkpoint();
    const more = [ev('b-1', T0 + 500, keys[1]!, 'late-user', 7), ev('b-2', T0 + 600, keys[2]!, null, 8)];
    inputs.push(more[0]!);
    await d.feed([more[0]!]);
    d.host(TOPIC, 0).checkpoint(); // taken, never committed (the store failed)
    inputs.push(more[1]!);
    await d.feed([more[1]!]);
    const again = rollupWrites(d);
    const tumbling = again.dirty.find(([id]) => id.includes('tumbling-1m'))!;
    expect(tumbling[0].endsWith(`${SEP}1`)).toBe(true);
    const delta = JSON.parse(tumbling[1]) as { k: unknown[][]; u: string[] };
    expect(delta.k.map((t) => t[0]).sort()).toEqual([keys[1], keys[2]].sort());
    expect(delta.u).toEqual(['late-user']);
    d.checkpoint();
    d.crash();
    const events = byPartition(inputs);
    for (const window of ROLLUP_SPECS) {
      const want = referenceRollups(events, { eventType: TYPE, window, top: 50, by: 'count', valueField: () => 'value', maxOutOfOrderMs: 30 * MIN });
      expect(diffRollups(rollupsOf(d, window, 50, 'count'), want)).toEqual([]);
    }
  });

  it('a window that expires deletes its base and every delta; a delta without its base is refused at restore', async () => {
    const d = createPartitionDriver({ registry: registry(), maxOutOfOrderMs: 0, resultRetentionMs: MIN });
    await d.feed(keys.slice(0, 20).map((k, i) => ev(`a-${i}`, T0 + i, k, null, 1)));
    d.checkpoint();
    await d.feed([ev('b', T0 + 100, keys[0]!, null, 1)]);
    d.checkpoint();
    const stored = () => [...d.store.get(`${TOPIC}/0`)!.actors.keys()].filter(isRollupId);
    expect(stored().filter((id) => id.endsWith(`${SEP}1`))).toHaveLength(4);
    await d.feed([ev('c', T0 + 60 * MIN, keys[0]!, null, 1)]);
    d.checkpoint();
    expect(stored().filter((id) => id.endsWith(`${SEP}1`))).toEqual([]);
    expect(stored()).toHaveLength(4);
    const h = createPartitionDriver({ registry: registry() }).host(TOPIC, 0);
    const base = stored()[0]!;
    expect(() => h.restore(null, new Map([[`${base}${SEP}1`, '{"v":1,"a":[1,1,1,1,1],"k":[],"u":[]}']]))).toThrow(/no base/);
  });
});
