/**
 * The processor role on the processor driver (in-memory log and checkpoint store, simulated
 * clock, hand-driven consumer group): checkpoints, restore, fencing, the gap guard and a
 * rebalance. No sleeps: time moves only when the test advances the clock.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isRollupId } from '../../src/actors/index.ts';
import { partitionForKey, type WindowResult } from '../../src/model/index.ts';
import { type DriverMember, type ProcessorDriver, type SensorEvent, createProcessorDriver } from '../helpers/processor-driver.ts';

const PARTITIONS = 4;
const T0 = Date.parse('2026-01-15T10:00:00.000Z');
/** Eight keys, two per partition (checked below). */
const KEYS = ['dev-a', 'dev-g', 'dev-b', 'dev-c', 'dev-e', 'dev-f', 'dev-m', 'dev-n'];
const partitionOf = (key: string) => partitionForKey(key, PARTITIONS);
const ALL = Array.from({ length: PARTITIONS }, (_, p) => p);

/** `n` events round-robin over the keys, 2 s of event time apart, starting at `from`. */
function events(n: number, from: number): SensorEvent[] {
  return Array.from({ length: n }, (_, i) => ({ key: KEYS[(from + i) % KEYS.length]!, timestamp: T0 + (from + i) * 2000, value: (from + i) % 17 }));
}

const drivers: ProcessorDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

async function driver(maxQueuedBatches = 0): Promise<ProcessorDriver> {
  const d = await createProcessorDriver({ partitions: PARTITIONS, checkpointIntervalMs: 1000, maxQueuedBatches });
  drivers.push(d);
  return d;
}

async function counts(owners: DriverMember[]): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const key of KEYS) {
    for (const m of owners) {
      const s = await m.keyState(partitionOf(key), key);
      if (s !== undefined) out.set(key, s?.eventsProcessed ?? 0);
    }
  }
  return out;
}

function expectedCounts(all: SensorEvent[]): Map<string, number> {
  const out = new Map<string, number>(KEYS.map((k) => [k, 0]));
  for (const e of all) out.set(e.key, out.get(e.key)! + 1);
  return out;
}

describe('processor driver: checkpoint and restore', () => {
  it('the keys cover every partition twice', () => {
    expect(KEYS.map(partitionOf).sort()).toEqual([0, 0, 1, 1, 2, 2, 3, 3]);
  });

  it('commits offset and states together on the interval; a new owner resumes exactly there', async () => {
    const d = await driver();
    const a = await d.member('a');
    await a.assign(ALL);
    const first = events(120, 0);
    await d.publish(first);
    await a.pump();
    expect(d.backing.commits).toEqual([]); // nothing before the interval
    await d.advance(1000);
    const ends = await d.log.endOffsets(d.topic);
    for (const p of ALL) {
      const cp = await a.store.load(d.topic, p);
      expect(cp?.nextOffset).toBe(ends[p]);
      const actors = await a.store.loadActors(d.topic, p);
      // key actors (the partition's rollup windows are committed beside them)
      expect([...actors.keys()].filter((id) => !isRollupId(id)).sort()).toEqual(KEYS.filter((k) => partitionOf(k) === p).sort());
      expect([...actors.keys()].some(isRollupId)).toBe(true);
    }

    // Processed but never committed: lost with the crash, re-read by the next owner.
    const second = events(60, 120);
    await d.publish(second);
    await a.pump();
    await a.crash();

    const b = await d.member('b');
    await b.assign(ALL);
    for (const p of ALL) expect(b.position(p)).toBe(ends[p]);
    // Exactly the records after the checkpoint, with no re-read.
    expect(await b.pump()).toBe(second.length);
    expect(b.seeks).toEqual([]);
    expect(await counts([b])).toEqual(expectedCounts([...first, ...second]));
  });
});

describe('processor driver: fencing', () => {
  it("refuses a stale epoch's commit; the zombie stops processing the partition and the new owner is exact", async () => {
    const d = await driver();
    const a = await d.member('a');
    await a.assign(ALL);
    const first = events(48, 0);
    await d.publish(first);
    await a.pump();
    await d.advance(1000);
    const p = partitionOf('dev-a');
    const committed = await a.store.load(d.topic, p);

    // The group gave p to b while a never heard of it (a paused through the rebalance).
    const b = await d.member('b');
    await b.assign([p]);
    const second = events(48, 48);
    await d.publish(second);
    await a.pump(); // the zombie still reads p…
    await d.advance(1000); // …and its next checkpoint is fenced
    expect(d.backing.fenced).toContainEqual({ topic: d.topic, partition: p, epoch: committed!.epoch });
    expect(a.processor.owned().map((tp) => tp.partition)).not.toContain(p);
    expect(await a.keyState(p, 'dev-a')).toBeUndefined();
    // Nothing of the zombie's work landed; its other partitions committed normally.
    expect(await b.store.load(d.topic, p)).toEqual(committed);
    for (const q of ALL.filter((x) => x !== p)) expect((await a.store.load(d.topic, q))?.nextOffset).toBe((await d.log.endOffsets(d.topic))[q]);

    await b.pump();
    const all = [...first, ...second].filter((e) => partitionOf(e.key) === p);
    const bCounts = await counts([b]);
    for (const [key, n] of expectedCounts(all)) if (partitionOf(key) === p) expect(bCounts.get(key)).toBe(n);
  });
});

