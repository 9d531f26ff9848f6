/** busIterator: bus messages to a subscription's async iterator — order, filtering, cleanup, overflow. */
import { describe, expect, it } from 'vitest';
import { createInProcessBus, createInProcessHub } from '../../src/bus/in-process/in-process-bus.ts';
import { busIterator } from '../../src/graphql/bus-iterator.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';

function setup() {
  const hub = createInProcessHub();
  const bus = createInProcessBus({ hub });
  return { bus, count: (s: string) => hub.exact.get(s)?.length ?? 0 };
}

const parseNumber = (m: unknown) => (typeof m === 'number' ? m : null);

describe('busIterator', () => {
  it('delivers matching messages in publish order, buffered or awaited, and drops what does not parse', async () => {
    const { bus } = setup();
    const it = busIterator({ bus, subject: 's', parse: parseNumber, filter: (n) => n % 2 === 0 });
    const pending = it.next();
    bus.publish('s', 2);
    expect(await pending).toEqual({ value: 2, done: false });
    for (const m of [3, 'x', 4, 6, null, 8]) bus.publish('s', m);
    expect([(await it.next()).value, (await it.next()).value, (await it.next()).value]).toEqual([4, 6, 8]);
    await it.return!();
  });

  it('subscribes at once, before the first next(), and unsubscribes on return()', async () => {
    const { bus, count } = setup();
    const it = busIterator({ bus, subject: 's', parse: parseNumber });
    expect(count('s')).toBe(1);
    bus.publish('s', 1);
    expect(await it.next()).toEqual({ value: 1, done: false });
    const waiting = it.next();
    await it.return!();
    expect(await waiting).toEqual({ value: undefined, done: true });
    expect(count('s')).toBe(0);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });

  it('a consumer that falls behind gets what was buffered, then one RATE_LIMITED error item, then the end', async () => {
    const { bus, count } = setup();
    const it = busIterator({ bus, subject: 's', parse: parseNumber, maxBuffered: 3 });
    for (let i = 0; i < 10; i++) bus.publish('s', i);
    expect(count('s')).toBe(0);
    const items: unknown[] = [];
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      items.push(r.value);
    }
    expect(items.slice(0, 3)).toEqual([0, 1, 2]);
    expect(items).toHaveLength(4);
    expect(items[3]).toBeInstanceOf(KeyflowError);
    expect((items[3] as KeyflowError).code).toBe(ErrorCode.RATE_LIMITED);
  });

  it('parseBatch: each message\'s items come out one by one, in order, filtered; a null message is dropped', async () => {
    const { bus } = setup();
    const parseBatch = (m: unknown) => (Array.isArray(m) ? m.filter((x): x is number => typeof x === 'number') : null);
    const it = busIterator({ bus, subject: 's', parseBatch, filter: (n) => n !== 0 });
    const pending = it.next();
    bus.publish('s', [1, 'x', 2, 0]);
    bus.publish('s', 'not a batch');
    bus.publish('s', []);
    bus.publish('s', [3, 4]);
    expect(await pending).toEqual({ value: 1, done: false });
    const rest = [(await it.next()).value, (await it.next()).value, (await it.next()).value];
    expect(rest).toEqual([2, 3, 4]);
    await it.return!();
  });

  it('parseBatch: the buffer limit counts items, not messages', async () => {
    const { bus, count } = setup();
    const it = busIterator({ bus, subject: 's', parseBatch: (m) => m as number[], maxBuffered: 3 });
    bus.publish('s', [0, 1]);
    expect(count('s')).toBe(1);
    bus.publish('s', [2, 3, 4]);
    expect(count('s')).toBe(0);
    const items: unknown[] = [];
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      items.push(r.value);
    }
    expect(items.slice(0, 3)).toEqual([0, 1, 2]);
    expect(items).toHaveLength(4);
    expect((items[3] as KeyflowError).code).toBe(ErrorCode.RATE_LIMITED);
  });
});
