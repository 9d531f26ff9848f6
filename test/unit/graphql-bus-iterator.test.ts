/** busIterator: batches pushed by a feed to a subscription's async iterator — order, filtering, cleanup, overflow. */
import { describe, expect, it } from 'vitest';
import { busIterator } from '../../src/graphql/bus-iterator.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';

/** A hand-driven feed: `push` delivers a batch to every subscriber, `count` is how many are subscribed. */
function source<T>() {
  const subscribers = new Set<(items: readonly T[]) => void>();
  return {
    subscribe: (push: (items: readonly T[]) => void) => {
      subscribers.add(push);
      return () => subscribers.delete(push);
    },
    push: (...items: T[]) => {
      for (const s of [...subscribers]) s(items);
    },
    count: () => subscribers.size,
  };
}

async function drain(it: AsyncIterableIterator<unknown>): Promise<unknown[]> {
  const items: unknown[] = [];
  for (;;) {
    const r = await it.next();
    if (r.done) return items;
    items.push(r.value);
  }
}

describe('busIterator', () => {
  it('delivers matching items in order, buffered or awaited', async () => {
    const src = source<number>();
    const it = busIterator({ subscribe: src.subscribe, filter: (n) => n % 2 === 0 });
    const pending = it.next();
    src.push(2);
    expect(await pending).toEqual({ value: 2, done: false });
    src.push(3, 4, 6);
    src.push(7, 8);
    expect([(await it.next()).value, (await it.next()).value, (await it.next()).value]).toEqual([4, 6, 8]);
    await it.return!();
  });

  it('subscribes at once, before the first next(), and unsubscribes on return()', async () => {
    const src = source<number>();
    const it = busIterator({ subscribe: src.subscribe });
    expect(src.count()).toBe(1);
    src.push(1);
    expect(await it.next()).toEqual({ value: 1, done: false });
    const waiting = it.next();
    await it.return!();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(src.count()).toBe(0);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('a consumer that falls behind gets what was buffered, then one RATE_LIMITED error item, then the end', async () => {
    const src = source<number>();
    const it = busIterator({ subscribe: src.subscribe, maxBuffered: 3 });
    for (let i = 0; i < 10; i++) src.push(i);
    expect(src.count()).toBe(0);
    const items = await drain(it);
    expect(items.slice(0, 3)).toEqual([0, 1, 2]);
    expect(items).toHaveLength(4);
    expect(items[3]).toBeInstanceOf(KeyflowError);
    expect((items[3] as KeyflowError).code).toBe(ErrorCode.RATE_LIMITED);
  });

  it('the buffer limit counts items, not batches, and a filtered-out item does not count', async () => {
    const src = source<number>();
    const it = busIterator({ subscribe: src.subscribe, maxBuffered: 3, filter: (n) => n >= 0 });
    src.push(0, -1, -2, 1);
    expect(src.count()).toBe(1);
    src.push(2, 3, 4);
    expect(src.count()).toBe(0);
    const items = await drain(it);
    expect(items.slice(0, 3)).toEqual([0, 1, 2]);
    expect((items[3] as KeyflowError).code).toBe(ErrorCode.RATE_LIMITED);
  });

  it('a consumer that keeps up is never ended, however many items pass', async () => {
    const src = source<number>();
    const it = busIterator({ subscribe: src.subscribe, maxBuffered: 2 });
    for (let i = 0; i < 1000; i++) {
      src.push(i);
      expect((await it.next()).value).toBe(i);
    }
    expect(src.count()).toBe(1);
    await it.return!();
  });
});
