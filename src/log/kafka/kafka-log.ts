/**
 * The Kafka adapter of the event-log port, on kafkajs 2.2, composed of:
 *
 * - producer.ts — appends: one idempotent producer, partitions computed here with Kafka's murmur2
 *   (records.ts), every append bounded by `produceTimeoutMs`;
 * - admin.ts — topics, partition counts and offsets;
 * - reader.ts — random-access reads of one partition (`read`);
 * - group-consumer.ts — `consumer()`: a kafkajs group member with the sticky assigner and the
 *   rebalance semantics of the port.
 *
 * Every broker operation that fails for a reason other than a KeyflowError rejects with
 * BROKER_UNAVAILABLE (retriable).
 */
import { Kafka } from 'kafkajs';
import type { EventLog, GroupConsumer } from '../port.ts';
import { createTopicAdmin } from './admin.ts';
import { guarded, unavailable } from './errors.ts';
import { createGroupConsumer } from './group-consumer.ts';
import { pinoLogCreator, toKafkajsLevel } from './logger.ts';
import { connectionSettings, type KafkaLogOptions } from './options.ts';
import { createAppender } from './producer.ts';
import { PartitionReader } from './reader.ts';

export type { KafkaLogOptions } from './options.ts';

/**
 * Creates the Kafka event log. Call `start()` before use (appends also connect on demand).
 *
 * @example
 * const log = createKafkaLog({ brokers: ['127.0.0.1:9092'], clientId: 'keyflow-gateway' });
 * await log.start();
 * await log.ensureTopics([{ name: 'events.iot.sensors', partitions: 12 }]);
 * await log.append('events.iot.sensors', [{ key: 'device-1', value: JSON.stringify(event) }]);
 */
export function createKafkaLog(options: KafkaLogOptions): EventLog {
  const settings = connectionSettings(options);
  const kafka = new Kafka({
    ...settings,
    logLevel: toKafkajsLevel(options.logLevel ?? 'warn'),
    logCreator: pinoLogCreator(options.logger),
  });
  const admin = createTopicAdmin(kafka, { retry: settings.retry, replicationFactor: options.replicationFactor ?? 1 });
  const appender = createAppender(kafka, {
    retry: settings.retry,
    compression: options.compression ?? 'none',
    produceTimeoutMs: options.produceTimeoutMs ?? 30_000,
    partitionCount: (topic) => admin.partitionCount(topic),
  });
  const reader = new PartitionReader({ ...settings, logger: kafka.logger() });
  const consumers = new Set<GroupConsumer>();
  let closed = false;

  const log: EventLog = {
    kind: 'kafka',

    async start() {
      try {
        await Promise.all([appender.connect(), admin.connect()]);
      } catch (e) {
        throw unavailable('connecting to Kafka', e);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...consumers].map((c) => c.stop()));
      await Promise.allSettled([appender.disconnect(), admin.disconnect(), reader.close()]);
    },

    ensureTopics(topics) {
      return guarded('creating topics', () => admin.ensureTopics(topics));
    },

    partitions(topic) {
      return guarded(`reading the partition count of ${topic}`, () => admin.partitionCount(topic));
    },

    read(topic, partition, fromOffset, max) {
      const beginOffset = async (): Promise<number> => Number((await admin.topicOffsets(topic))[partition]?.low ?? 0);
      return guarded(`reading ${topic}/${partition}`, () => reader.read(topic, partition, fromOffset, max, beginOffset));
    },

    beginOffsets(topic) {
      return guarded(`reading offsets of ${topic}`, async () => (await admin.topicOffsets(topic)).map((o) => Number(o.low)));
    },

    endOffsets(topic) {
      return guarded(`reading offsets of ${topic}`, async () => (await admin.topicOffsets(topic)).map((o) => Number(o.high)));
    },

    async append(topic, records) {
      if (records.length === 0) return [];
      return guarded(`appending to ${topic}`, () => appender.append(topic, records));
    },

    // An acknowledged append (acks=all) is already as durable as the cluster makes it.
    async flush() {},

    consumer(consumerOptions) {
      const c = createGroupConsumer(kafka, consumerOptions, options);
      consumers.add(c);
      return c;
    },

    healthy: () => admin.healthy(),
  };
  return log;
}
