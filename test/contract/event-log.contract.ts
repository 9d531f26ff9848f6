/**
 * The event-log contract: every EventLog adapter (embedded, Kafka) runs this suite. Topics get
 * unique names from `topicPrefix`; checks that depend on asynchronous delivery use `waitFor`.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type {
  ConsumerHandlers,
  EventLog,
  GroupConsumer,
  LogRecord,
  RecordBatch,
  TopicPartition,
} from '../../src/log/port.ts';
import { tpKey } from '../../src/log/port.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { uniqueName, waitFor } from '../helpers/wait.ts';

export interface EventLogFixture {
  log: EventLog;
  /** Prefix for topic names this run may create (unique per run). */
  topicPrefix: string;
  cleanup(): Promise<void>;
}

const text = new TextDecoder();
/** Generous: a Kafka consumer first has to join its group (a rebalance takes seconds). */
const DELIVERY = { timeoutMs: 45_000 };

/** A recording consumer: collects batches and lets the test decide start offsets. */
function recorder(starts?: (tps: TopicPartition[]) => Map<string, number | undefined> | undefined) {
  const records: LogRecord[] = [];
  const batches: RecordBatch[] = [];
  const assigned: TopicPartition[][] = [];
  const handlers: ConsumerHandlers = {
    async onAssigned(tps) {
      assigned.push(tps);
      return starts?.(tps);
    },
    async onRevoked() {},
    async onBatch(batch) {
      batches.push(batch);
      for (const r of batch.records) records.push(r);
    },
  };
  return { records, batches, assigned, handlers };
}

function byPartition(records: readonly LogRecord[]): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const r of records) {
    let l = m.get(r.partition);
    if (!l) m.set(r.partition, (l = []));
    l.push(r.offset);
  }
  return m;
}

