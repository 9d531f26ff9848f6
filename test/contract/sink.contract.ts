/**
 * The sink contract: every Sink adapter holds exactly one row per window, the newest revision,
 * however often finals are redelivered. `readBack` reads what the sink holds (per adapter: the
 * lake files, a PostgreSQL table, …).
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Sink } from '../../src/sinks/port.ts';
import type { WindowResult } from '../../src/model/window-result.ts';
import { uniqueName } from '../helpers/wait.ts';

export interface SinkFixture {
  sink: Sink;
  /** Rows the sink holds for one event type, sorted by key, window, windowStart. */
  readBack(eventType: string): Promise<WindowResult[]>;
  cleanup(): Promise<void>;
}

const MINUTE = 60_000;

export function finalResult(eventType: string, key: string, windowStart: number, over: Partial<WindowResult> = {}): WindowResult {
  return {
    eventType,
    key,
    window: 'tumbling-1m',
    windowStart,
    windowEnd: windowStart + MINUTE,
    count: 3,
    valueCount: 3,
    sum: 6,
    avg: 2,
    min: 1,
    max: 3,
    distinctUsers: 1,
    final: true,
    revision: 0,
    ...over,
  };
}

function sortRows(rows: WindowResult[]): WindowResult[] {
  return [...rows].sort(
    (a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) || (a.window < b.window ? -1 : a.window > b.window ? 1 : 0) || a.windowStart - b.windowStart,
  );
}

export function describeSinkContract(name: string, makeSink: () => Promise<SinkFixture>): void {
  describe(`Sink contract: ${name}`, () => {
    let fx: SinkFixture;
    beforeAll(async () => {
      fx = await makeSink();
      await fx.sink.start();
    });
    afterAll(async () => {
      await fx?.sink.close();
      await fx?.cleanup();
    });

    it('holds one row per window: the same finals twice plus a newer revision', async () => {
      const t = uniqueName('type').replace(/-/g, '_');
      const start = Date.UTC(2024, 0, 15, 10, 30);
      const finals = [
        finalResult(t, 'dev-1', start),
        finalResult(t, 'dev-1', start + MINUTE, { count: 1, valueCount: 1, sum: 5, avg: 5, min: 5, max: 5 }),
        finalResult(t, 'dev-2', start, { valueCount: 0, sum: null, avg: null, min: null, max: null }),
        finalResult(t, 'dev-1', start, { window: 'tumbling-5m', windowEnd: start + 5 * MINUTE }),
      ];
      await fx.sink.write(finals);
      await fx.sink.write(finals);
      const revised = finalResult(t, 'dev-1', start, { count: 4, sum: 10, avg: 2.5, max: 4, revision: 1 });
      await fx.sink.write([revised]);
      // A stale redelivery of revision 0 after the revision must not win.
      await fx.sink.write([finals[0]!]);
      const rows = await fx.readBack(t);
      expect(rows).toEqual(sortRows([revised, finals[1]!, finals[2]!, finals[3]!]));
    });

    it('Property 15: every written final can be read back, once per window', async () => {
      // Feature: keyflow, Property 15: Sink data persistence (one row per window, newest revision)
      const t = uniqueName('prop').replace(/-/g, '_');
      const base = Date.UTC(2024, 2, 1);
      const expected = new Map<string, WindowResult>();
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({ key: fc.constantFrom('a', 'b', 'c'), slot: fc.integer({ min: 0, max: 3 }), revision: fc.integer({ min: 0, max: 3 }), count: fc.nat(1000) }),
            { minLength: 1, maxLength: 8 },
          ),
          async (writes) => {
            const batch = writes.map((w) => finalResult(t, w.key, base + w.slot * MINUTE, { revision: w.revision, count: w.count }));
            await fx.sink.write(batch);
            for (const r of batch) {
              const id = `${r.key}/${r.windowStart}`;
              const prev = expected.get(id);
              if (!prev || r.revision >= prev.revision) expected.set(id, r);
            }
            const rows = await fx.readBack(t);
            expect(rows.length).toBe(expected.size);
            for (const row of rows) {
              expect(row.revision).toBe(expected.get(`${row.key}/${row.windowStart}`)!.revision);
            }
          },
        ),
        { numRuns: 100 },
      );
    });
  });
}
