/**
 * A new event type on a running cluster (two gateways, two processors; Kafka, Redis, NATS): it is
 * registered through one gateway, the other gateway learns it from the compacted topic, both
 * processors start consuming its topic without a restart, and its windows — fed through the API and
 * by a plain Kafka producer writing JSON straight into the topic — equal a recomputation from the
 * events. A raw record that breaks the type's schema is dead-lettered with the failing path.
 */
import { describe, expect, it } from 'vitest';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { useCluster } from '../helpers/cluster-suite.ts';
import { waitFor } from '../helpers/wait.ts';

const REGISTER = `mutation($input: EventTypeInput!) { registerEventType(input: $input) { changed eventType { name topic version } } }`;
const PUBLISH = `mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { status topic partition } }`;
const WINDOWS = `query($eventType: String!, $key: String!) { windows(eventType: $eventType, key: $key, window: "tumbling-1m") { windowStart count sum } }`;

describe('distributed: a new event type on a running cluster', () => {
  const suite = useCluster({
    env: { KEYFLOW_EVENT_TYPES_POLL_MS: '200' },
    nodes: [
      { role: 'gateway', name: 'gw1' },
      { role: 'gateway', name: 'gw2' },
      { role: 'processor', name: 'p1' },
      { role: 'processor', name: 'p2' },
    ],
  });

  it('is registered on one gateway, published on the other and by a raw producer, and its windows are exact', async () => {
    const { cluster } = suite;
    const [gw1, gw2, p1, p2] = [suite.node('gw1'), suite.node('gw2'), suite.node('p1'), suite.node('p2')];
    const type = `${cluster.keyPrefix}.order`;
    const marks = [p1.lines.length, p2.lines.length];
    const reg = await cluster.graphql<{ registerEventType: { changed: boolean; eventType: { topic: string; version: number } } }>(gw1.url, REGISTER, {
      input: {
        name: type,
        partitions: 4,
        keyPaths: ['payload.orderId'],
        valuePath: 'payload.total',
        schema: { type: 'object', required: ['orderId', 'total'], properties: { orderId: { type: 'string' }, total: { type: 'number' } } },
      },
    });
    expect(reg.errors).toBeUndefined();
    const topic = reg.data!.registerEventType.eventType.topic;
    expect(topic).toBe(`events.${type}`);

    // both processors rejoined with the new topic (no restart)
    await p1.waitForLine(/now consuming/, { from: marks[0], timeoutMs: 60_000 });
    await p2.waitForLine(/now consuming/, { from: marks[1], timeoutMs: 60_000 });

    const minute = Math.floor(Date.now() / 60_000) * 60_000 - 120_000;
    const at = (s: number) => new Date(minute + s * 1000).toISOString();
    const keys = ['o-1', 'o-2', 'o-3', 'o-4', 'o-5', 'o-6'];
    const events = keys.flatMap((k, i) => [1, 2, 3].map((j) => ({ eventType: type, timestamp: at(i + j), userId: `u-${j}`, payload: { orderId: k, total: i * 10 + j } })));
    // the other gateway learns the type from the store within a poll
    await waitFor(async () => {
      const r = await cluster.graphql(gw2.url, PUBLISH, { inputs: events.slice(0, 1) });
      return r.errors === undefined;
    }, { timeoutMs: 30_000 });
    const rest = await cluster.graphql<{ publishEvents: { status: string }[] }>(gw2.url, PUBLISH, { inputs: events.slice(1) });
    expect(rest.errors).toBeUndefined();

    // a Kafka producer writing the event JSON straight into the topic, as a Java producer would
    const producer = await cluster.producer();
    const raw = keys.map((k, i) => ({ eventId: `${cluster.keyPrefix}-raw-${i}`, eventType: type, timestamp: at(30), payload: { orderId: k, total: 100 } }));
    const bad = { eventId: `${cluster.keyPrefix}-raw-bad`, eventType: type, timestamp: at(31), payload: { orderId: 'o-1', total: 'many' } };
    await producer.send({
      topic: cluster.topic(topic),
      messages: [...raw, bad].map((e) => ({ key: e.payload.orderId, value: JSON.stringify(e) })),
    });

    const expected = new Map(keys.map((k, i) => [k, { count: 4, sum: i * 30 + 6 + 100 }]));
    for (const [k, want] of expected) {
      const got = await waitFor(
        async () => {
          const r = await cluster.graphql<{ windows: { count: number; sum: number }[] }>(gw1.url, WINDOWS, { eventType: type, key: k });
          const w = r.data?.windows ?? [];
          const total = { count: w.reduce((n, x) => n + x.count, 0), sum: w.reduce((n, x) => n + (x.sum ?? 0), 0) };
          return total.count === want.count ? total : undefined;
        },
        { timeoutMs: 60_000 },
      );
      expect(got).toEqual(want);
    }
    // the raw record that breaks the schema went to the dead-letter topic with the path, and its partition moved on
    const dead = await waitFor(async () => {
      const r = await cluster.graphql<{ deadLetters: { errorType: string; errorMessage: string; sourceTopic: string; sourcePartition: number }[] }>(
        gw1.url,
        '{ deadLetters(limit: 50) { errorType errorMessage sourceTopic sourcePartition } }',
      );
      return r.data?.deadLetters.find((d) => d.sourceTopic === topic);
    }, { timeoutMs: 30_000 });
    expect(dead).toMatchObject({ errorType: 'SCHEMA_VALIDATION_FAILED', sourcePartition: partitionForKey('o-1', 4) });
    expect(dead.errorMessage).toContain('payload.total');
  }, 240_000);
});
