/**
 * Group membership against the real broker: the sticky assigner keeps partitions in place, the
 * handlers are told exactly what moved, and with start offsets from a checkpoint every record is
 * processed exactly once across rebalances.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ConsumerHandlers, GroupConsumer, TopicPartition } from '../../src/log/port.ts';
import { tpKey } from '../../src/log/port.ts';
import { createKafkaTestLog, type KafkaLogFixture } from '../helpers/kafka.ts';
import { uniqueName, waitFor } from '../helpers/wait.ts';

const PARTITIONS = 6;

interface Member {
  name: string;
  owned: Set<number>;
  assignedCalls: number[][];
  revokedCalls: number[][];
  /** Partitions revoked from this member; it must never deliver them again unless re-assigned. */
  revokedAt: Map<number, number>;
  violations: string[];
  handlers: ConsumerHandlers;
}

describe.each([1, 3])('Kafka group consumer: rebalancing (%i partitions consumed concurrently)', (concurrency) => {
  let fx: KafkaLogFixture;
  let topic: string;
  const consumers: GroupConsumer[] = [];
  /** The "checkpoint store": next offset per partition, written as each batch completes. */
  const checkpoint = new Map<number, number>();
  /** Every (partition, offset) processed, in processing order. */
  const processed = new Map<number, number[]>();
  let deliveries = 0;

  function member(name: string): Member {
    const m: Member = {
      name,
      owned: new Set(),
      assignedCalls: [],
      revokedCalls: [],
      revokedAt: new Map(),
      violations: [],
      handlers: {
        async onAssigned(tps: TopicPartition[]) {
          m.assignedCalls.push(tps.map((tp) => tp.partition).sort((a, b) => a - b));
          const starts = new Map<string, number | undefined>();
          for (const tp of tps) {
            m.owned.add(tp.partition);
            m.revokedAt.delete(tp.partition);
            starts.set(tpKey(tp.topic, tp.partition), checkpoint.get(tp.partition) ?? 0);
          }
          return starts;
        },
        async onRevoked(tps: TopicPartition[]) {
          m.revokedCalls.push(tps.map((tp) => tp.partition).sort((a, b) => a - b));
          for (const tp of tps) {
            m.owned.delete(tp.partition);
            m.revokedAt.set(tp.partition, deliveries);
          }
        },
        async onBatch(batch) {
          deliveries++;
          if (!m.owned.has(batch.partition)) m.violations.push(`${name} got a batch of ${batch.partition} it does not own`);
          let list = processed.get(batch.partition);
          if (!list) processed.set(batch.partition, (list = []));
          for (const r of batch.records) list.push(r.offset);
          checkpoint.set(batch.partition, batch.records[batch.records.length - 1]!.offset + 1);
          await batch.heartbeat();
        },
      },
    };
    return m;
  }

  async function produce(count: number): Promise<void> {
    const records = Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % PARTITIONS }));
    await fx.log.append(topic, records);
  }

  function total(): number {
    let n = 0;
    for (const l of processed.values()) n += l.length;
    return n;
  }

  beforeAll(async () => {
    fx = await createKafkaTestLog({ partitionsConsumedConcurrently: concurrency });
    topic = `${fx.topicPrefix}.rebalance`;
    await fx.log.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
  });

  afterAll(async () => {
    for (const c of consumers) await c.stop().catch(() => undefined);
    await fx?.cleanup();
  });

  it('moves only what balance needs, tells each member what moved, and processes every record exactly once', async () => {
    // Feature: keyflow, Property 18: Rebalancing data integrity
    const groupId = uniqueName('g');
    const a = member('A');
    const b = member('B');

    await produce(120);
    const ca = fx.log.consumer({ groupId, topics: [topic], handlers: a.handlers, maxBatchRecords: 7 });
    consumers.push(ca);
    await ca.start();
    await waitFor(() => a.owned.size === PARTITIONS, { message: 'A owns all partitions', timeoutMs: 30_000 });
    await waitFor(() => total() >= 120, { message: 'A processed the first records', timeoutMs: 30_000 });

    // B joins: A keeps three of its partitions, B gets the other three
    const cb = fx.log.consumer({ groupId, topics: [topic], handlers: b.handlers, maxBatchRecords: 7 });
    consumers.push(cb);
    const joining = cb.start();
    await produce(120);
    await joining;
    await waitFor(() => a.owned.size === 3 && b.owned.size === 3, { message: 'A and B own three each', timeoutMs: 30_000 });
    expect(a.assignedCalls).toEqual([[0, 1, 2, 3, 4, 5]]);
    expect(a.revokedCalls).toHaveLength(1);
    expect(b.assignedCalls).toHaveLength(1);
    expect(b.assignedCalls[0]).toEqual(a.revokedCalls[0]);
    expect([...a.owned, ...b.owned].sort()).toEqual([0, 1, 2, 3, 4, 5]);

    await produce(120);
    await waitFor(() => total() >= 360, { message: 'all records after the join processed', timeoutMs: 30_000 });

    // B leaves: its partitions come back to A, which starts them from the checkpoint
    await cb.stop();
    await produce(120);
    await waitFor(() => a.owned.size === PARTITIONS, { message: 'A owns all partitions again', timeoutMs: 30_000 });
    await waitFor(() => total() >= 480, { message: 'all records processed', timeoutMs: 30_000 });
    expect(a.assignedCalls).toHaveLength(2);
    expect(a.assignedCalls[1]).toEqual(b.assignedCalls[0]);
    expect(b.revokedCalls).toEqual([]); // stop() revokes nothing further

    // exactly once: each partition's processed offsets are 0..79 in order, no gaps, no repeats
    for (let p = 0; p < PARTITIONS; p++) {
      expect(processed.get(p)).toEqual(Array.from({ length: 80 }, (_, i) => i));
    }
    expect([...a.violations, ...b.violations]).toEqual([]);
    await ca.stop();
  }, 120_000);
});
