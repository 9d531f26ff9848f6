/** The memory dedupe adapter: claim / complete / release semantics, TTLs and LRU bound. */
import { describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { createMemoryDedupe } from '../../src/ingest/dedupe/memory.ts';

const receipt = { topic: 't', partition: 1, offset: 7, timestamp: 1000 };

describe('memory dedupe', () => {
  it('one claim wins; others see pending until it completes, then the receipt', async () => {
    const d = createMemoryDedupe({ maxEntries: 1000, ttlMs: 60_000 });
    expect(await d.claim('e')).toEqual({ status: 'claimed' });
    expect(await d.claim('e')).toEqual({ status: 'pending' });
    await d.complete('e', receipt);
    expect(await d.claim('e')).toEqual({ status: 'done', receipt });
  });

  it('release gives a pending claim back but never removes a completed receipt', async () => {
    const d = createMemoryDedupe({ maxEntries: 1000, ttlMs: 60_000 });
    await d.claim('e');
    await d.release('e');
    expect(await d.claim('e')).toEqual({ status: 'claimed' });
    await d.complete('e', receipt);
    await d.release('e');
    expect(await d.claim('e')).toEqual({ status: 'done', receipt });
  });

  it('a receipt is forgotten after the horizon and a pending claim after its own ttl', async () => {
    const clock = createSimulatedClock(0);
    const d = createMemoryDedupe({ clock, maxEntries: 1000, ttlMs: 1000, pendingTtlMs: 100 });
    await d.claim('done');
    await d.complete('done', receipt);
    await d.claim('stuck');
    clock.advance(101);
    expect(await d.claim('stuck')).toEqual({ status: 'claimed' });
    expect((await d.claim('done')).status).toBe('done');
    clock.advance(900);
    expect(await d.claim('done')).toEqual({ status: 'claimed' });
  });

  it('keeps at most maxEntries, dropping the least recently used', async () => {
    const d = createMemoryDedupe({ maxEntries: 2, ttlMs: 60_000 });
    for (const id of ['a', 'b']) {
      await d.claim(id);
      await d.complete(id, receipt);
    }
    expect((await d.claim('a')).status).toBe('done'); // touches a: b is now the oldest
    await d.claim('c');
    expect((await d.claim('a')).status).toBe('done');
    expect(await d.claim('b')).toEqual({ status: 'claimed' });
  });
});