export function describeEventLogContract(name: string, makeLog: () => Promise<EventLogFixture>): void {
  describe(`EventLog contract: ${name}`, () => {
    let fx: EventLogFixture;
    let log: EventLog;
    const consumers: GroupConsumer[] = [];
    const topic = (suffix: string) => `${fx.topicPrefix}.${suffix}-${uniqueName('t')}`;

    beforeAll(async () => {
      fx = await makeLog();
      log = fx.log;
    });

    afterAll(async () => {
      for (const c of consumers) await c.stop().catch(() => undefined);
      await fx?.cleanup();
    });

    function track(c: GroupConsumer): GroupConsumer {
      consumers.push(c);
      return c;
    }

    it('ensureTopics creates topics once and partitions() reports their count', async () => {
      const t = topic('meta');
      expect(await log.partitions(t)).toBeUndefined();
      await log.ensureTopics([{ name: t, partitions: 3 }]);
      expect(await log.partitions(t)).toBe(3);
      // Idempotent; an existing topic keeps its partition count.
      await log.ensureTopics([{ name: t, partitions: 5 }]);
      expect(await log.partitions(t)).toBe(3);
      expect(await log.endOffsets(t)).toEqual([0, 0, 0]);
    });

    it('round-trips key, value bytes and headers', async () => {
      const t = topic('rt');
      await log.ensureTopics([{ name: t, partitions: 2 }]);
      const bytes = new Uint8Array([0, 1, 2, 250, 255, 10, 13]);
      const [a, b, c] = await log.append(t, [
        { key: 'k-1', value: bytes, headers: { traceparent: '00-abc-def-01', 'content-type': 'application/octet-stream' }, partition: 1 },
        { key: null, value: 'plain text ✓', partition: 0 },
        { key: 'ünïcödé', value: '{"a":1}', headers: {}, partition: 1 },
      ]);
      expect(a).toMatchObject({ topic: t, partition: 1 });
      expect(b).toMatchObject({ topic: t, partition: 0 });
      expect(c!.offset).toBe(a!.offset + 1);
      const p1 = await log.read(t, 1, a!.offset, 10);
      expect(p1).toHaveLength(2);
      expect(p1[0]).toMatchObject({ topic: t, partition: 1, offset: a!.offset, key: 'k-1' });
      expect([...p1[0]!.value]).toEqual([...bytes]);
      expect(p1[0]!.headers).toEqual({ traceparent: '00-abc-def-01', 'content-type': 'application/octet-stream' });
      expect(typeof p1[0]!.appendTime).toBe('number');
      expect(p1[1]!.key).toBe('ünïcödé');
      expect(text.decode(p1[1]!.value)).toBe('{"a":1}');
      const p0 = await log.read(t, 0, b!.offset, 10);
      expect(p0).toHaveLength(1);
      expect(p0[0]!.key).toBeNull();
      expect(text.decode(p0[0]!.value)).toBe('plain text ✓');
    });

    it('partitions keyed records with murmur2, like partitionForKey', async () => {
      const t = topic('keys');
      await log.ensureTopics([{ name: t, partitions: 6 }]);
      const keys = Array.from({ length: 60 }, (_, i) => `user-${i}-${i * 7919}`);
      const results = await log.append(
        t,
        keys.map((key) => ({ key, value: key })),
      );
      expect(results.map((r) => r.partition)).toEqual(keys.map((k) => partitionForKey(k, 6)));
    });

    it('Property 4: records with the same key land in the same partition', async () => {
      // Feature: keyflow, Property 4: Partition key consistency
      const t = topic('prop4');
      await log.ensureTopics([{ name: t, partitions: 12 }]);
      await fc.assert(
        fc.asyncProperty(fc.string({ minLength: 1, maxLength: 40 }), async (key) => {
          const [a, b] = await log.append(t, [
            { key, value: 'a' },
            { key, value: 'b' },
          ]);
          expect(a!.partition).toBe(b!.partition);
          expect(a!.partition).toBe(partitionForKey(key, 12));
          expect(b!.offset).toBe(a!.offset + 1);
        }),
        { numRuns: 100 },
      );
    });

    it('assigns consecutive offsets per partition and returns results in input order', async () => {
      const t = topic('order');
      await log.ensureTopics([{ name: t, partitions: 3 }]);
      const input = Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 3 }));
      const res = await log.append(t, input);
      expect(res).toHaveLength(30);
      res.forEach((r, i) => {
        expect(r.partition).toBe(i % 3);
        expect(r.offset).toBe(Math.floor(i / 3));
      });
      // A second batch continues where the first ended.
      const more = await log.append(t, [{ key: 'x', value: 'x', partition: 2 }]);
      expect(more[0]!.offset).toBe(10);
      expect(await log.endOffsets(t)).toEqual([10, 10, 11]);
      expect(await log.beginOffsets(t)).toEqual([0, 0, 0]);
    });

    it('flush resolves for appended offsets, past the end and on an empty partition; a synced append reads back like any other', async () => {
      const t = topic('flush');
      await log.ensureTopics([{ name: t, partitions: 2 }]);
      const res = await log.append(
        t,
        Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: 0 })),
        { sync: true },
      );
      expect(res.map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5]);
      await Promise.all([log.flush(t, 0, 6), log.flush(t, 0, 3), log.flush(t, 0, 100), log.flush(t, 1, 0)]);
      expect((await log.read(t, 0, 0, 10)).map((r) => text.decode(r.value))).toEqual(['v0', 'v1', 'v2', 'v3', 'v4', 'v5']);
      expect(await log.endOffsets(t)).toEqual([6, 0]);
    });

    it('reads from the middle, honours max, and returns nothing past the end', async () => {
      const t = topic('mid');
      await log.ensureTopics([{ name: t, partitions: 1 }]);
      await log.append(
        t,
        Array.from({ length: 100 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: 0 })),
      );
      const mid = await log.read(t, 0, 37, 10);
      expect(mid.map((r) => r.offset)).toEqual([37, 38, 39, 40, 41, 42, 43, 44, 45, 46]);
      expect(mid.map((r) => text.decode(r.value))).toEqual(mid.map((r) => `v${r.offset}`));
      const tail = await log.read(t, 0, 95, 500);
      expect(tail.map((r) => r.offset)).toEqual([95, 96, 97, 98, 99]);
      expect(await log.read(t, 0, 100, 10)).toEqual([]);
    });

    it('consumer: assigns all partitions, honours start offsets, delivers every record once in order', async () => {
      const t = topic('cons');
      await log.ensureTopics([{ name: t, partitions: 3 }]);
      await log.append(
        t,
        Array.from({ length: 30 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 3 })),
      );
      // Partition 1 starts at offset 4; the others at the group's (none) → earliest.
      const rec = recorder(() => new Map([[tpKey(t, 1), 4]]));
      const c = track(log.consumer({ groupId: uniqueName('g'), topics: [t], handlers: rec.handlers, maxBatchRecords: 3 }));
      await c.start();
      await waitFor(() => rec.assigned.length > 0, { ...DELIVERY, message: 'onAssigned' });
      const assigned = rec.assigned.flat().map((tp) => `${tp.topic}/${tp.partition}`).sort();
      expect(assigned).toEqual([0, 1, 2].map((p) => `${t}/${p}`));
      // Records appended after start are delivered too.
      await log.append(t, [
        { key: 'late-0', value: 'late', partition: 0 },
        { key: 'late-1', value: 'late', partition: 1 },
      ]);
      await waitFor(() => rec.records.length >= 10 + 6 + 10 + 2, { ...DELIVERY, message: 'all records delivered' });
      const got = byPartition(rec.records);
      expect(got.get(0)).toEqual(Array.from({ length: 11 }, (_, i) => i));
      expect(got.get(1)).toEqual(Array.from({ length: 7 }, (_, i) => i + 4));
      expect(got.get(2)).toEqual(Array.from({ length: 10 }, (_, i) => i));
      for (const b of rec.batches) {
        expect(b.records.length).toBeGreaterThan(0);
        expect(b.records.length).toBeLessThanOrEqual(3);
        expect(b.records.every((r) => r.topic === t && r.partition === b.partition)).toBe(true);
        expect(b.highWatermark).toBeGreaterThan(b.records[b.records.length - 1]!.offset);
      }
      await c.stop();
      // Exactly once: nothing more arrives after stop.
      expect(rec.records.length).toBe(28);
    });

    it('consumer: a restarted member resumes from the committed offset', async () => {
      const t = topic('commit');
      const groupId = uniqueName('g');
      await log.ensureTopics([{ name: t, partitions: 1 }]);
      await log.append(
        t,
        Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: 0 })),
      );
      const first = recorder();
      const c1 = track(log.consumer({ groupId, topics: [t], handlers: first.handlers }));
      await c1.start();
      await waitFor(() => first.records.length >= 10, { ...DELIVERY, message: 'first run delivered' });
      await c1.commit({ topic: t, partition: 0 }, 6);
      await c1.stop();

      const second = recorder();
      const c2 = track(log.consumer({ groupId, topics: [t], handlers: second.handlers }));
      await c2.start();
      await waitFor(() => second.records.length >= 4, { ...DELIVERY, message: 'second run delivered' });
      expect(second.records.map((r) => r.offset)).toEqual([6, 7, 8, 9]);
      await c2.stop();
    });

    it('consumer: seek re-reads a partition from an offset', async () => {
      const t = topic('seek');
      await log.ensureTopics([{ name: t, partitions: 1 }]);
      await log.append(
        t,
        Array.from({ length: 8 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: 0 })),
      );
      const rec = recorder();
      const c = track(log.consumer({ groupId: uniqueName('g'), topics: [t], handlers: rec.handlers }));
      await c.start();
      await waitFor(() => rec.records.length >= 8, { ...DELIVERY, message: 'initial delivery' });
      c.seek({ topic: t, partition: 0 }, 5);
      await waitFor(() => rec.records.length >= 11, { ...DELIVERY, message: 'redelivery after seek' });
      expect(rec.records.slice(8).map((r) => r.offset)).toEqual([5, 6, 7]);
      await c.stop();
    });
  });
}
