/**
 * Hot state holds only what can still change: a final leaves the actor and is written once to the
 * results store with the checkpoint that made it final; queries merge open windows, uncommitted
 * finals and stored finals for the whole retention.
 */
import { type KeyActorState, windowCount } from '../../src/actors/key-actor/window-state.ts';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFinal, encodeFinal } from '../../src/actors/key-actor/snapshot-codec.ts';
import { createEventTypeRegistry, partitionForKey } from '../../src/model/index.ts';
import type { EventInput } from '../../src/model/index.ts';
import { createPartitionDriver } from '../helpers/partition-driver.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const T0 = Date.UTC(2026, 0, 1);
const TOPIC = 'events.iot.sensors';

function sensor(i: number, t: number): EventInput {
  return { eventId: `e-${i}`, timestamp: new Date(t).toISOString(), eventType: 'iot.sensor', deviceId: 'dev-1', userId: `u-${i % 3}`, payload: { value: i % 10 } };
}

describe('results store', () => {
  it('one key fed 48 h of event time with 24 h retention: hot state stays bounded, windows() returns the last 24 h of finals', async () => {
    const d = createPartitionDriver({ registry: createEventTypeRegistry(), resultRetentionMs: 24 * HOUR, maxOutOfOrderMs: 10_000, idleTimeoutMs: 1e15 });
    const partition = partitionForKey('dev-1', 12);
    const snapshotSizes: number[] = [];
    let i = 0;
    for (let hour = 0; hour < 48; hour++) {
      const batch: EventInput[] = [];
      for (let m = 0; m < 60; m++, i++) batch.push(sensor(i, T0 + hour * HOUR + m * MIN + 5_000));
      await d.feed(batch);
      d.checkpoint();
      snapshotSizes.push(d.store.get(`${TOPIC}/${partition}`)!.actors.get('dev-1')!.length);
      const st = (d.host(TOPIC, partition) as unknown as { table: { ctxFor(t: string): { actors: Map<string, { state: KeyActorState }> } } }).table
        .ctxFor('iot.sensor')!
        .actors.get('dev-1')!.state;
      // open windows only: tumbling 1m/5m/15m, sliding 5m/1m, one session; +1 tumbling-1m and +1
      // sliding window that ended within the watermark lag (10 s) and are not final yet
      expect(windowCount(st)).toBeLessThanOrEqual(11);
    }
    // the snapshot does not grow with event time or retention
    expect(Math.max(...snapshotSizes)).toBeLessThan(2048);
    expect(snapshotSizes.at(-1)!).toBeLessThanOrEqual(snapshotSizes[2]! + 64);

    const h = d.host(TOPIC, partition);
    const wm = h.watermark!;
    const got = await h.windows({ eventType: 'iot.sensor', key: 'dev-1', window: 'tumbling-1m' });
    // expected: every minute window of the fed range still inside the retention (end >= wm - 24 h)
    const expected: number[] = [];
    for (let start = T0; start < T0 + 48 * HOUR; start += MIN) if (start + MIN >= wm - 24 * HOUR) expected.push(start);
    expect(got.map((r) => r.windowStart)).toEqual(expected);
    // final exactly when the watermark passed the end
    expect(got.filter((r) => !r.final).map((r) => r.windowStart)).toEqual(expected.filter((start) => start + MIN > wm));
    expect(got.every((r) => r.count === 1)).toBe(true);
    // the same answer after a crash: finals come from the store, open windows from the snapshot
    d.crash();
    expect(await d.host(TOPIC, partition).windows({ eventType: 'iot.sensor', key: 'dev-1', window: 'tumbling-1m' })).toEqual(got);
  });

  it('an uncommitted final answers queries before its checkpoint, and is written to the store once', async () => {
    const d = createPartitionDriver({ registry: createEventTypeRegistry(), maxOutOfOrderMs: 0, idleTimeoutMs: 1e15 });
    const partition = partitionForKey('dev-1', 12);
    await d.feed([sensor(1, T0 + 1000), sensor(2, T0 + MIN + 1000)]);
    const h = d.host(TOPIC, partition);
    const before = await h.windows({ eventType: 'iot.sensor', key: 'dev-1', window: 'tumbling-1m' });
    expect(before.map((r) => [r.windowStart - T0, r.final])).toEqual([
      [0, true],
      [MIN, false],
    ]);
    expect(d.store.get(`${TOPIC}/${partition}`)).toBeUndefined();
    d.checkpoint();
    d.checkpoint();
    const stored = d.store.get(`${TOPIC}/${partition}`)!;
    expect([...stored.finals.get('dev-1')!.keys()].sort()).toEqual([`sliding-5m-1m|${T0 - 4 * MIN}`, `tumbling-1m|${T0}`]);
    expect([...stored.finalWrites.values()].every((n) => n === 1)).toBe(true);
    expect(await h.windows({ eventType: 'iot.sensor', key: 'dev-1', window: 'tumbling-1m' })).toEqual(before);
  });
});

describe('stored final codec', () => {
  it('writes the JSON text of the row and reads back the same result (fast-check)', () => {
    // -0 is written as 0 (as JSON.stringify does): left out, it would fail the round trip on Object.is only
    const finite = fc.double({ noNaN: true, noDefaultInfinity: true }).map((x) => (x === 0 ? 0 : x));
    fc.assert(
      fc.property(
        fc.constantFrom('tumbling-1m', 'sliding-5m-1m', 'session-30m'),
        fc.integer({ min: -1e12, max: 4e12 }),
        fc.nat(1e6),
        fc.nat(1e6),
        fc.option(finite, { nil: null }),
        fc.tuple(finite, finite),
        fc.nat(1e6),
        fc.nat(100),
        (window, start, count, valueCount, sum, [a, b], distinctUsers, revision) => {
          const has = valueCount > 0 && sum !== null;
          const r = {
            eventType: 'iot.sensor',
            key: 'dev-1',
            window,
            windowStart: start,
            windowEnd: start + 60_000,
            count,
            valueCount: has ? valueCount : 0,
            sum: has ? sum : null,
            avg: has ? sum / valueCount : null,
            min: has ? Math.min(a, b) : null,
            max: has ? Math.max(a, b) : null,
            distinctUsers,
            final: true,
            revision,
          };
          const f = encodeFinal(r);
          expect(f.data).toBe(JSON.stringify([r.window, r.windowStart, r.windowEnd, r.count, r.valueCount, r.sum, r.min, r.max, r.distinctUsers, r.revision]));
          expect(decodeFinal('iot.sensor', 'dev-1', f.data)).toEqual(r);
        },
      ),
      { numRuns: 300 },
    );
  });
});
