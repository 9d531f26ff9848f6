/**
 * Issue 8, part 1, distributed (real Kafka + Redis + NATS, nodes as processes): a client publishes
 * 2,000 events in batches of 200 with fixed eventIds through two gateways; a gateway is SIGKILLed
 * at random moments of random batches (before its claims, between its append and its receipts,
 * after the answer). The client re-sends every unanswered batch, unchanged, to the other gateway
 * until it is answered; the killed one is restarted. Claims the dead gateway left pending become
 * stale after KEYFLOW_DEDUPE_STALE_CLAIM_MS (3 s here) and are resolved against Kafka.
 *
 * Afterwards: every event is in the log exactly once, every answer names the record holding the
 * event, and every window equals the reference model over the 2,000 events. The kill moments vary
 * per run; KEYFLOW_E2E_KILL_SEED replays one.
 */
import { describe, expect, it } from 'vitest';
import { HANG_AFTER_APPEND_MARKER } from '../../src/ingest/index.ts';
import { createKafkaLog } from '../../src/log/kafka/index.ts';
import { withTopicPrefix } from '../../src/log/prefixed.ts';
import { decodeEnvelope } from '../../src/model/event.ts';
import { useCluster } from '../helpers/cluster-suite.ts';
import { createWorkload, expectExact, rng, TOPIC } from '../helpers/reference-recompute.ts';
import { waitFor } from '../helpers/wait.ts';

const BATCHES = 10;
const BATCH = 200;
const PUBLISH = `mutation ($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { status eventId partition offset } }`;

interface Answer {
  status: 'ACCEPTED' | 'DUPLICATE';
  eventId: string;
  partition: number;
  offset: string;
}

