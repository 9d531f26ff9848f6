/**
 * Kafka test helpers: a Kafka EventLog on the run's broker (see global-setup.ts) whose topics get
 * a unique prefix, and a cleanup that deletes them again.
 */
import { Kafka, logLevel } from 'kafkajs';
import { createKafkaLog, type KafkaLogOptions } from '../../src/log/kafka/index.ts';
import type { EventLog } from '../../src/log/port.ts';
import { requireKafka } from './services.ts';
import { uniqueName } from './wait.ts';

export interface KafkaLogFixture {
  log: EventLog;
  /** Topics of this fixture start with it (`<prefix>.…`). */
  topicPrefix: string;
  brokers: string[];
  /** Closes the log and deletes every topic that starts with the prefix. */
  cleanup(): Promise<void>;
}

/** Deletes the topics whose names start with `prefix`. */
export async function deleteTopicsWithPrefix(brokers: string[], prefix: string): Promise<void> {
  const admin = new Kafka({ brokers, clientId: 'keyflow-test-cleanup', logLevel: logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const topics = (await admin.listTopics()).filter((t) => t.startsWith(prefix));
    if (topics.length > 0) await admin.deleteTopics({ topics, timeout: 30_000 });
  } finally {
    await admin.disconnect();
  }
}

/** A started Kafka EventLog with a unique topic prefix. */
export async function createKafkaTestLog(options: Partial<KafkaLogOptions> = {}): Promise<KafkaLogFixture> {
  const { brokers } = requireKafka();
  const topicPrefix = uniqueName('kt');
  // short group timings: tests start and stop many members
  const log = createKafkaLog({
    brokers,
    clientId: 'keyflow-test',
    produceTimeoutMs: 20_000,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1000,
    rebalanceTimeoutMs: 15_000,
    maxWaitTimeMs: 100,
    ...options,
  });
  await log.start();
  return {
    log,
    topicPrefix,
    brokers,
    async cleanup() {
      await log.close();
      await deleteTopicsWithPrefix(brokers, topicPrefix);
    },
  };
}
