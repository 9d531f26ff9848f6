/** Dead-letter redrive on a real Kafka: overlapping runs append each dead letter once; the ledger topic is compacted. */
import { describe, expect, it } from 'vitest';
import { withTopicPrefix } from '../../src/log/index.ts';
import type { DeadLetterMessage } from '../../src/model/dead-letter.ts';
import { createEventTypeRegistry, DLQ_TOPIC, SYSTEM_TOPICS, specFromDefinition } from '../../src/model/event-types.ts';
import { REDRIVE_HEADER, redriveDeadLetters, redriveStates } from '../../src/redrive/index.ts';
import { compileSpec } from '../../src/types/index.ts';
import { createKafkaTestLog } from '../helpers/kafka.ts';

function dead(i: number): DeadLetterMessage {
  const e = { eventId: `e-${i}`, eventType: 'refund', timestamp: new Date(Date.now() - 60_000 + i).toISOString(), payload: { orderId: `o-${i % 3}`, amount: i } };
  const t = new Date().toISOString();
  return {
    originalMessage: JSON.stringify(e),
    originalEncoding: 'utf8',
    originalKey: `o-${i % 3}`,
    errorType: 'UNKNOWN_EVENT_TYPE',
    errorMessage: 'not registered',
    retryCount: 0,
    firstAttemptTime: t,
    lastAttemptTime: t,
    sourceTopic: 'events.transactions',
    sourcePartition: i % 6,
    sourceOffset: String(i),
  };
}

describe('dead-letter redrive on Kafka', () => {
  it('three overlapping runs append each of 12 dead letters exactly once; a later run finds them done', async () => {
    const fx = await createKafkaTestLog();
    try {
      const log = withTopicPrefix(fx.log, `${fx.topicPrefix}.`);
      await log.ensureTopics(SYSTEM_TOPICS);
      const letters = Array.from({ length: 12 }, (_, i) => dead(i));
      await log.append(DLQ_TOPIC, letters.map((d) => ({ key: d.originalKey, value: JSON.stringify(d), partition: d.sourcePartition })));
      const registry = createEventTypeRegistry();
      const spec = specFromDefinition({ name: 'refund', partitions: 3, keyPaths: ['payload.orderId'], valuePath: 'payload.amount' });
      registry.register(compileSpec(spec, 1));
      await log.ensureTopics([{ name: spec.topic, partitions: spec.partitions }]);
      const run = () => redriveDeadLetters({ log, registry, maxFutureSkewMs: 300_000 });
      const reports = await Promise.all([run(), run(), run()]);
      const redriven = reports.flatMap((r) => r.items.filter((i) => i.outcome === 'REDRIVEN').map((i) => i.id));
      expect(redriven).toHaveLength(12);
      expect(new Set(redriven).size).toBe(12);
      const ends = await log.endOffsets(spec.topic);
      const records = (await Promise.all(ends.map((n, p) => (n > 0 ? log.read(spec.topic, p, 0, n) : [])))).flat();
      expect(records).toHaveLength(12);
      expect(new Set(records.map((r) => r.headers[REDRIVE_HEADER])).size).toBe(12);
      const later = await run();
      expect(later.items.every((i) => i.outcome === 'ALREADY_REDRIVEN')).toBe(true);
      const states = await redriveStates(log);
      expect([...states.values()].every((s) => s.state === 'DONE')).toBe(true);
    } finally {
      await fx.cleanup();
    }
  }, 120_000);
});
