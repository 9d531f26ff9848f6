/** The memory dedupe adapter: the dedupe contract on a simulated clock, and its LRU bound. */
import { describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { type Dedupe, createMemoryDedupe } from '../../src/ingest/index.ts';
import { describeDedupeContract } from '../contract/dedupe.contract.ts';

const receipt = { topic: 't', partition: 1, offset: 7, timestamp: 1000 };

describeDedupeContract('memory', async () => {
  const clock = createSimulatedClock(0);
  // One gateway process: every "gateway" with the same settings is the same instance.
  const instances = new Map<string, Dedupe>();
  return {
    open(options = {}) {
      const k = `${options.ttlMs}/${options.pendingTtlMs}`;
      let d = instances.get(k);
      if (!d) {
        d = createMemoryDedupe({ clock, maxEntries: 1_000_000, ttlMs: 86_400_000, ...options });
        instances.set(k, d);
      }
      return d;
    },
    elapse: (ms) => clock.advance(ms),
    cleanup: async () => {},
  };
});

describe('memory dedupe', () => {
  it('keeps at most maxEntries, dropping the least recently used', async () => {
    const d = createMemoryDedupe({ maxEntries: 2, ttlMs: 86_400_000 });
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
