/**
 * Group commit of concurrent appends (src/ingest/group-commit.ts): appends that arrive while one
 * to the same topic is in flight share the next log append; each caller gets the results of its
 * own records; a failing shared append is split so only the caller whose append fails on its own
 * sees the failure. Checked against a reference (every good record in the log exactly once, at
 * the offset its caller was told; nothing of a failed caller) with fast-check.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createGroupCommit } from '../../src/ingest/group-commit.ts';
import type { AppendResult, EventLog, ProduceRecord } from '../../src/log/port.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import { createMemoryLog } from '../helpers/memory-log.ts';

const TOPIC = 'events.iot.sensors';

/** A memory log whose appends take a few turns of the event loop and refuse (all or nothing) any call holding a record keyed `bad…`. */
async function slowLog(delays: () => number) {
  const mem = createMemoryLog();
  await mem.ensureTopics([{ name: TOPIC, partitions: 4 }]);
  const calls: number[] = [];
  const log: Pick<EventLog, 'append'> = {
    async append(topic, records) {
      calls.push(records.length);
      for (let i = delays(); i > 0; i--) await new Promise((r) => setImmediate(r));
      if (records.some((r) => r.key?.startsWith('bad'))) throw new KeyflowError(ErrorCode.PAYLOAD_TOO_LARGE, 'refused');
      return mem.append(topic, records);
    },
  };
  return { mem, log, calls };
}

function rec(key: string, value: string, partition: number): ProduceRecord {
  return { key, value, partition, headers: { caller: key } };
}

const text = new TextDecoder();

describe('group commit', () => {
  it('appends arriving while one is in flight go together in the next append, each caller gets its own results', async () => {
    const { mem, log, calls } = await slowLog(() => 2);
    const gc = createGroupCommit(log);
    const callers = Array.from({ length: 10 }, (_, i) => gc.append(TOPIC, [rec(`k${i}`, `v${i}a`, i % 4), rec(`k${i}`, `v${i}b`, i % 4)]));
    const results = await Promise.all(callers);
    // the first went alone (the topic was idle), the other nine together
    expect(calls).toEqual([2, 18]);
    const stored = mem.records(TOPIC);
    results.forEach((rs, i) => {
      expect(rs).toHaveLength(2);
      for (const [j, r] of rs.entries()) {
        const found = stored.find((s) => s.partition === r.partition && s.offset === r.offset);
        expect(text.decode(found!.value)).toBe(`v${i}${j === 0 ? 'a' : 'b'}`);
      }
    });
  });

  it('a caller whose records fail does not fail the others of its group', async () => {
    const { mem, log } = await slowLog(() => 1);
    const gc = createGroupCommit(log);
    const first = gc.append(TOPIC, [rec('a', 'first', 0)]);
    const good = gc.append(TOPIC, [rec('b', 'good', 1)]);
    const bad = gc.append(TOPIC, [rec('bad', 'bad', 1)]);
    const good2 = gc.append(TOPIC, [rec('c', 'good2', 2)]);
    await expect(first).resolves.toHaveLength(1);
    await expect(good).resolves.toHaveLength(1);
    await expect(bad).rejects.toMatchObject({ code: ErrorCode.PAYLOAD_TOO_LARGE });
    await expect(good2).resolves.toHaveLength(1);
    expect(mem.records(TOPIC).map((r) => text.decode(r.value)).sort()).toEqual(['first', 'good', 'good2']);
  });

  it('property: every good record is in the log exactly once where its caller was told; nothing of a failed caller', async () => {
    const caller = fc.record({
      n: fc.integer({ min: 1, max: 4 }),
      bad: fc.boolean(),
      // event-loop turns to wait before calling
      gap: fc.integer({ min: 0, max: 3 }),
    });
    await fc.assert(
      fc.asyncProperty(fc.array(caller, { minLength: 1, maxLength: 30 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 50 }), async (plan, maxDelay, maxRecords) => {
        let seed = plan.length;
        const { mem, log } = await slowLog(() => (seed = (seed * 7 + 3) % 11) % maxDelay);
        const gc = createGroupCommit(log, { maxRecords });
        const pending: { key: string; values: string[]; bad: boolean; outcome: Promise<AppendResult[] | Error> }[] = [];
        for (const [i, c] of plan.entries()) {
          for (let g = 0; g < c.gap; g++) await new Promise((r) => setImmediate(r));
          const key = `${c.bad ? 'bad' : 'ok'}-${i}`;
          const values = Array.from({ length: c.n }, (_, j) => `${key}/${j}`);
          const outcome = gc.append(TOPIC, values.map((v, j) => rec(key, v, (i + j) % 4))).catch((e: Error) => e);
          pending.push({ key, values, bad: c.bad, outcome });
        }
        const seen = new Map<string, number>();
        for (const p of pending) {
          const out = await p.outcome;
          if (p.bad) {
            expect(out).toBeInstanceOf(Error);
            continue;
          }
          expect(Array.isArray(out)).toBe(true);
          const rs = out as AppendResult[];
          expect(rs).toHaveLength(p.values.length);
          for (const [j, r] of rs.entries()) {
            const found = mem.records(TOPIC).find((s) => s.partition === r.partition && s.offset === r.offset);
            expect(found && text.decode(found.value)).toBe(p.values[j]);
            expect(found?.headers.caller).toBe(p.key);
          }
        }
        for (const s of mem.records(TOPIC)) {
          const v = text.decode(s.value);
          seen.set(v, (seen.get(v) ?? 0) + 1);
        }
        const expected = pending.filter((p) => !p.bad).flatMap((p) => p.values);
        expect([...seen.keys()].sort()).toEqual([...expected].sort());
        expect([...seen.values()].every((n) => n === 1)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });
});
