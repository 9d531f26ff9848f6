/**
 * The future-skew bound on Kafka: a record written straight into a topic (bypassing the API) is
 * judged by its Kafka record timestamp, not by the processor's clock, so a replay decides the same.
 */
import { Kafka, logLevel } from 'kafkajs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPartitionHost } from '../../src/actors/index.ts';
import { createSimulatedClock } from '../../src/core/clock.ts';
import type { DeadLetterMessage } from '../../src/model/dead-letter.ts';
import { createEventTypeRegistry } from '../../src/model/event-types.ts';
import { DEFAULT_MAX_FUTURE_SKEW_MS } from '../../src/model/event-bounds.ts';
import type { WindowResult } from '../../src/model/window-result.ts';
import { createKafkaTestLog, type KafkaLogFixture } from '../helpers/kafka.ts';

let fx: KafkaLogFixture;
let topic: string;
beforeAll(async () => {
  fx = await createKafkaTestLog();
  topic = `${fx.topicPrefix}.sensors`;
  await fx.log.ensureTopics([{ name: topic, partitions: 1 }]);
});
afterAll(async () => {
  await fx?.cleanup();
});

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

describe('event bounds on Kafka records', () => {
  it('compares the event time with the Kafka record timestamp, whatever the processor clock says', async () => {
    const created = Date.parse('2020-06-01T12:00:00.000Z');
    const event = (id: string, ts: number) => JSON.stringify({ eventId: id, timestamp: iso(ts), eventType: 'iot.sensor', deviceId: 'k', payload: { value: 1 } });
    const producer = new Kafka({ brokers: fx.brokers, clientId: 'keyflow-test-raw', logLevel: logLevel.NOTHING }).producer();
    await producer.connect();
    try {
      await producer.send({
        topic,
        messages: [
          // CreateTime in 2020: an event a minute after it is fine, one two hours after it is not
          // (although both are years in the past by the processor's clock)
          { key: 'k', value: event('near', created + 60_000), timestamp: String(created), partition: 0 },
          { key: 'k', value: event('far', created + 2 * HOUR), timestamp: String(created), partition: 0 },
          // no timestamp given: the producer stamps now, the year 9999 is refused
          { key: 'k', value: event('9999', Date.parse('9999-12-31T23:59:59.999Z')), partition: 0 },
        ],
      });
    } finally {
      await producer.disconnect();
    }
    const records = await fx.log.read(topic, 0, 0, 10);
    expect(records.map((r) => r.appendTime).slice(0, 2)).toEqual([created, created]);

    async function run(clockAt: number) {
      const dead: DeadLetterMessage[] = [];
      const results: WindowResult[] = [];
      const registry = createEventTypeRegistry([{ eventType: 'iot.sensor', topic, partitions: 1, valueField: 'value' }]);
      const host = createPartitionHost({
        topic,
        partition: 0,
        registry,
        clock: createSimulatedClock(clockAt),
        windows: ['tumbling-1m'],
        maxFutureSkewMs: DEFAULT_MAX_FUTURE_SKEW_MS,
        output: { onResults: (r) => void results.push(...r), onLate() {}, onDeadLetter: (m) => void dead.push(...m) },
      });
      host.restore(null, new Map());
      await host.processBatch(records);
      return { dead: dead.map((m) => [m.sourceOffset, m.errorType]), windows: await host.windows({ eventType: 'iot.sensor', key: 'k' }) };
    }
    const first = await run(Date.now());
    expect(first.dead).toEqual([
      ['1', 'TIMESTAMP_OUT_OF_RANGE'],
      ['2', 'TIMESTAMP_OUT_OF_RANGE'],
    ]);
    expect(first.windows.map((w) => [w.windowStart, w.count])).toEqual([[created + 60_000, 1]]);
    // a replay a long time later, or by a processor whose clock is far off, decides the same
    expect(await run(Date.parse('9999-12-31T00:00:00.000Z'))).toEqual(first);
    expect(await run(0)).toEqual(first);
  });
});