describe('processor driver: gaps between the state and a batch', () => {
  async function oneKey() {
    const d = await driver();
    const m = await d.member('m');
    const key = 'dev-a';
    const p = partitionOf(key);
    await m.assign([p]);
    const records = await d.publish(Array.from({ length: 10 }, (_, i) => ({ key, timestamp: T0 + i * 1000, value: i })));
    const processed = async () => (await m.keyState(p, key))?.eventsProcessed ?? 0;
    return { m, p, records, processed };
  }

  it('seeks back to the next offset instead of processing a batch that starts past it', async () => {
    const { m, p, records, processed } = await oneKey();
    await m.deliver(p, records.slice(5));
    expect(m.seeks).toEqual([{ tp: { topic: 'events.iot.sensors', partition: p }, offset: 0 }]);
    expect(await processed()).toBe(0);
    await m.pump(); // from the position the seek set
    expect(await processed()).toBe(10);
  });

  it('skips a gap that persists after a few re-reads (records gone from the log)', async () => {
    const { m, p, records, processed } = await oneKey();
    for (let i = 0; i < 3; i++) await m.deliver(p, records.slice(5));
    expect(m.seeks).toHaveLength(3);
    expect(await processed()).toBe(0);
    await m.deliver(p, records.slice(5));
    expect(m.seeks).toHaveLength(3);
    expect(await processed()).toBe(5);
  });

  it('skips records the state already covers (redelivery after a seek)', async () => {
    const { m, p, records, processed } = await oneKey();
    await m.deliver(p, records.slice(0, 6));
    await m.deliver(p, records);
    expect(await processed()).toBe(10);
    expect(m.seeks).toEqual([]);
  });
});

describe('processor driver: rebalance', () => {
  /** Final results by window identity (a final may reach the sink more than once: at least once). */
  function finalsByWindow(finals: readonly WindowResult[]): Map<string, WindowResult> {
    const out = new Map<string, WindowResult>();
    for (const r of finals) out.set(`${r.eventType}|${r.key}|${r.window}|${r.windowStart}`, r);
    return out;
  }

  /** Publishes in rounds, pumping and checkpointing after each; `between` runs in round `at` before its checkpoint. */
  async function run(queued: number, between?: { at: number; step(d: ProcessorDriver, members: DriverMember[]): Promise<void> }) {
    const d = await driver(queued);
    const members = [await d.member('a')];
    await members[0]!.assign(ALL);
    const rounds = 6;
    for (let r = 0; r < rounds; r++) {
      await d.publish(events(60, r * 60));
      for (const m of members) await m.pump();
      // Mid-interval: the revoked partitions carry processed but uncommitted records.
      if (between?.at === r) await between.step(d, members);
      await d.advance(1000);
    }
    // Idle long enough for the watermarks to close every window, then checkpoint (finals reach the sink).
    await d.advance(31_000);
    await d.advance(1000);
    return { d, members, finals: finalsByWindow(d.finals), counts: await counts(members) };
  }

  // queued > 0: batches are pipelined (onBatch returns before they are processed), as in production
  it.each([0, 4])('revoking partitions from A and assigning them to B mid-stream gives the results of a run without rebalance (batches queued: %i)', async (queued) => {
    const solo = await run(queued);
    const moved = await run(queued, {
      at: 2,
      async step(d, members) {
        const [a] = members;
        await a!.revoke([2, 3]);
        // The revocation committed what a had processed; b starts right there.
        const ends = await d.log.endOffsets(d.topic);
        for (const p of [2, 3]) expect((await a!.store.load(d.topic, p))?.nextOffset).toBe(ends[p]);
        const b = await d.member('b');
        await b.assign([2, 3]);
        for (const p of [2, 3]) expect(b.position(p)).toBe(ends[p]);
        members.push(b);
      },
    });
    expect(moved.members[0]!.processor.owned().map((tp) => tp.partition).sort()).toEqual([0, 1]);
    expect(moved.members[1]!.processor.owned().map((tp) => tp.partition).sort()).toEqual([2, 3]);
    expect(solo.finals.size).toBeGreaterThan(0);
    expect(moved.counts).toEqual(solo.counts);
    expect(moved.counts).toEqual(expectedCounts(events(360, 0)));
    expect(moved.finals).toEqual(solo.finals);
  });
});

