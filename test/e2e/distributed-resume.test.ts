/**
 * Resumable subscriptions in distributed mode (1 gateway, 2 processors; real Kafka, Redis, NATS):
 * a client subscribes to events(after: cursor), disconnects, events are published, it reconnects
 * with its last cursor — across all partitions, while processors are SIGKILLed (their partitions
 * replay from checkpoints) and once while the gateway itself is SIGKILLed — and in the end it has
 * every record of the log after its first cursor exactly once, in offset order per partition.
 */
import type { Client } from 'graphql-ws';
import { afterAll, describe, expect, it } from 'vitest';
import { createKafkaLog } from '../../src/log/kafka/index.ts';
import { withTopicPrefix } from '../../src/log/prefixed.ts';
import type { Cluster } from '../helpers/cluster.ts';
import { useCluster } from '../helpers/cluster-suite.ts';
import { type Subscription, subscribe, wsClient } from '../helpers/graphql-client.ts';
import { createWorkload, rng, stream, TOPIC } from '../helpers/reference-recompute.ts';

interface Got {
  eventId: string;
  partition: number;
  offset: string;
  cursor: string;
}

const EVENTS = 'subscription($t: String!, $after: String!) { events(topic: $t, after: $after) { eventId partition offset cursor } }';

/** (offset, eventId) of every record of the topic from `from[p]` on, per partition. */
async function logFrom(cluster: Cluster, from: number[]): Promise<Map<number, { offset: number; eventId: string }[]>> {
  const log = withTopicPrefix(createKafkaLog({ brokers: cluster.brokers, clientId: 'keyflow-test-resume', logLevel: 'nothing' }), cluster.topicPrefix);
  await log.start();
  try {
    const end = await log.endOffsets(TOPIC);
    const out = new Map<number, { offset: number; eventId: string }[]>();
    const decoder = new TextDecoder();
    for (let p = 0; p < end.length; p++) {
      const list: { offset: number; eventId: string }[] = [];
      for (let at = from[p] ?? 0; at < end[p]!; ) {
        const records = await log.read(TOPIC, p, at, 1000);
        if (records.length === 0) break;
        for (const r of records) {
          at = r.offset + 1;
          list.push({ offset: r.offset, eventId: (JSON.parse(decoder.decode(r.value)) as { eventId: string }).eventId });
        }
      }
      out.set(p, list);
    }
    return out;
  } finally {
    await log.close();
  }
}

function cursorOffsets(cursor: string): number[] {
  return (JSON.parse(Buffer.from(cursor.slice('ev1.'.length), 'base64url').toString('utf8')) as { o: number[] }).o;
}

describe('distributed: events(after:) resumes exactly across disconnects and SIGKILLs', () => {
  const suite = useCluster({
    env: { KEYFLOW_CHECKPOINT_INTERVAL_MS: '1500', KEYFLOW_INTEREST_TTL_MS: '3000' },
    nodes: [
      { role: 'gateway', name: 'gw' },
      { role: 'processor', name: 'p1' },
      { role: 'processor', name: 'p2' },
    ],
  });
  const clients: Client[] = [];
  afterAll(async () => {
    for (const c of clients) await c.dispose();
  });

  it('every record after the first cursor exactly once, in partition order', async () => {
    const { cluster } = suite;
    const gateway = suite.node('gw');
    const processors = [suite.node('p1'), suite.node('p2')];
    const seed = Date.now() % 1_000_000;
    const rand = rng(seed);
    const workload = createWorkload({ seed, keys: 40, idPrefix: cluster.keyPrefix });
    const first = (await cluster.graphql(gateway.url, `query($t: String!) { eventsCursor(topic: $t) }`, { t: TOPIC })) as { data?: { eventsCursor: string } };
    const cursor0 = first.data!.eventsCursor;

    const got: Got[] = [];
    let sub: Subscription<Got> | null = null;
    let client: Client | null = null;
    const lastCursor = () => got.at(-1)?.cursor ?? cursor0;
    const connect = () => {
      client = wsClient(gateway.url);
      clients.push(client);
      sub = subscribe<Got>(client, EVENTS, { t: TOPIC, after: lastCursor() }, 'events');
      // the subscription collects into its own array; copy over as messages come
      const s = sub;
      const copied = { n: 0 };
      const timer = setInterval(() => {
        while (copied.n < s.messages.length) got.push(s.messages[copied.n++]!);
      }, 5);
      return () => {
        clearInterval(timer);
        while (copied.n < s.messages.length) got.push(s.messages[copied.n++]!);
        s.dispose();
      };
    };
    let disconnect: (() => void) | null = connect();
    const faults: string[] = [];
    let recovering: Promise<void> = Promise.resolve();

    const producer = await cluster.producer();
    await stream(cluster, producer, gateway.url, workload, {
      rounds: 24,
      perRound: 50,
      after: async (round) => {
        if (round === 4 || round === 14) {
          disconnect?.();
          disconnect = null;
          faults.push(`round ${round}: client disconnected at ${got.length} events`);
        }
        if (round === 8 || round === 18) {
          disconnect = connect();
          faults.push(`round ${round}: client resubscribed with its last cursor`);
        }
        if (round === 6 || round === 11 || round === 20) {
          await recovering; // never kill a node that is still starting
          const victim = processors[Math.floor(rand() * 2)]!;
          faults.push(`round ${round}: SIGKILL ${victim.name}`);
          await victim.kill('SIGKILL');
          recovering = Promise.all([recovering, victim.restart()]).then(() => undefined);
        }
        if (round === 10) {
          // the gateway dies under a connected client: it reconnects with its last cursor
          faults.push(`round 10: SIGKILL gateway at ${got.length} events`);
          const wasConnected = disconnect !== null;
          disconnect?.();
          disconnect = null;
          await gateway.kill('SIGKILL');
          await gateway.restart();
          if (wasConnected) disconnect = connect();
        }
      },
    });
    await recovering;
    const context = `seed ${seed}; ${faults.join(', ')}`;

    const from = cursorOffsets(cursor0);
    const log = await logFrom(cluster, from);
    const total = [...log.values()].reduce((n, l) => n + l.length, 0);
    const until = Date.now() + 90_000;
    while (got.length < total && Date.now() < until) await new Promise((r) => setTimeout(r, 100));
    await new Promise((r) => setTimeout(r, 500)); // nothing more may come
    disconnect?.();
    expect(sub!.errors, context).toEqual([]);

    for (const [p, records] of log) {
      const mine = got.filter((g) => g.partition === p);
      expect(mine.map((g) => Number(g.offset)), `${context}: partition ${p}`).toEqual(records.map((r) => r.offset));
      expect(mine.map((g) => g.eventId), `${context}: partition ${p}`).toEqual(records.map((r) => r.eventId));
    }
    expect(got.length, context).toBe(total);
    expect(new Set(got.map((g) => g.partition)).size).toBeGreaterThan(6);
    // the last cursor is the log's end
    expect(cursorOffsets(got.at(-1)!.cursor).reduce((a, b) => a + b, 0)).toBe(from.reduce((a, b) => a + b, 0) + total);
  }, 300_000);
});
