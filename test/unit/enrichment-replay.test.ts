/**
 * Per-key z-score enrichment across a crash: the running statistics are part of the partition's
 * checkpoint, so a new owner replaying from the checkpoint writes the same processed records as a
 * run without the crash (every copy of a record, duplicates of the replay included, is identical).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PROCESSED_TOPIC, type ProcessedRecord, specFromDefinition } from '../../src/model/index.ts';
import { createProcessorDriver, type ProcessorDriver, type SensorEvent } from '../helpers/processor-driver.ts';

const ALL = [0, 1, 2, 3];
const KEYS = ['dev-a', 'dev-b', 'dev-c'];

async function driver(): Promise<ProcessorDriver> {
  const d = await createProcessorDriver({ partitions: 4, maxBatchRecords: 7 });
  await d.log.ensureTopics([{ name: PROCESSED_TOPIC, partitions: 12 }]);
  // iot.sensor with a z-score rule (and a range anomaly beside it)
  d.registry.register(
    specFromDefinition({
      name: 'iot.sensor',
      topic: d.topic,
      partitions: 12,
      valuePath: 'payload.value',
      enrichment: [
        { rule: 'zscore', name: 'spike', path: 'payload.value', threshold: 2, minCount: 3 },
        { rule: 'anomaly', name: 'outOfRange', path: 'payload.value', min: -50, max: 50 },
      ],
    }),
  );
  return d;
}

async function processed(d: ProcessorDriver): Promise<ProcessedRecord[]> {
  const ends = await d.log.endOffsets(PROCESSED_TOPIC);
  const recs = (await Promise.all(ends.map((n, p) => (n > 0 ? d.log.read(PROCESSED_TOPIC, p, 0, n) : [])))).flat();
  return recs.map((r) => JSON.parse(new TextDecoder().decode(r.value)) as ProcessedRecord);
}

describe('z-score enrichment and crashes', () => {
  it('property: a crash after any checkpoint gives the processed records of a run without it', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.record({ key: fc.constantFrom(...KEYS), value: fc.oneof(fc.integer({ min: -10, max: 10 }), fc.integer({ min: -200, max: 200 })) }), { minLength: 5, maxLength: 60 }),
        fc.nat(),
        fc.nat(),
        async (raw, cpSeed, crashSeed) => {
          const t0 = Date.parse('2026-01-15T10:00:00.000Z');
          const events: SensorEvent[] = raw.map((e, i) => ({ ...e, timestamp: t0 + i * 1000 }));
          const cpAt = cpSeed % (events.length + 1);
          const crashAt = cpAt + (crashSeed % (events.length - cpAt + 1));

          // without a crash (published at the same simulated times: the same append times)
          const clean = await driver();
          const c = await clean.member('c');
          await c.assign(ALL);
          await clean.publish(events.slice(0, cpAt));
          await c.pump();
          await clean.advance(1000);
          await clean.publish(events.slice(cpAt, crashAt));
          await c.pump();
          await clean.publish(events.slice(crashAt));
          await c.pump();
          await clean.advance(1000);
          const expected = new Map((await processed(clean)).map((p) => [p.recordId, JSON.stringify(p)]));
          await clean.close();
          expect(expected.size).toBe(events.length);

          // a checkpoint after cpAt events, processing on to crashAt, a crash, a new owner
          const d = await driver();
          const a = await d.member('a');
          await a.assign(ALL);
          await d.publish(events.slice(0, cpAt));
          await a.pump();
          await d.advance(1000);
          await d.publish(events.slice(cpAt, crashAt));
          await a.pump();
          await a.crash();
          const b = await d.member('b');
          await b.assign(ALL);
          await d.publish(events.slice(crashAt));
          await b.pump();
          await d.advance(1000);
          const got = await processed(d);
          await d.close();
          expect(new Set(got.map((p) => p.recordId))).toEqual(new Set(expected.keys()));
          for (const p of got) expect(JSON.stringify(p)).toBe(expected.get(p.recordId));
        },
      ),
      { numRuns: 100 },
    );
  }, 120_000);

  it('flags a spike of one key after minCount values, per key', async () => {
    const d = await driver();
    const a = await d.member('a');
    await a.assign(ALL);
    const t0 = Date.parse('2026-01-15T10:00:00.000Z');
    const values = [10, 11, 9, 10, 40, 10];
    await d.publish(values.map((value, i) => ({ key: 'dev-a', value, timestamp: t0 + i * 1000 })));
    await a.pump();
    await d.advance(1000);
    const recs = (await processed(d)).sort((x, y) => Date.parse(x.original.timestamp as string) - Date.parse(y.original.timestamp as string));
    expect(recs.map((r) => r.enriched.spike)).toEqual([undefined, undefined, undefined, false, true, false]);
    await d.close();
  });
});