describe('processor driver: bounded checkpoint commits (issue 7)', () => {
  const BOUND = 100_000;
  /** 1,500 keys with 10 events each, 40 ms of event time apart: 10 minutes, a batch of 50 moves the watermark by 2 s. */
  const many: SensorEvent[] = Array.from({ length: 15_000 }, (_, i) => ({ key: `dev-${i % 1500}`, timestamp: T0 + i * 40, value: i % 13 }));
  const expected = new Map<string, number>();
  for (const e of many) expected.set(e.key, (expected.get(e.key) ?? 0) + 1);

  async function bounded(maxCheckpointBytes?: number, maxTimersPerRound?: number): Promise<ProcessorDriver> {
    // key actors only: rollups across keys (off by default in distributed mode) rewrite each open
    // rollup window whole at every commit, which the bound does not estimate
    const d = await createProcessorDriver({
      partitions: 1,
      checkpointIntervalMs: 1000,
      host: { rollups: false, ...(maxTimersPerRound !== undefined ? { maxTimersPerRound } : {}) },
      ...(maxCheckpointBytes !== undefined ? { maxCheckpointBytes } : {}),
    });
    drivers.push(d);
    return d;
  }

  async function expectExact(m: DriverMember): Promise<void> {
    for (const key of ['dev-0', 'dev-1', 'dev-777', 'dev-1499']) expect((await m.keyState(0, key))?.eventsProcessed).toBe(expected.get(key));
  }

  /** A driver with the bound, one member owning the partition, every event published, pumped and committed. */
  async function runAll(maxCheckpointBytes?: number, maxTimersPerRound?: number, ticks = 1): Promise<{ d: ProcessorDriver; a: DriverMember }> {
    const d = await bounded(maxCheckpointBytes, maxTimersPerRound);
    const a = await d.member('a');
    await a.assign([0]);
    await d.publish(many);
    await a.pump();
    for (let i = 0; i < ticks; i++) await d.advance(1000);
    return { d, a };
  }

  /**
   * The largest commit when the partition commits after every batch: what one batch can add at
   * most (a watermark crossing a minute finalises a window of every key at once).
   */
  let largest: number | undefined;
  async function largestBatchBytes(): Promise<number> {
    if (largest === undefined) {
      const { d } = await runAll(1);
      expect(d.backing.commits.length).toBeGreaterThanOrEqual(many.length / 50);
      largest = Math.max(...d.backing.commits.map((c) => c.bytes));
    }
    return largest;
  }

  it('a busy partition commits early instead of carrying everything in one commit; results are exact', async () => {
    const maxBatchBytes = await largestBatchBytes();
    // without the bound: one commit with everything, far past what the bound allows
    const free = await runAll();
    expect(free.d.backing.commits.length).toBe(1);
    expect(free.d.backing.commits[0]!.bytes).toBeGreaterThan(2 * (BOUND + maxBatchBytes));

    const { d, a } = await runAll(BOUND);
    expect(d.backing.commits.length).toBeGreaterThan(4);
    // the bound (estimated from earlier commits) plus what the batch that crossed it added
    for (const c of d.backing.commits) expect(c.bytes).toBeLessThan(1.3 * BOUND + maxBatchBytes);
    await expectExact(a);
    // a new owner restored from those commits is exact too
    await a.crash();
    const b = await d.member('b');
    await b.assign([0]);
    await b.pump();
    await expectExact(b);
  });

  it('a watermark crossing a minute finalises the 1,500 keys over several batches, so even that commit stays near the bound', async () => {
    expect(await largestBatchBytes()).toBeGreaterThan(5 * BOUND); // one batch that crossed a minute, unlimited
    const { d, a } = await runAll(BOUND, 100, 20);
    for (const c of d.backing.commits) expect(c.bytes).toBeLessThan(2 * BOUND);
    await expectExact(a);
  });

  it('with the store down, consumption waits at the bound (no tight retry loop), then resumes by itself; every commit bounded, results exact', async () => {
    const d = await bounded(BOUND);
    const a = await d.member('a');
    await a.assign([0]);
    d.backing.down = true;
    await d.publish(many);
    let done = false;
    const pumping = a.pump().then(() => {
      done = true;
    });
    await d.settle();
    const held = a.position(0);
    expect(held).toBeLessThan(many.length);
    for (let i = 0; i < 5; i++) await d.advance(1000);
    // still held where it was: nothing processed past the bound while the store is down
    expect(a.position(0)).toBe(held);
    expect(done).toBe(false);
    expect(d.backing.commits).toEqual([]);
    d.backing.down = false;
    for (let i = 0; i < 50 && !done; i++) await d.advance(1000);
    await pumping;
    await d.advance(1000);
    expect(d.backing.commits.at(-1)!.nextOffset).toBe(many.length);
    for (const c of d.backing.commits) expect(c.bytes).toBeLessThan(1.3 * BOUND + (await largestBatchBytes()));
    await expectExact(a);
  });
});
