/**
 * The processor never processes over a gap: a batch that starts past the state's next offset (a
 * seek lost in a rebalance) makes it seek back and re-read; only a gap that persists (the records
 * are really gone from the log) is skipped, after a few tries.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createInProcessBus } from '../../src/bus/index.ts';
import { createFileLog } from '../../src/log/index.ts';
import type { ConsumerHandlers, EventLog, GroupConsumer, LogRecord, TopicPartition } from '../../src/log/port.ts';
import { createEventTypeRegistry, encodeEnvelope, partitionForKey } from '../../src/model/index.ts';
import { systemClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { type Processor, createProcessor } from '../../src/actors/processor/processor.ts';
import { createFileCheckpoints } from '../../src/state/index.ts';

const TOPIC = 'events.iot.sensors';
const KEY = 'gap-sensor';
const PARTITION = partitionForKey(KEY, 12);

interface Harness {
  processor: Processor;
  records: LogRecord[];
  seeks: { tp: TopicPartition; offset: number }[];
  deliver(records: LogRecord[]): Promise<void>;
  processed(): Promise<number>;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function harness(): Promise<Harness> {
  const dataDir = mkdtempSync(join(tmpdir(), 'keyflow-gap-'));
  const file = createFileLog({ dataDir, logger: { warn() {} } });
  await file.start();
  await file.ensureTopics([{ name: TOPIC, partitions: 12 }]);
  const t0 = Date.parse('2026-01-15T10:00:00.000Z');
  await file.append(
    TOPIC,
    Array.from({ length: 10 }, (_, i) => ({
      key: KEY,
      value: encodeEnvelope({ eventId: `g-${i}`, timestamp: t0 + i * 1000, eventType: 'iot.sensor', userId: null, deviceId: KEY, payload: { value: i }, metadata: null }),
    })),
  );
  const records = await file.read(TOPIC, PARTITION, 0, 10);
  const seeks: Harness['seeks'] = [];
  let handlers: ConsumerHandlers | undefined;
  // The log as the processor sees it, with a consumer the test drives batch by batch.
  const log: EventLog = {
    ...file,
    consumer(options): GroupConsumer {
      handlers = options.handlers;
      return {
        start: async () => {},
        stop: async () => {},
        commit: async () => {},
        seek: (tp, offset) => seeks.push({ tp, offset }),
      };
    },
  };
  const checkpoints = createFileCheckpoints({ dataDir, fsync: false });
  await checkpoints.start();
  const bus = createInProcessBus();
  const processor = createProcessor({
    log,
    checkpoints,
    bus,
    sinks: [],
    registry: createEventTypeRegistry(),
    groupId: 'gap-test',
    topics: [TOPIC],
    host: {},
    clock: systemClock,
    checkpointIntervalMs: 3_600_000,
    logger: silentLogger(),
  });
  await processor.start();
  await handlers!.onAssigned([{ topic: TOPIC, partition: PARTITION }]);
  cleanups.push(async () => {
    await processor.stop();
    await checkpoints.close();
    await file.close();
    rmSync(dataDir, { recursive: true, force: true });
  });
  return {
    processor,
    records,
    seeks,
    deliver: (batch) => handlers!.onBatch({ topic: TOPIC, partition: PARTITION, records: batch, highWatermark: 10, heartbeat: async () => {} }),
    processed: async () => (await processor.local.keyState(TOPIC, PARTITION, 'iot.sensor', KEY))?.eventsProcessed ?? 0,
  };
}

describe('processor: gaps between the state and a batch', () => {
  it('seeks back to the next offset instead of processing a batch that starts past it', async () => {
    const h = await harness();
    await h.deliver(h.records.slice(5));
    expect(h.seeks).toEqual([{ tp: { topic: TOPIC, partition: PARTITION }, offset: 0 }]);
    expect(await h.processed()).toBe(0);
    await h.deliver(h.records);
    expect(await h.processed()).toBe(10);
  });

  it('skips a gap that persists after a few re-reads (records gone from the log)', async () => {
    const h = await harness();
    for (let i = 0; i < 3; i++) await h.deliver(h.records.slice(5));
    expect(h.seeks).toHaveLength(3);
    expect(await h.processed()).toBe(0);
    await h.deliver(h.records.slice(5));
    expect(h.seeks).toHaveLength(3);
    expect(await h.processed()).toBe(5);
  });

  it('skips records the state already covers (redelivery after a seek)', async () => {
    const h = await harness();
    await h.deliver(h.records.slice(0, 6));
    await h.deliver(h.records);
    expect(await h.processed()).toBe(10);
    expect(h.seeks).toEqual([]);
  });
});
