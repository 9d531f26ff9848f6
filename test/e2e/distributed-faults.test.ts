/**
 * Distributed mode under bad input and a failing checkpoint store, on real Kafka + Redis + NATS:
 *
 * - poison pills — undecodable bytes and schema-invalid JSON written straight to the topic, and
 *   an event whose reducer throws (the poison marker) — each end in the dead-letter topic with
 *   their source offset; the partition keeps moving; after a processor restart nothing is
 *   dead-lettered again;
 * - the cluster's own Redis (a private redis-server with AOF, never the shared one) is killed
 *   with SIGKILL mid-stream and restarted: the platform recovers by itself and every window is exact.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { useCluster } from '../helpers/cluster-suite.ts';
import { createPrivateRedis, type PrivateRedis } from '../helpers/private-redis.ts';
import { createWorkload, EVENT_TYPE, expectExact, stream, TOPIC, type TestEvent } from '../helpers/reference-recompute.ts';
import { waitFor } from '../helpers/wait.ts';

const DEAD_LETTERS = `{ deadLetters(limit: 100) { id errorType errorMessage retryCount sourceTopic sourcePartition sourceOffset originalMessage } }`;

interface DeadLetterView {
  id: string;
  errorType: string;
  errorMessage: string;
  retryCount: number;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: string;
  originalMessage: string;
}

describe('distributed: poison pills', () => {
  const suite = useCluster({
    env: { KEYFLOW_RETRY_BASE_MS: '20' },
    nodes: [
      { role: 'gateway', name: 'gw' },
      { role: 'processor', name: 'p1' },
    ],
  });

  async function deadLetters(): Promise<DeadLetterView[]> {
    const r = await suite.cluster.graphql<{ deadLetters: DeadLetterView[] }>(suite.node('gw').url, DEAD_LETTERS);
    if (r.errors?.length || !r.data) throw new Error(`deadLetters failed: ${JSON.stringify(r.errors)}`);
    return r.data.deadLetters;
  }

  it('undecodable, schema-invalid and poison-marker records go to the DLQ with their offsets; the partition moves on; a restart does not redo them', async () => {
    const { cluster } = suite;
    const [gateway, processor] = [suite.node('gw'), suite.node('p1')];
    const workload = createWorkload({ seed: 5, keys: 6, idPrefix: `${cluster.keyPrefix}-p` });
    const producer = await cluster.producer();
    const key = workload.keys[0]!;
    const partition = partitionForKey(key, 12);
    const topic = cluster.topic(TOPIC);

    // some good events first, so the poison lands mid-partition
    await stream(cluster, producer, gateway.url, workload, { rounds: 2, perRound: 40 });
    const sent = async (value: Buffer | string): Promise<string> => {
      const [meta] = await producer.send({ topic, acks: -1, messages: [{ key, value, partition }] });
      return meta!.baseOffset!;
    };
    const undecodableOffset = await sent(Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x7b]));
    const invalidOffset = await sent(JSON.stringify({ eventId: `${key}-bad`, timestamp: 'not a date', eventType: EVENT_TYPE, payload: 42 }));
    const poison: TestEvent = {
      eventId: `${cluster.keyPrefix}-x-poison`,
      timestamp: workload.events.at(-1)!.timestamp,
      eventType: EVENT_TYPE,
      deviceId: key,
      userId: 'u1',
      payload: { value: 1, __keyflowPoison: true },
    };
    const receipt = await cluster.graphql<{ publishEvent: { partition: number; offset: string } }>(
      gateway.url,
      `mutation ($input: EventInput!) { publishEvent(input: $input) { partition offset } }`,
      { input: poison },
    );
    expect(receipt.errors).toBeUndefined();
    expect(receipt.data!.publishEvent.partition).toBe(partition);
    const poisonOffset = receipt.data!.publishEvent.offset;

    // later events (on every key, the poisoned one included) are processed
    await stream(cluster, producer, gateway.url, workload, { rounds: 3, perRound: 40 });
    await expectExact(cluster, gateway.url, workload);

    const letters = await waitFor(async () => {
      const d = await deadLetters();
      return d.length >= 3 ? d : undefined;
    }, { timeoutMs: 30_000, intervalMs: 500, message: 'three dead letters' });
    expect(letters).toHaveLength(3);
    const byOffset = new Map(letters.map((l) => [l.sourceOffset, l]));
    expect([...byOffset.keys()].sort()).toEqual([undecodableOffset, invalidOffset, poisonOffset].sort());
    for (const l of letters) {
      expect(l.sourceTopic).toBe(TOPIC);
      expect(l.sourcePartition).toBe(partition);
    }
    // the undecodable record is kept as base64, the JSON one as text, the poison event was retried
    expect(byOffset.get(undecodableOffset)!.originalMessage).toBe(Buffer.from([0xff, 0xfe, 0x00, 0x81, 0x7b]).toString('base64'));
    expect(byOffset.get(invalidOffset)!.originalMessage).toContain('not a date');
    expect(byOffset.get(poisonOffset)!.retryCount).toBeGreaterThanOrEqual(3);

    // a restart replays from the checkpoint, which is past the poison: nothing is dead-lettered again
    await cluster.waitForCheckpoints(TOPIC);
    await processor.kill('SIGKILL');
    await processor.restart();
    await stream(cluster, producer, gateway.url, workload, { rounds: 2, perRound: 40 });
    await expectExact(cluster, gateway.url, workload);
    // dead letters are written before the checkpoint that covers them: once the checkpoints reach
    // the end of the topic, any dead letter of the replay would be in the DLQ topic
    await cluster.waitForCheckpoints(TOPIC);
    expect((await deadLetters()).map((l) => l.id).sort()).toEqual(letters.map((l) => l.id).sort());
  }, 180_000);
});

describe('distributed: Redis killed and restarted mid-stream', () => {
  let redis: PrivateRedis | undefined;

  // the private Redis's hooks come first: it starts before the cluster and stops after its cleanup
  beforeAll(async () => {
    redis = await createPrivateRedis();
    await redis.start();
  }, 60_000);

  afterAll(async () => {
    await redis?.close();
  }, 60_000);

  const suite = useCluster({
    where: () => ({ redisUrl: `redis://127.0.0.1:${redis!.port}` }),
    nodes: [
      { role: 'gateway', name: 'gw' },
      { role: 'processor', name: 'p1' },
    ],
  });

  it('recovers by itself and every window is exact', async () => {
    const { cluster } = suite;
    const gateway = suite.node('gw');
    const workload = createWorkload({ seed: 13, keys: 16, idPrefix: `${cluster.keyPrefix}-r` });
    const producer = await cluster.producer();
    const processor = suite.node('p1');
    const mark = processor.lines.length;
    await stream(cluster, producer, gateway.url, workload, {
      rounds: 14,
      perRound: 60,
      after: async (round) => {
        if (round === 4) await redis!.kill();
        // Redis stays down until the processor has felt it: a checkpoint failed
        if (round === 5) await processor.waitForLine(/"event":"checkpoint\.failed"/, { from: mark, timeoutMs: 30_000 });
        // the gateway's dedupe needs Redis too: publish only through Kafka while it is down
        if (round === 6) await redis!.start();
      },
      direct: (round) => round >= 4 && round < 7,
    });
    // checkpoints failed while Redis was down and succeeded again afterwards
    expect(processor.grep(/"event":"checkpoint\.failed"/, mark).length).toBeGreaterThan(0);
    await expectExact(cluster, gateway.url, workload);
  }, 180_000);
});
