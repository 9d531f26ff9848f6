/** The event-type store on a real Kafka: the compacted topic (cleanup.policy=compact, one partition). */
import { ConfigResourceTypes, Kafka, logLevel } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { withTopicPrefix } from '../../src/log/index.ts';
import { EVENT_TYPES_TOPIC } from '../../src/model/index.ts';
import { createLogEventTypeStore } from '../../src/types/index.ts';
import { describeEventTypeStoreContract } from '../contract/event-type-store.contract.ts';
import { createKafkaTestLog } from '../helpers/kafka.ts';

describeEventTypeStoreContract('Kafka compacted topic', async () => {
  const fx = await createKafkaTestLog();
  const log = withTopicPrefix(fx.log, `${fx.topicPrefix}.`);
  return { open: () => createLogEventTypeStore({ log }), cleanup: () => fx.cleanup() };
});

describe('Kafka event-type topic', () => {
  it('is created compacted with one partition', async () => {
    const fx = await createKafkaTestLog();
    try {
      const log = withTopicPrefix(fx.log, `${fx.topicPrefix}.`);
      await createLogEventTypeStore({ log }).load();
      const admin = new Kafka({ brokers: fx.brokers, clientId: 'keyflow-test', logLevel: logLevel.NOTHING }).admin();
      await admin.connect();
      try {
        const name = `${fx.topicPrefix}.${EVENT_TYPES_TOPIC}`;
        const configs = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: ConfigResourceTypes.TOPIC, name, configNames: ['cleanup.policy'] }] });
        expect(configs.resources[0]!.configEntries.find((c) => c.configName === 'cleanup.policy')?.configValue).toBe('compact');
        expect(await log.partitions(EVENT_TYPES_TOPIC)).toBe(1);
      } finally {
        await admin.disconnect();
      }
    } finally {
      await fx.cleanup();
    }
  });
});
