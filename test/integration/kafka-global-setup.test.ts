import { Kafka, logLevel } from 'kafkajs';
import { describe, expect, inject, it } from 'vitest';
import { requireKafka } from '../helpers/services.ts';

describe('vitest global setup: Kafka', () => {
  it('exports KAFKA_BROKERS to the test workers (env and inject agree)', () => {
    const { brokers } = requireKafka();
    expect(brokers.length).toBeGreaterThan(0);
    expect(inject('kafkaBrokers')).toBe(process.env.KAFKA_BROKERS);
  });

  it('the broker answers metadata requests', async () => {
    const admin = new Kafka({ brokers: requireKafka().brokers, clientId: 'keyflow-setup-check', logLevel: logLevel.NOTHING }).admin();
    await admin.connect();
    try {
      const cluster = await admin.describeCluster();
      expect(cluster.brokers.length).toBeGreaterThan(0);
    } finally {
      await admin.disconnect();
    }
  });
});
