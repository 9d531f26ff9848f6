/** The memory dedupe adapter: the dedupe contract on a simulated clock, and its LRU bound. */
import { describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { createMemoryDedupe, type Dedupe } from '../../src/ingest/index.ts';
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
  it('keeps at most maxEntries receipts, dropping the oldest', async () => {
    const d = createMemoryDedupe({ maxEntries: 2, ttlMs: 86_400_000 });
    for (const id of ['a', 'b']) {
      await d.claim(id);
      await d.complete(id, receipt);
    }
    expect((await d.claim('a')).status).toBe('done');
    await d.claim('c');
    await d.complete('c', receipt);
    // a is the oldest receipt (a claim that finds it does not make it younger: the horizon counts from the publish)
    expect(await d.claim('a')).toEqual({ status: 'claimed' });
    expect((await d.claim('b')).status).toBe('done');
    expect((await d.claim('c')).status).toBe('done');
  });
});
