/**
 * Issue 8, part 1, distributed: a gateway dies in the middle of a publish (before its append,
 * after it, or between the topics of one batch), leaving its claims pending in Redis. Another
 * gateway gets the client's retry: once the claims are stale it looks for each event in the
 * claim's Kafka partition from the claim's time on, answers DUPLICATE with the original receipt
 * for what had been appended and appends the rest once. Real Kafka and Redis; a gateway's death
 * is its log throwing at that point and its Dedupe never being used again.
 */
import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createIngest, createLogClaimResolver, createRedisDedupe, type Dedupe } from '../../src/ingest/index.ts';
import type { EventLog } from '../../src/log/index.ts';
import { decodeEnvelope } from '../../src/model/event.ts';
import { createEventTypeRegistry, type EventTypeSpec } from '../../src/model/event-types.ts';
import { deleteRedisKeysWithPrefix } from '../../src/state/redis/checkpoints.ts';
import { createKafkaTestLog, type KafkaLogFixture } from '../helpers/kafka.ts';
import { requireRedis } from '../helpers/services.ts';

const { url } = requireRedis();
const prefix = `kft-stale-${randomUUID()}`;
let fx: KafkaLogFixture;
let types: EventTypeSpec[];
const opened: Dedupe[] = [];
const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);

beforeAll(async () => {
  fx = await createKafkaTestLog();
  types = [
    { eventType: 'iot.sensor', topic: `${fx.topicPrefix}.sensors`, partitions: 3, valueField: 'value' },
    { eventType: 'transaction', topic: `${fx.topicPrefix}.tx`, partitions: 2, valueField: 'amount' },
  ];
  await fx.log.ensureTopics(types.map((t) => ({ name: t.topic, partitions: t.partitions })));
});

afterAll(async () => {
  for (const d of opened) await d.close().catch(() => undefined);
  const admin = new Redis(url);
  await deleteRedisKeysWithPrefix(admin, prefix);
  await admin.quit();
  await fx?.cleanup();
});

function eventFor(id: string, n: number) {
  return n % 3 === 0
    ? { eventId: id, eventType: 'transaction', userId: `u${n % 5}`, timestamp: new Date(T0 + n * 1000).toISOString(), payload: { amount: n } }
    : { eventId: id, eventType: 'iot.sensor', deviceId: `d${n % 7}`, timestamp: new Date(T0 + n * 1000).toISOString(), payload: { value: n } };
}

/**
 * A gateway whose process "dies" at its `die.at`-th append, before or after the append reaches
 * Kafka: the append throws and from then on its dedupe does nothing (a dead process releases no
 * claim and stores no receipt).
 */
function gateway(die?: { at: number; after: boolean }) {
  let calls = 0;
  let dead = false;
  const log: EventLog = Object.create(fx.log) as EventLog;
  log.append = async (topic, records, o) => {
    calls++;
    if (die && calls === die.at && !die.after) dead = true;
    if (dead) throw new Error('gateway died');
    const r = await fx.log.append(topic, records, o);
    if (die && calls === die.at && die.after) dead = true;
    if (dead) throw new Error('gateway died');
    return r;
  };
  const inner = createRedisDedupe({ url, keyPrefix: prefix, ttlMs: 3_600_000, pendingTtlMs: 1500, resolveStale: createLogClaimResolver({ log: fx.log }) });
  opened.push(inner);
  const dedupe: Dedupe = {
    kind: 'redis',
    claim: (id, where) => inner.claim(id, where),
    complete: async (id, r) => (dead ? undefined : inner.complete(id, r)),
    release: async (id) => (dead ? undefined : inner.release(id)),
    close: () => inner.close(),
  };
  const ingest = createIngest({
    log,
    registry: createEventTypeRegistry(types),
    dedupe,
    limits: { maxEventBytes: 4096, maxBatch: 1000, maxFutureSkewMs: 1e12 },
    appendAttempts: 1,
    inFlightWaitMs: 20_000,
  });
  return ingest;
}

