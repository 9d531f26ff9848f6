/**
 * Topic offsets while a topic has no partition leader yet: kafkajs 2.x answers `fetchTopicOffsets`
 * with a TypeError then (seen against the real broker right after a topic was created, in the
 * Kafka redrive suite); the admin retries it like a retriable broker error, and still fails at
 * once on anything else.
 */
import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { createTopicAdmin } from '../../src/log/kafka/admin.ts';

function fakeKafka(answers: Array<() => unknown>): { kafka: Kafka; calls: () => number } {
  let calls = 0;
  const admin = {
    connect: async () => {},
    disconnect: async () => {},
    fetchTopicOffsets: async () => {
      const next = answers[Math.min(calls, answers.length - 1)]!;
      calls++;
      return next();
    },
  };
  return { kafka: { admin: () => admin } as unknown as Kafka, calls: () => calls };
}

const leaderless = () => {
  // what kafkajs throws when the offsets request reached no broker
  throw new TypeError("Cannot destructure property 'partitions' of 'low.pop(...)' as it is undefined.");
};
const offsets = () => [
  { partition: 1, offset: '7', high: '7', low: '0' },
  { partition: 0, offset: '3', high: '3', low: '1' },
];

describe('Kafka topic admin: offsets of a topic without leaders yet', () => {
  it('retries the leaderless TypeError until the offsets come, sorted by partition', async () => {
    const { kafka, calls } = fakeKafka([leaderless, leaderless, offsets]);
    const admin = createTopicAdmin(kafka, { retry: { retries: 0 }, replicationFactor: 1 });
    const got = await admin.topicOffsets('events.refund');
    expect(got.map((o) => [o.partition, o.low, o.high])).toEqual([
      [0, '1', '3'],
      [1, '0', '7'],
    ]);
    expect(calls()).toBe(3);
  });

  it('does not retry other programming errors', async () => {
    const { kafka, calls } = fakeKafka([
      () => {
        throw new TypeError('something else');
      },
      offsets,
    ]);
    const admin = createTopicAdmin(kafka, { retry: { retries: 0 }, replicationFactor: 1 });
    await expect(admin.topicOffsets('events.refund')).rejects.toThrow('something else');
    expect(calls()).toBe(1);
  });
});