describe('distributed: gateways SIGKILLed while a client retries every unanswered batch', () => {
  const suite = useCluster({
    env: { KEYFLOW_DEDUPE_STALE_CLAIM_MS: '3000' },
    nodes: [
      { role: 'gateway', name: 'gw1' },
      { role: 'gateway', name: 'gw2' },
      { role: 'processor', name: 'p1' },
    ],
  });

  it('each event lands once; retries answer the original receipt; windows equal the reference model', async () => {
    const { cluster } = suite;
    const gateways = [suite.node('gw1'), suite.node('gw2')];
    const seed = Number(process.env.KEYFLOW_E2E_KILL_SEED ?? Date.now() % 1_000_000);
    const rand = rng(seed);
    const workload = createWorkload({ seed, keys: 40, idPrefix: cluster.keyPrefix });
    const timeline: string[] = [`seed ${seed}`];
    const answers: Answer[] = [];
    // per gateway: resolves once it serves (after a kill: once its restart is ready)
    const ready: Promise<void>[] = [Promise.resolve(), Promise.resolve()];
    const restarting = [false, false];
    let current = 0;
    let kills = 0;
    const durations: number[] = [];
    try {
      for (let b = 0; b < BATCHES; b++) {
        const batch = workload.next(BATCH);
        for (const e of batch) workload.viaGateway.add(e.eventId);
        await Promise.all(ready); // both gateways up: this batch may see a kill
        for (let attempt = 0; ; attempt++) {
          expect(attempt, `batch ${b} still not answered`).toBeLessThan(8);
          await ready[current];
          const gi = current;
          const gw = gateways[gi]!;
          let killing: Promise<void> | undefined;
          let delay = 0;
          // kill only while the other gateway is up, so the client always has one to retry on
          if (attempt === 0 && !restarting[1 - gi] && rand() < 0.7) {
            const typical = durations.length > 0 ? durations.reduce((x, y) => x + y, 0) / durations.length : 300;
            delay = Math.floor(rand() * typical * 1.5);
            killing = new Promise((r) => setTimeout(r, delay)).then(() => gw.kill('SIGKILL'));
          }
          const sent = Date.now();
          const r = await cluster.graphql<{ publishEvents: Answer[] }>(gw.url, PUBLISH, { inputs: batch }).catch((e: unknown) => ({ errors: [{ message: String(e) }], data: undefined }));
          const acked = r.errors?.length ? undefined : r.data?.publishEvents;
          if (acked && !killing) durations.push(Date.now() - sent);
          if (killing) {
            await killing;
            kills++;
            restarting[gi] = true;
            ready[gi] = gw.restart().then(() => {
              restarting[gi] = false;
            });
            timeline.push(`kill ${kills}: ${gw.name} batch ${b} +${delay}ms (${acked ? 'answered' : 'not answered'})`);
            current = 1 - gi; // the client moves to the other gateway
          }
          if (acked) {
            expect(acked.map((x) => x.eventId)).toEqual(batch.map((e) => e.eventId));
            answers.push(...acked);
            break;
          }
          if (!killing) timeline.push(`batch ${b} attempt ${attempt} on ${gw.name}: ${JSON.stringify(r.errors).slice(0, 200)}`);
        }
      }
      await Promise.all(ready);
      const stale = gateways.flatMap((g) => g.grep(/dedupe\.stale_claim/));
      timeline.push(`${answers.filter((a) => a.status === 'DUPLICATE').length} DUPLICATE answers, ${stale.length} stale claims resolved`);

      // the log, with where each event is
      const log = withTopicPrefix(createKafkaLog({ brokers: cluster.brokers, clientId: 'keyflow-test-reader', logLevel: 'nothing' }), cluster.topicPrefix);
      await log.start();
      const where = new Map<string, { partition: number; offset: number }[]>();
      try {
        const end = await log.endOffsets(TOPIC);
        for (let p = 0; p < end.length; p++) {
          for (let at = 0; at < end[p]!; ) {
            const records = await log.read(TOPIC, p, at, 1000);
            if (records.length === 0) break;
            for (const rec of records) {
              at = rec.offset + 1;
              const id = decodeEnvelope(rec.value).eventId;
              if (id.startsWith(`${workload.idPrefix}-e`)) where.set(id, [...(where.get(id) ?? []), { partition: p, offset: rec.offset }]);
            }
          }
        }
      } finally {
        await log.close();
      }
      expect([...where].filter(([, at]) => at.length !== 1).map(([id, at]) => `${id} x${at.length}`), 'events in the log more than once').toEqual([]);
      expect(where.size).toBe(BATCHES * BATCH);
      for (const a of answers) expect({ partition: a.partition, offset: Number(a.offset) }, a.eventId).toEqual(where.get(a.eventId)![0]);
      await expectExact(cluster, gateways[current]!.url, workload, 120_000);
      expect(kills).toBeGreaterThanOrEqual(3);
      console.log(`distributed-retry-exactly-once (${TOPIC}): ${kills} gateway kills, ${where.size} events once each; ${timeline.join(', ')}`);
    } catch (e) {
      if (e instanceof Error) e.message += `\ntimeline: ${timeline.join(', ')}`;
      throw e;
    }
  }, 420_000);

  it('a gateway killed between its append and its receipts: the retry elsewhere answers DUPLICATE with the original offsets', async () => {
    const { cluster } = suite;
    const [gw1, gw2] = [suite.node('gw1'), suite.node('gw2')];
    await waitFor(() => gw1.alive() && gw2.alive(), { timeoutMs: 60_000, message: 'both gateways up' });
    const log = withTopicPrefix(createKafkaLog({ brokers: cluster.brokers, clientId: 'keyflow-test-reader', logLevel: 'nothing' }), cluster.topicPrefix);
    await log.start();
    try {
      const base = Date.UTC(2026, 0, 1, 13, 0, 0);
      // 150 of the 200 hang after their append (KEYFLOW_TEST_HOOKS): the gateway appends all and stores 50 receipts
      const batch = Array.from({ length: 200 }, (_, i) => ({
        eventId: `${cluster.keyPrefix}-hang-${i}${i < 150 ? `-${HANG_AFTER_APPEND_MARKER}` : ''}`,
        timestamp: new Date(base + i * 10).toISOString(),
        eventType: 'iot.sensor',
        deviceId: `${cluster.keyPrefix}-hangdev-${i % 5}`,
        payload: { value: i },
      }));
      const total = async () => (await log.endOffsets(TOPIC)).reduce((a, b) => a + b, 0);
      const before = await total();
      const hanging = cluster.graphql(gw1.url, PUBLISH, { inputs: batch }).catch((e: unknown) => ({ errors: [{ message: String(e) }] }));
      await waitFor(async () => (await total()) >= before + 200, { timeoutMs: 30_000, message: 'the batch reached Kafka' });
      await gw1.kill('SIGKILL');
      expect((await hanging).errors?.length).toBeGreaterThan(0);
      const restart = gw1.restart();
      const from = gw2.lines.length;
      const r = await cluster.graphql<{ publishEvents: Answer[] }>(gw2.url, PUBLISH, { inputs: batch });
      expect(r.errors).toBeUndefined();
      const answers = r.data!.publishEvents;
      expect(answers.every((a) => a.status === 'DUPLICATE')).toBe(true);
      // the records are where the answers say, each once
      const seen = new Map<string, { partition: number; offset: number }[]>();
      const end = await log.endOffsets(TOPIC);
      for (let p = 0; p < end.length; p++) {
        for (let at = 0; at < end[p]!; ) {
          const records = await log.read(TOPIC, p, at, 1000);
          if (records.length === 0) break;
          for (const rec of records) {
            at = rec.offset + 1;
            const id = decodeEnvelope(rec.value).eventId;
            if (id.startsWith(`${cluster.keyPrefix}-hang-`)) seen.set(id, [...(seen.get(id) ?? []), { partition: p, offset: rec.offset }]);
          }
        }
      }
      expect(seen.size).toBe(200);
      expect([...seen.values()].every((at) => at.length === 1)).toBe(true);
      for (const a of answers) expect({ partition: a.partition, offset: Number(a.offset) }).toEqual(seen.get(a.eventId)![0]);
      // the 150 hung claims were resolved from the log; the other 50 too when the kill came before
      // their receipts reached Redis (the kill follows the records into Kafka, not the receipts)
      const resolved = gw2.grep(/dedupe\.stale_claim/, from).filter((l) => l.includes('"found":true')).length;
      expect(resolved).toBeGreaterThanOrEqual(150);
      expect(resolved).toBeLessThanOrEqual(200);
      await restart;
    } finally {
      await log.close();
    }
  }, 180_000);
});
