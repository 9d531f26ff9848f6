import { describe, expect, it } from 'vitest';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import { createKafkaLog } from '../../src/log/kafka/index.ts';

// Port 1 on loopback: nothing listens there, so every connection attempt is refused.
const DOWN = ['127.0.0.1:1'];

describe('Kafka log with an unreachable broker', () => {
  it('append rejects with BROKER_UNAVAILABLE (retriable) within the produce timeout', async () => {
    const log = createKafkaLog({ brokers: DOWN, produceTimeoutMs: 3000, logLevel: 'nothing', retry: { retries: 1, initialRetryTime: 100 } });
    try {
      const err = await log.append('events.iot.sensors', [{ key: 'device-1', value: '{}' }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(KeyflowError);
      expect((err as KeyflowError).code).toBe(ErrorCode.BROKER_UNAVAILABLE);
      expect((err as KeyflowError).retriable).toBe(true);
    } finally {
      await log.close();
    }
  }, 60_000);

  it('append with retries that outlast the timeout still rejects with BROKER_UNAVAILABLE', async () => {
    // many slow retries: only produceTimeoutMs can end this append
    const log = createKafkaLog({ brokers: DOWN, produceTimeoutMs: 1500, logLevel: 'nothing', retry: { retries: 100, initialRetryTime: 300 } });
    try {
      await expect(log.append('t', [{ key: 'k', value: 'v', partition: 0 }])).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retriable: true });
    } finally {
      await log.close();
    }
  }, 60_000);

  it('start rejects with BROKER_UNAVAILABLE and healthy() reports disconnected', async () => {
    const log = createKafkaLog({ brokers: DOWN, logLevel: 'nothing', retry: { retries: 0 } });
    try {
      await expect(log.start()).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE });
      const health = await log.healthy();
      expect(health.connected).toBe(false);
      expect(health.detail).toBeTruthy();
    } finally {
      await log.close();
    }
  }, 60_000);
});