async function copiesIn(ids: string[]): Promise<Map<string, { topic: string; partition: number; offset: number }[]>> {
  const want = new Set(ids);
  const out = new Map<string, { topic: string; partition: number; offset: number }[]>();
  for (const t of types) {
    const ends = await fx.log.endOffsets(t.topic);
    for (let p = 0; p < t.partitions; p++) {
      for (let from = 0; from < ends[p]!; ) {
        const recs = await fx.log.read(t.topic, p, from, 500);
        if (recs.length === 0) break;
        for (const r of recs) {
          const id = decodeEnvelope(r.value).eventId;
          if (want.has(id)) out.set(id, [...(out.get(id) ?? []), { topic: t.topic, partition: p, offset: r.offset }]);
        }
        from = recs[recs.length - 1]!.offset + 1;
      }
    }
  }
  return out;
}

describe('Redis dedupe: claims left pending by a gateway that died are resolved against Kafka', () => {
  for (const [name, die] of [
    ['after the append, before the receipt was stored', { at: 1, after: true }],
    ['before the append', { at: 1, after: false }],
    ['between the two topics of one batch', { at: 2, after: false }],
  ] as const) {
    it(`a gateway dies ${name}: the retry on another gateway appends each event once`, async () => {
      const run = randomUUID().slice(0, 8);
      const inputs = Array.from({ length: 40 }, (_, i) => eventFor(`${run}-${i}`, i));
      const a = gateway(die);
      await expect(a.publishBatch(inputs)).rejects.toThrow('gateway died');
      const landed = await copiesIn(inputs.map((e) => e.eventId));

      // the client retries on gateway B: it waits out the pending claims, then resolves them
      const b = gateway();
      const started = Date.now();
      const receipts = await b.publishBatch(inputs);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      const after = await copiesIn(inputs.map((e) => e.eventId));
      for (const e of inputs) expect(after.get(e.eventId), e.eventId).toHaveLength(1);
      for (const r of receipts) {
        const at = after.get(r.eventId)![0]!;
        expect({ topic: r.topic, partition: r.partition, offset: r.offset }).toEqual(at);
        expect(r.status).toBe(landed.has(r.eventId) ? 'DUPLICATE' : 'ACCEPTED');
      }
      // the first topic's events reached Kafka unless the gateway died before its first append
      if (die.after || die.at === 2) expect(new Set(receipts.map((r) => r.status))).toEqual(new Set(['ACCEPTED', 'DUPLICATE']));
      else expect(receipts.every((r) => r.status === 'ACCEPTED')).toBe(true);

      // and a third attempt answers DUPLICATE from the stored receipts, at once
      const again = await gateway().publishBatch(inputs);
      expect(again.map((r) => ({ ...r, status: 'DUPLICATE' }))).toEqual(receipts.map((r) => ({ ...r, status: 'DUPLICATE' })));
      expect(again.every((r) => r.status === 'DUPLICATE')).toBe(true);
    }, 60_000);
  }

  it('a stale claim whose log cannot be searched is kept: the publish fails retriably and appends nothing', async () => {
    const run = randomUUID().slice(0, 8);
    const inputs = [eventFor(`${run}-x`, 1)];
    await expect(gateway({ at: 1, after: true }).publishBatch(inputs)).rejects.toThrow('gateway died');
    const broken = createRedisDedupe({
      url,
      keyPrefix: prefix,
      ttlMs: 3_600_000,
      pendingTtlMs: 1500,
      resolveStale: async () => {
        throw new Error('log down');
      },
    });
    opened.push(broken);
    await new Promise((r) => setTimeout(r, 1600)); // the pause is the point: the claim must be stale
    await expect(broken.claim(`${run}-x`, { topic: types[0]!.topic, partition: 0 })).rejects.toMatchObject({ code: 'BROKER_UNAVAILABLE', retriable: true });
    // the next gateway resolves it from the log
    const receipts = await gateway().publishBatch(inputs);
    expect(receipts[0]!.status).toBe('DUPLICATE');
    expect((await copiesIn([`${run}-x`])).get(`${run}-x`)).toHaveLength(1);
  }, 30_000);
});
