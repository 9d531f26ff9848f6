/** The topic-prefix decorator of the event-log port (KEYFLOW_TOPIC_PREFIX), over the embedded log. */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createFileLog } from '../../src/log/index.ts';
import type { EventLog, LogRecord, TopicPartition } from '../../src/log/port.ts';
import { tpKey } from '../../src/log/port.ts';
import { withTopicPrefix } from '../../src/log/prefixed.ts';
import { tempDir, waitFor } from '../helpers/wait.ts';

describe('withTopicPrefix', () => {
  let inner: EventLog;
  let log: EventLog;
  let remove: () => Promise<void>;

  beforeEach(async () => {
    const t = await tempDir('keyflow-prefixed-');
    remove = t.remove;
    inner = createFileLog({ dataDir: t.dir });
    log = withTopicPrefix(inner, 'tenant-a.');
    await log.start();
  });

  afterEach(async () => {
    await log.close();
    await remove();
  });

  it('an empty prefix returns the log itself', () => {
    expect(withTopicPrefix(inner, '')).toBe(inner);
  });

  it('stores topics under the prefix and reports them without it', async () => {
    await log.ensureTopics([{ name: 'events.x', partitions: 2 }]);
    expect(await inner.partitions('tenant-a.events.x')).toBe(2);
    expect(await inner.partitions('events.x')).toBeUndefined();
    expect(await log.partitions('events.x')).toBe(2);

    const results = await log.append('events.x', [{ key: null, value: 'a', partition: 1 }]);
    expect(results).toEqual([{ topic: 'events.x', partition: 1, offset: 0 }]);
    const [viaWrapper] = await log.read('events.x', 1, 0, 10);
    expect(viaWrapper?.topic).toBe('events.x');
    const [raw] = await inner.read('tenant-a.events.x', 1, 0, 10);
    expect(raw?.topic).toBe('tenant-a.events.x');
    expect(await log.endOffsets('events.x')).toEqual([0, 1]);
    expect(await log.beginOffsets('events.x')).toEqual([0, 0]);
  });

  it('consumers see unprefixed topics, and the start offsets they return are honoured', async () => {
    await log.ensureTopics([{ name: 'events.x', partitions: 1 }]);
    await log.append('events.x', ['r0', 'r1', 'r2'].map((value) => ({ key: null, value, partition: 0 })));
    const assigned: TopicPartition[] = [];
    const seen: LogRecord[] = [];
    const batchTopics: string[] = [];
    const consumer = log.consumer({
      groupId: 'g',
      topics: ['events.x'],
      handlers: {
        async onAssigned(tps) {
          assigned.push(...tps);
          return new Map(tps.map((tp) => [tpKey(tp.topic, tp.partition), 1]));
        },
        async onRevoked() {},
        async onBatch(batch) {
          batchTopics.push(batch.topic);
          seen.push(...batch.records);
        },
      },
    });
    await consumer.start();
    try {
      await waitFor(() => seen.length >= 2, { message: 'records delivered' });
      expect(assigned).toEqual([{ topic: 'events.x', partition: 0 }]);
      expect(seen.map((r) => [r.topic, r.offset])).toEqual([
        ['events.x', 1],
        ['events.x', 2],
      ]);
      expect(new Set(batchTopics)).toEqual(new Set(['events.x']));
      await consumer.commit({ topic: 'events.x', partition: 0 }, 3);
    } finally {
      await consumer.stop();
    }
  });
});
