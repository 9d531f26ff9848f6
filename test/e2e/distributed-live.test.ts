/**
 * The live path in distributed mode (1 gateway, 2 processors, real Kafka + Redis + NATS), as a
 * frontend sees it while processors crash, rebalance and come back as fenced zombies:
 *
 * - an `events` subscriber gets every event once, in offset order per partition, with no gap
 *   against the log, although every new owner of a partition replays from its checkpoint and
 *   publishes again what the old owner had published;
 * - a `windowResults` subscriber never sees a window go back to an older value, and the last value
 *   it got of every window equals the reference recomputed from the log;
 * - processors publish nothing on NATS for a topic nobody watches, and stop publishing for a
 *   subscriber whose gateway was SIGKILLed once its interest expires.
 */
import { connect, type NatsConnection } from 'nats';
import { afterAll, describe, expect, it } from 'vitest';
import type { Cluster, ClusterNode } from '../helpers/cluster.ts';
import { useCluster } from '../helpers/cluster-suite.ts';
import { subscribe, wsClient } from '../helpers/graphql-client.ts';
import { createWorkload, EVENT_TYPE, expectedWindows, eventsInLog, publishViaGateway, rng, stream, TOPIC } from '../helpers/reference-recompute.ts';
import { requireNats } from '../helpers/services.ts';
import { createKafkaLog } from '../../src/log/kafka/index.ts';
import { withTopicPrefix } from '../../src/log/prefixed.ts';
import { subjects } from '../../src/bus/port.ts';
import { waitFor } from '../helpers/wait.ts';

/** Pacing, not waiting for something: where inside a round a fault lands, how long a freeze lasts. */
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface LiveEvent {
  eventId: string;
  partition: number;
  offset: string;
}

interface LiveResult {
  key: string;
  window: string;
  windowStart: string;
  count: number;
  sum: number | null;
  final: boolean;
  revision: number;
}

