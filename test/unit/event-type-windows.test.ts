/**
 * An event type with its own windows (an event type definition's `windows`) beside the processor's
 * default ones: its results carry its own window names, in emission, in the results store and in
 * queries.
 */
import { describe, expect, it } from 'vitest';
import { createEventTypeRegistry } from '../../src/model/index.ts';
import { createPartitionDriver } from '../helpers/partition-driver.ts';

const T0 = Date.parse('2026-01-15T10:00:00.000Z');

describe('event types with their own windows', () => {
  it('results are named after the type’s windows, not the defaults at the same index', async () => {
    const registry = createEventTypeRegistry([
      { eventType: 'orders.placed', topic: 't.orders', partitions: 1, valueField: 'amount', windows: ['tumbling-10m', 'sliding-30m-10m'] },
    ]);
    const d = createPartitionDriver({ registry, startTime: T0 });
    await d.feed([
      { eventId: 'a', eventType: 'orders.placed', timestamp: new Date(T0 + 1000).toISOString(), deviceId: 'shop-1', payload: { amount: 5 } },
      { eventId: 'b', eventType: 'orders.placed', timestamp: new Date(T0 + 61_000).toISOString(), deviceId: 'shop-1', payload: { amount: 7 } },
    ]);
    d.advance(3 * 3_600_000);
    const finals = d.emitted.filter((r) => r.final);
    expect(new Set(finals.map((r) => r.window))).toEqual(new Set(['tumbling-10m', 'sliding-30m-10m']));
    const tumbling = finals.find((r) => r.window === 'tumbling-10m')!;
    expect([tumbling.windowStart, tumbling.windowEnd, tumbling.count, tumbling.sum]).toEqual([T0, T0 + 600_000, 2, 12]);
    // the store and queries answer under the same names
    d.checkpoint();
    const h = d.host('t.orders', 0);
    expect((await h.windows({ eventType: 'orders.placed', key: 'shop-1', window: 'tumbling-10m' })).map((r) => [r.windowStart, r.count, r.final])).toEqual([[T0, 2, true]]);
    expect(await h.windows({ eventType: 'orders.placed', key: 'shop-1', window: 'tumbling-1m' })).toEqual([]);
    expect((await h.windows({ eventType: 'orders.placed', key: 'shop-1' })).every((r) => r.window === 'tumbling-10m' || r.window === 'sliding-30m-10m')).toBe(true);
  });
});
