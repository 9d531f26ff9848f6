/** Kafka log behaviour beyond the port contract: error codes, compression, onAssigned retries. */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogRecord } from '../../src/log/port.ts';
import { tpKey } from '../../src/log/port.ts';
import { ErrorCode } from '../../src/model/errors.ts';
import { createKafkaTestLog, type KafkaLogFixture } from '../helpers/kafka.ts';
import { uniqueName, waitFor } from '../helpers/wait.ts';

describe('Kafka log: errors, compression, assignment retries', () => {
  let fx: KafkaLogFixture;
  beforeAll(async () => {
    fx = await createKafkaTestLog({ compression: 'gzip' });
  });
  afterAll(async () => {
    await fx?.cleanup();
  });

  it('append to a topic that does not exist rejects with UNKNOWN_TOPIC, keyed or not', async () => {
    const t = `${fx.topicPrefix}.missing`;
    await expect(fx.log.append(t, [{ key: 'k', value: 'v' }])).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_TOPIC });
    await expect(fx.log.append(t, [{ key: null, value: 'v', partition: 0 }])).rejects.toMatchObject({ code: ErrorCode.UNKNOWN_TOPIC });
    expect(await fx.log.partitions(t)).toBeUndefined();
    expect(await fx.log.read(t, 0, 0, 10)).toEqual([]);
  });

  it('rejects a partition that does not exist and a record with neither key nor partition', async () => {
    const t = `${fx.topicPrefix}.bad`;
    await fx.log.ensureTopics([{ name: t, partitions: 2 }]);
    await expect(fx.log.append(t, [{ key: 'k', value: 'v', partition: 2 }])).rejects.toMatchObject({ code: ErrorCode.BAD_USER_INPUT });
    await expect(fx.log.append(t, [{ key: null, value: 'v' }])).rejects.toMatchObject({ code: ErrorCode.BAD_USER_INPUT });
    expect(await fx.log.endOffsets(t)).toEqual([0, 0]);
  });

  it('splits an append larger than the broker message limit into several requests, offsets in input order', async () => {
    const t = `${fx.topicPrefix}.large`;
    await fx.log.ensureTopics([{ name: t, partitions: 2 }]);
    // ~3 MiB of incompressible values: one produce request would exceed message.max.bytes (1 MiB).
    const values = Array.from({ length: 1500 }, () => randomBytes(1536).toString('base64'));
    const results = await fx.log.append(
      t,
      values.map((value, i) => ({ key: null, value, partition: i % 2 })),
    );
    expect(results.map((r) => r.partition)).toEqual(values.map((_, i) => i % 2));
    expect(results.filter((r) => r.partition === 0).map((r) => r.offset)).toEqual(Array.from({ length: 750 }, (_, i) => i));
    expect(results.filter((r) => r.partition === 1).map((r) => r.offset)).toEqual(Array.from({ length: 750 }, (_, i) => i));
    const back: LogRecord[] = [];
    while (back.length < 750) {
      const batch = await fx.log.read(t, 1, back.length, 500);
      if (batch.length === 0) break;
      back.push(...batch);
    }
    expect(back.map((r) => new TextDecoder().decode(r.value))).toEqual(values.filter((_, i) => i % 2 === 1));
  });

  it('round-trips GZIP-compressed batches', async () => {
    const t = `${fx.topicPrefix}.gzip`;
    await fx.log.ensureTopics([{ name: t, partitions: 1 }]);
    const values = Array.from({ length: 50 }, (_, i) => `{"n":${i},"pad":"${'x'.repeat(200)}"}`);
    await fx.log.append(
      t,
      values.map((value, i) => ({ key: `k${i}`, value, partition: 0 })),
    );
    const back = await fx.log.read(t, 0, 0, 100);
    expect(back.map((r) => new TextDecoder().decode(r.value))).toEqual(values);
  });

  it('retries a failing onAssigned and only then delivers, from the offset it returned', async () => {
    const t = `${fx.topicPrefix}.retry`;
    await fx.log.ensureTopics([{ name: t, partitions: 1 }]);
    await fx.log.append(
      t,
      Array.from({ length: 10 }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: 0 })),
    );
    let calls = 0;
    const got: LogRecord[] = [];
    const c = fx.log.consumer({
      groupId: uniqueName('g'),
      topics: [t],
      handlers: {
        async onAssigned(tps) {
          calls++;
          if (calls < 3) throw new Error('checkpoint store down');
          return new Map(tps.map((tp) => [tpKey(tp.topic, tp.partition), 7]));
        },
        async onRevoked() {},
        async onBatch(batch) {
          if (calls < 3) throw new Error('delivered before onAssigned succeeded');
          got.push(...batch.records);
        },
      },
    });
    try {
      await c.start();
      await waitFor(() => got.length >= 3, { message: 'delivery after retries', timeoutMs: 20_000 });
      expect(calls).toBe(3);
      expect(got.map((r) => r.offset)).toEqual([7, 8, 9]);
    } finally {
      await c.stop();
    }
  });
});