/** (partition, offset, eventId) of every record of the topic, in log order per partition. */
async function logOffsets(cluster: Cluster): Promise<Map<number, { offset: number; eventId: string }[]>> {
  const log = withTopicPrefix(createKafkaLog({ brokers: cluster.brokers, clientId: 'keyflow-test-live', logLevel: 'nothing' }), cluster.topicPrefix);
  await log.start();
  try {
    const [begin, end] = await Promise.all([log.beginOffsets(TOPIC), log.endOffsets(TOPIC)]);
    const out = new Map<number, { offset: number; eventId: string }[]>();
    const decoder = new TextDecoder();
    for (let p = 0; p < end.length; p++) {
      const list: { offset: number; eventId: string }[] = [];
      for (let at = begin[p] ?? 0; at < end[p]!; ) {
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

/** Messages a raw NATS connection (which announces no interest) sees on a subject of the cluster. */
async function tap(cluster: Cluster, subject: string): Promise<{ count(): number; close(): Promise<void> }> {
  const nc: NatsConnection = await connect({ servers: requireNats().url });
  let n = 0;
  nc.subscribe(`${cluster.keyPrefix}.${subject}`, { callback: () => n++ });
  await nc.flush();
  return { count: () => n, close: () => nc.close() };
}

describe('distributed: the live path across processor faults', () => {
  const suite = useCluster({
    env: {
      // long enough that a kill almost surely lands between checkpoints: every takeover replays
      KEYFLOW_CHECKPOINT_INTERVAL_MS: '1500',
      KEYFLOW_INTEREST_TTL_MS: '3000',
    },
    nodes: [
      { role: 'gateway', name: 'gw' },
      { role: 'processor', name: 'p1' },
      { role: 'processor', name: 'p2' },
    ],
  });
  const clients: { dispose(): unknown }[] = [];
  afterAll(async () => {
    for (const c of clients) await c.dispose();
  });

  it('a subscriber sees each event once, in offset order, without gaps; results never go back (random SIGKILLs, rebalances, a zombie)', async () => {
    const { cluster } = suite;
    const gateway = suite.node('gw');
    const processors = [suite.node('p1'), suite.node('p2')];
    const seed = Date.now() % 1_000_000;
    const rand = rng(seed);
    const workload = createWorkload({ seed, keys: 24, idPrefix: cluster.keyPrefix });
    const client = wsClient(gateway.url);
    clients.push(client);
    // results travel on a subject per window: the subscriber watches one, the other windows stay off NATS
    const watchedWire = await tap(cluster, subjects.windowResults(EVENT_TYPE, 'tumbling-1m'));
    const otherWire = await tap(cluster, subjects.windowResults(EVENT_TYPE, 'tumbling-5m'));
    const events = subscribe<LiveEvent>(client, 'subscription($t: String!) { events(topic: $t) { eventId partition offset } }', { t: TOPIC }, 'events');
    const results = subscribe<LiveResult>(
      client,
      `subscription($t: String!) { windowResults(eventType: $t, window: "tumbling-1m") { key window windowStart count sum final revision } }`,
      { t: EVENT_TYPE },
      'windowResults',
    );
    // a subscription is not acknowledged, and processors learn the gateway's interest over NATS:
    // publish warm-up events until both streams deliver
    await waitFor(
      async () => {
        await publishViaGateway(cluster, gateway.url, workload.next(4));
        return events.messages.length > 0 && results.messages.length > 0;
      },
      { timeoutMs: 60_000, intervalMs: 300, message: 'first live messages' },
    );
    const watchedBefore = watchedWire.count();
    const otherBefore = otherWire.count();
    const resultsBefore = results.messages.length;
    await publishViaGateway(cluster, gateway.url, workload.next(20));
    await waitFor(() => results.messages.length > resultsBefore && watchedWire.count() > watchedBefore, { timeoutMs: 30_000, message: 'the watched window on NATS' });
    expect(otherWire.count(), 'an unwatched window was published').toBe(otherBefore);
    await Promise.all([watchedWire.close(), otherWire.close()]);
    const firstMain = workload.events.length;

    const producer = await cluster.producer();
    const faults: string[] = [];
    let recovering: Promise<void> = Promise.resolve();
    const busy = new Set<ClusterNode>();
    await stream(cluster, producer, gateway.url, workload, {
      rounds: 30,
      perRound: 60,
      after: async (round) => {
        if (round < 2 || round > 24 || rand() > 0.3) return;
        const victim = processors[Math.floor(rand() * 2)]!;
        if (busy.has(victim)) return;
        busy.add(victim);
        await pause(Math.floor(rand() * 500));
        if (rand() < 0.75) {
          faults.push(`round ${round}: SIGKILL ${victim.name}`);
          await victim.kill('SIGKILL');
          recovering = Promise.all([recovering, victim.restart().finally(() => busy.delete(victim))]).then(() => undefined);
        } else {
          // frozen past the session timeout: its partitions move; thawed, it is a zombie until fenced
          faults.push(`round ${round}: SIGSTOP ${victim.name} for 8 s`);
          await victim.kill('SIGSTOP');
          recovering = Promise.all([
            recovering,
            pause(8000).then(async () => {
              await victim.kill('SIGCONT');
              busy.delete(victim);
            }),
          ]).then(() => undefined);
        }
      },
    });
    await recovering;
    const context = `seed ${seed}; faults: ${faults.join(', ') || 'none'}`;

    // every event of the workload is in the log; the subscriber gets up to the end of every partition
    await cluster.waitForCheckpoints(TOPIC, 90_000);
    const log = await logOffsets(cluster);
    const ends = new Map([...log].map(([p, list]) => [p, list.at(-1)?.offset ?? -1]));
    await events
      .until((ms) => [...ends].every(([p, end]) => end < 0 || ms.some((m) => m.partition === p && Number(m.offset) === end)), 60_000)
      .catch((e: unknown) => {
        throw new Error(`${context}: ${(e as Error).message}`);
      });

    // everything is in: end both subscriptions (the next test needs nobody subscribed)
    events.dispose();
    results.dispose();

    const byPartition = new Map<number, LiveEvent[]>();
    for (const m of events.messages) byPartition.set(m.partition, [...(byPartition.get(m.partition) ?? []), m]);
    for (const [p, got] of byPartition) {
      const offsets = got.map((m) => Number(m.offset));
      // once, in order, and nothing the log has between the first delivered offset and its end is missing
      const expected = log.get(p)!.filter((r) => r.offset >= offsets[0]!);
      expect(offsets, `${context}: partition ${p}`).toEqual(expected.map((r) => r.offset));
      expect(got.map((m) => m.eventId), `${context}: partition ${p}`).toEqual(expected.map((r) => r.eventId));
    }
    // every event generated after the subscription delivered, exactly once
    const delivered = new Set(events.messages.map((m) => m.eventId));
    expect(delivered.size).toBe(events.messages.length);
    const missing = workload.events.slice(firstMain).filter((e) => !delivered.has(e.eventId));
    expect(missing.map((e) => e.eventId), context).toEqual([]);

    // results: per window, the count never goes back, and a final is never followed by a non-final
    const last = new Map<string, LiveResult>();
    const backwards: string[] = [];
    for (const r of results.messages) {
      const id = `${r.key}/${r.window}/${r.windowStart}`;
      const prev = last.get(id);
      if (prev && (r.count < prev.count || (prev.final && !r.final) || r.revision < prev.revision)) backwards.push(`${id}: ${JSON.stringify(prev)} then ${JSON.stringify(r)}`);
      last.set(id, r);
    }
    expect(backwards, context).toEqual([]);
    // and the last value of every window equals the reference recomputed from the log
    const reference = new Map(
      expectedWindows(await eventsInLog(cluster, workload.idPrefix))
        .filter((w) => w.window === 'tumbling-1m')
        .map((w) => [`${w.key}/${w.window}/${new Date(w.windowStart).toISOString()}`, w]),
    );
    // sums compared to the last bits: float addition depends on the order the actor saw the events in
    const close = (a: number | null | undefined, b: number | null | undefined) => a === b || (a != null && b != null && Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)));
    const wrong = [...last].filter(([id, r]) => reference.get(id)?.count !== r.count || !close(r.sum, reference.get(id)?.sum)).map(([id, r]) => `${id}: got ${r.count}/${r.sum}, reference ${reference.get(id)?.count}/${reference.get(id)?.sum}`);
    expect(wrong, context).toEqual([]);
    expect(faults.length, `${context}: the run had no fault; nothing was tested`).toBeGreaterThan(0);
    // new owners did publish again what had been published, and the gateway dropped it
    const metrics = await (await fetch(gateway.url.replace('/graphql', '/metrics'))).text();
    const replays = Number(/keyflow_live_replays_dropped_total\{stream="events"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    expect(replays, context).toBeGreaterThan(0);
  }, 420_000);

  it('nothing goes on NATS for a topic nobody watches; a SIGKILLed gateway stops counting after its interest TTL', async () => {
    const { cluster } = suite;
    const gateway = suite.node('gw');
    const workload = createWorkload({ seed: 5, keys: 12, idPrefix: `${cluster.keyPrefix}-i`, base: Date.UTC(2026, 0, 2, 12, 0, 0) });
    const wire = await tap(cluster, subjects.events(TOPIC));
    try {
      // nobody subscribes (the first test's subscriptions ended): once the processors know, events
      // flow through them and nothing reaches NATS
      const producer = await cluster.producer();
      const round = async (n: number) => {
        await stream(cluster, producer, '', workload, { rounds: 1, perRound: n, direct: () => true, pauseMs: 0 });
        await cluster.waitForCheckpoints(TOPIC, 30_000);
      };
      await waitFor(
        async () => {
          const before = wire.count();
          await round(20);
          return wire.count() === before;
        },
        { timeoutMs: 30_000, intervalMs: 200, message: 'nothing published while nobody subscribes' },
      );
      const idle = wire.count();
      await round(200);
      expect(wire.count()).toBe(idle);

      // a subscriber: the same publishes now go out
      const client = wsClient(gateway.url);
      clients.push(client);
      const sub = subscribe<LiveEvent>(client, 'subscription($t: String!) { events(topic: $t) { eventId } }', { t: TOPIC }, 'events');
      await waitFor(
        async () => {
          await publishViaGateway(cluster, gateway.url, workload.next(4));
          return sub.messages.length > 0;
        },
        { timeoutMs: 30_000, intervalMs: 200, message: 'the subscription delivers' },
      );
      expect(wire.count()).toBeGreaterThan(0);

      // the gateway dies without withdrawing: after the TTL (3 s here) processors stop publishing
      await gateway.kill('SIGKILL');
      await waitFor(
        async () => {
          const before = wire.count();
          await round(20);
          return wire.count() === before;
        },
        { timeoutMs: 30_000, intervalMs: 500, message: 'publishes stop once the dead gateway expired' },
      );
      const quiet = wire.count();
      await round(60);
      expect(wire.count()).toBe(quiet);
    } finally {
      await wire.close();
    }
  }, 240_000);
});
