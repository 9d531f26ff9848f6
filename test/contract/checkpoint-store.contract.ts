/**
 * The checkpoint-store contract: every CheckpointStore adapter (file, Redis) runs this suite.
 * `makeStore` returns a factory for store instances that share one backing (so a "restart" or
 * a second owner is a new instance), a unique topic prefix and a cleanup.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode, isFenced } from '../../src/model/errors.ts';
import type { CheckpointStore } from '../../src/state/port.ts';
import { uniqueName } from '../helpers/wait.ts';

export interface CheckpointStoreFixture {
  /** A new, not yet started, store instance on the shared backing. */
  open(): CheckpointStore;
  /** Prefix for topic names this run may use (unique per run). */
  topicPrefix: string;
  cleanup(): Promise<void>;
}

export function describeCheckpointStoreContract(name: string, makeStore: () => Promise<CheckpointStoreFixture>): void {
  describe(`CheckpointStore contract: ${name}`, () => {
    let fx: CheckpointStoreFixture;
    let store: CheckpointStore;
    const extra: CheckpointStore[] = [];
    const topic = () => `${fx.topicPrefix}.${uniqueName('cp')}`;

    async function another(): Promise<CheckpointStore> {
      const s = fx.open();
      await s.start();
      extra.push(s);
      return s;
    }

    beforeAll(async () => {
      fx = await makeStore();
      store = fx.open();
      await store.start();
    });

    afterAll(async () => {
      for (const s of extra) await s.close().catch(() => undefined);
      await store?.close();
      await fx?.cleanup();
    });

    it('acquire returns increasing epochs per partition', async () => {
      const t = topic();
      const e1 = await store.acquire(t, 0);
      const e2 = await store.acquire(t, 0);
      const e3 = await store.acquire(t, 0);
      expect(e1).toBeGreaterThan(0);
      expect(e2).toBeGreaterThan(e1);
      expect(e3).toBeGreaterThan(e2);
      // Partitions are independent.
      const other = await store.acquire(t, 1);
      expect(other).toBeGreaterThan(0);
    });

    it('load returns null and no actors before the first commit', async () => {
      const t = topic();
      await store.acquire(t, 0);
      expect(await store.load(t, 0)).toBeNull();
      expect(await store.loadActor(t, 0, 'k')).toBeNull();
      expect((await store.loadActors(t, 0)).size).toBe(0);
    });

    it('commit then load round-trips offset, partition state, epoch and actor states', async () => {
      const t = topic();
      const epoch = await store.acquire(t, 2);
      await store.commit(t, 2, epoch, {
        nextOffset: 42,
        partitionState: '{"watermark":1000}',
        dirty: new Map([
          ['dev-1', '{"n":1}'],
          ['dev-2', '{"n":2,"s":"ünïcödé \\"q\\""}'],
        ]),
      });
      expect(await store.load(t, 2)).toEqual({ nextOffset: 42, partitionState: '{"watermark":1000}', epoch });
      expect(await store.loadActor(t, 2, 'dev-1')).toBe('{"n":1}');
      expect(await store.loadActor(t, 2, 'dev-2')).toBe('{"n":2,"s":"ünïcödé \\"q\\""}');
      expect(await store.loadActor(t, 2, 'dev-3')).toBeNull();
      expect(await store.loadActors(t, 2)).toEqual(
        new Map([
          ['dev-1', '{"n":1}'],
          ['dev-2', '{"n":2,"s":"ünïcödé \\"q\\""}'],
        ]),
      );
    });

    it('a commit with only dirty states keeps the other actors; deleted keys are removed', async () => {
      const t = topic();
      const epoch = await store.acquire(t, 0);
      await store.commit(t, 0, epoch, {
        nextOffset: 10,
        partitionState: 'p1',
        dirty: new Map([
          ['a', 'A1'],
          ['b', 'B1'],
          ['c', 'C1'],
        ]),
      });
      await store.commit(t, 0, epoch, { nextOffset: 20, partitionState: 'p2', dirty: new Map([['b', 'B2']]), deleted: ['c'] });
      expect(await store.load(t, 0)).toEqual({ nextOffset: 20, partitionState: 'p2', epoch });
      expect(await store.loadActors(t, 0)).toEqual(
        new Map([
          ['a', 'A1'],
          ['b', 'B2'],
        ]),
      );
      expect(await store.loadActor(t, 0, 'c')).toBeNull();
      // An empty commit still moves the offset.
      await store.commit(t, 0, epoch, { nextOffset: 25, partitionState: 'p3', dirty: new Map() });
      expect((await store.load(t, 0))?.nextOffset).toBe(25);
      expect((await store.loadActors(t, 0)).size).toBe(2);
    });

    it('a commit under a stale epoch is rejected with FencedError and writes nothing', async () => {
      const t = topic();
      const zombie = await store.acquire(t, 0);
      await store.commit(t, 0, zombie, { nextOffset: 5, partitionState: 'old', dirty: new Map([['k', 'v1']]) });
      // A new owner (another instance, as after a rebalance) takes the partition.
      const owner = await another();
      const current = await owner.acquire(t, 0);
      expect(current).toBeGreaterThan(zombie);
      const err = await store
        .commit(t, 0, zombie, { nextOffset: 99, partitionState: 'zombie', dirty: new Map([['k', 'zombie'], ['z', 'z']]), deleted: [] })
        .then(
          () => null,
          (e: unknown) => e,
        );
      expect(isFenced(err)).toBe(true);
      expect((err as { code?: string }).code).toBe(ErrorCode.FENCED);
      // Nothing of the zombie's write is visible, from either instance.
      for (const s of [owner, store]) {
        expect(await s.load(t, 0)).toEqual({ nextOffset: 5, partitionState: 'old', epoch: zombie });
        expect(await s.loadActors(t, 0)).toEqual(new Map([['k', 'v1']]));
      }
      // The new owner commits normally.
      await owner.commit(t, 0, current, { nextOffset: 7, partitionState: 'new', dirty: new Map([['k', 'v2']]) });
      expect(await owner.load(t, 0)).toEqual({ nextOffset: 7, partitionState: 'new', epoch: current });
    });

    it('finals are written with the commit, read back per actor, replaced by id, and gone with their actor', async () => {
      const t = topic();
      const epoch = await store.acquire(t, 0);
      const f = (actor: string, id: string, data: string) => ({ actor, id, windowEnd: 60_000, data });
      expect(await store.loadFinals(t, 0, 'dev-1')).toEqual([]);
      await store.commit(t, 0, epoch, {
        nextOffset: 5,
        partitionState: '{}',
        dirty: new Map([['dev-1', '{}']]),
        finals: [f('dev-1', 'tumbling-1m|0', '["a",0]'), f('dev-1', 'tumbling-5m|0', '["b",0]'), f('__proto__', 'tumbling-1m|0', '["p",0]')],
      });
      expect((await store.loadFinals(t, 0, 'dev-1')).sort()).toEqual(['["a",0]', '["b",0]']);
      expect(await store.loadFinals(t, 0, '__proto__')).toEqual(['["p",0]']);
      // a later revision of the same window replaces its row
      await store.commit(t, 0, epoch, { nextOffset: 6, partitionState: '{}', dirty: new Map(), finals: [f('dev-1', 'tumbling-1m|0', '["a",1]')] });
      const restarted = await another();
      expect((await restarted.loadFinals(t, 0, 'dev-1')).sort()).toEqual(['["a",1]', '["b",0]']);
      // a zombie's finals never land
      const newer = await store.acquire(t, 0);
      await expect(store.commit(t, 0, epoch, { nextOffset: 7, partitionState: '{}', dirty: new Map(), finals: [f('dev-9', 'x|0', '["z",0]')] })).rejects.toSatisfy(isFenced);
      expect(await store.loadFinals(t, 0, 'dev-9')).toEqual([]);
      // an actor deleted (everything it held expired) takes its finals with it
      await store.commit(t, 0, newer, { nextOffset: 8, partitionState: '{}', dirty: new Map(), deleted: ['dev-1'] });
      expect(await store.loadFinals(t, 0, 'dev-1')).toEqual([]);
      expect(await (await another()).loadFinals(t, 0, 'dev-1')).toEqual([]);
    });

    it('ids with control characters (rollup windows beside key actors) round-trip, across a restart, and are deleted like any actor', async () => {
      const t = topic();
      const epoch = await store.acquire(t, 1);
      const rollup = '\u001frollup\u001fiot.sensor\u001ftumbling-1m\u001f1772438400000';
      const other = '\u001frollup\u001fiot.sensor\u001fsliding-5m-1m\u001f1772438340000';
      const data = JSON.stringify({ v: 1, k: [['dev-\u00e9', 2, 2, 3.5, 1, 2.5]], u: ['u1', 'ü2'] });
      await store.commit(t, 1, epoch, { nextOffset: 10, partitionState: '{}', dirty: new Map([['dev-1', 'A'], [rollup, data], [other, '{}']]) });
      await store.commit(t, 1, epoch, { nextOffset: 11, partitionState: '{}', dirty: new Map(), deleted: [other] });
      const restarted = await another();
      expect(await restarted.loadActors(t, 1)).toEqual(new Map([['dev-1', 'A'], [rollup, data]]));
      expect(await restarted.loadActor(t, 1, rollup)).toBe(data);
    });

    it('a restarted store (new instance on the same backing) sees the committed data', async () => {
      const t = topic();
      const epoch = await store.acquire(t, 3);
      await store.commit(t, 3, epoch, { nextOffset: 100, partitionState: 'ps', dirty: new Map([['x', 'X'], ['y', 'Y']]) });
      await store.commit(t, 3, epoch, { nextOffset: 150, partitionState: 'ps2', dirty: new Map([['y', 'Y2']]), deleted: ['x'] });
      const restarted = await another();
      expect(await restarted.load(t, 3)).toEqual({ nextOffset: 150, partitionState: 'ps2', epoch });
      expect(await restarted.loadActors(t, 3)).toEqual(new Map([['y', 'Y2']]));
      // Its epochs continue above the old ones.
      expect(await restarted.acquire(t, 3)).toBeGreaterThan(epoch);
    });

    it('Property 6: after any sequence of commits, restarts and zombie commits, the checkpoint is the last accepted commit', async () => {
      // Feature: keyflow, Property 6: Exactly-once offset semantics — states and offset are restored together,
      // exactly as last committed by the current owner, so replay from nextOffset counts every event once.
      const op = fc.oneof(
        fc.record({
          kind: fc.constant('commit' as const),
          dirty: fc.array(fc.tuple(fc.constantFrom('a', 'b', 'c', 'd', 'e'), fc.string({ maxLength: 12 })), { maxLength: 4 }),
          deleted: fc.array(fc.constantFrom('a', 'b', 'c', 'd', 'e'), { maxLength: 2 }),
        }),
        fc.constant({ kind: 'restart' as const }),
        fc.constant({ kind: 'takeover' as const }),
      );
      type Op = typeof op extends fc.Arbitrary<infer T> ? T : never;
      await fc.assert(
        fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 8 }), async (ops) => {
          // Instances of this run are closed at its end (a Redis instance is a connection).
          const opened: CheckpointStore[] = [];
          const fresh = async () => {
            const s = fx.open();
            await s.start();
            opened.push(s);
            return s;
          };
          try {
            await run(ops, fresh);
          } finally {
            for (const s of opened) await s.close().catch(() => undefined);
          }
        }),
        { numRuns: 100 },
      );

      async function run(ops: Op[], another: () => Promise<CheckpointStore>): Promise<void> {
        const t = topic();
        let owner = store;
        let epoch = await owner.acquire(t, 0);
        let offset = 0;
        const model = new Map<string, string>();
        let last: { nextOffset: number; partitionState: string; epoch: number } | null = null;
        for (const o of ops) {
          if (o.kind === 'commit') {
            offset += 1 + o.dirty.length;
            const dirty = new Map(o.dirty.filter(([k]) => !o.deleted.includes(k)));
            await owner.commit(t, 0, epoch, { nextOffset: offset, partitionState: `s${offset}`, dirty, deleted: o.deleted });
            for (const [k, v] of dirty) model.set(k, v);
            for (const k of o.deleted) model.delete(k);
            last = { nextOffset: offset, partitionState: `s${offset}`, epoch };
          } else if (o.kind === 'restart') {
            owner = await another();
          } else {
            // A new owner takes over; the old one's next commit is fenced and changes nothing.
            const next = await another();
            const newEpoch = await next.acquire(t, 0);
            const fenced = await owner
              .commit(t, 0, epoch, { nextOffset: offset + 1000, partitionState: 'zombie', dirty: new Map([['a', 'zombie']]) })
              .then(
                () => false,
                (e: unknown) => isFenced(e),
              );
            expect(fenced).toBe(true);
            owner = next;
            epoch = newEpoch;
          }
        }
        const reader = await another();
        expect(await reader.load(t, 0)).toEqual(last);
        expect(await reader.loadActors(t, 0)).toEqual(model);
      }
    });

    it('commits many actors and reads them back exactly', async () => {
      const t = topic();
      const epoch = await store.acquire(t, 0);
      const states = new Map<string, string>();
      for (let i = 0; i < 2000; i++) states.set(`key-${i}`, JSON.stringify({ i, w: [i, i * 2] }));
      await store.commit(t, 0, epoch, { nextOffset: 2000, partitionState: '{}', dirty: states });
      for (let round = 0; round < 5; round++) {
        const dirty = new Map<string, string>();
        for (let i = round; i < 2000; i += 97) dirty.set(`key-${i}`, `r${round}-${i}`);
        await store.commit(t, 0, epoch, { nextOffset: 2000 + round, partitionState: `${round}`, dirty });
        for (const [k, v] of dirty) states.set(k, v);
      }
      const restarted = await another();
      expect(await restarted.loadActors(t, 0)).toEqual(states);
      expect((await restarted.load(t, 0))?.nextOffset).toBe(2004);
    });
  });
}
