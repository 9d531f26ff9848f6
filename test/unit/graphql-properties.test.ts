/** Property tests of the publish and query paths, through the GraphQL API in-process. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/log/port.ts';
import { decodeEnvelope } from '../../src/model/event.ts';
import { DEFAULT_EVENT_TYPES } from '../../src/model/event-types.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { createEmbeddedHarness, type Harness, PUBLISH, PUBLISH_MANY } from '../helpers/graphql-harness.ts';

/** Runs `body` against the real embedded log and in-process bus, then cleans up. */
async function withHarness(body: (h: Harness<EventLog>) => Promise<void>): Promise<void> {
  const h = await createEmbeddedHarness({ feedBus: false });
  try {
    await body(h);
  } finally {
    await h.close();
  }
}

async function recordCount(h: Harness<EventLog>): Promise<number> {
  let n = 0;
  for (const t of h.services.registry.all()) for (const x of await h.log.endOffsets(t.topic)) n += x;
  return n;
}

interface Receipt {
  status: string;
  eventId: string;
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
}

const typeSpec = fc.constantFrom(...DEFAULT_EVENT_TYPES);
const id = fc.stringMatching(/^[A-Za-z0-9._:-]{1,24}$/);

/** ISO-8601 with a random offset: the same instant written in another zone. */
const isoWithOffset = fc
  // up to now: a later event time is refused (TIMESTAMP_OUT_OF_RANGE, see graphql-fuzz.test.ts and event-bounds.test.ts)
  .tuple(fc.integer({ min: Date.UTC(1900, 0, 1), max: Date.now() }), fc.integer({ min: -48, max: 56 }))
  .map(([ms, quarterHours]) => {
    const offsetMin = quarterHours * 15;
    const local = new Date(ms + offsetMin * 60_000).toISOString().slice(0, 23);
    const sign = offsetMin < 0 ? '-' : '+';
    const abs = Math.abs(offsetMin);
    const zone = offsetMin === 0 ? 'Z' : `${sign}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
    return { iso: `${local}${zone}`, ms };
  });

// a valid payload has no `__proto__` key at any depth (README, "What an event may hold": it is refused)
const payload = fc
  .dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 })
  .map((p) => JSON.parse(JSON.stringify(p)))
  .filter((p) => !JSON.stringify(p).includes('"__proto__"'));

const validEvent = fc.record({
  spec: typeSpec,
  eventId: fc.option(id, { nil: undefined }),
  deviceId: fc.option(id, { nil: null }),
  userId: fc.option(id, { nil: null }),
  ts: isoWithOffset,
  payload,
});

type Gen = typeof validEvent extends fc.Arbitrary<infer T> ? T : never;

function toInput(e: Gen): Record<string, unknown> {
  return { eventId: e.eventId, eventType: e.spec.eventType, deviceId: e.deviceId, userId: e.userId, timestamp: e.ts.iso, payload: e.payload };
}

describe('GraphQL publish and query properties', () => {
  it('routes every valid event to the topic of its type, stored as sent', async () => {
    // Feature: keyflow, Property 2: Event routing correctness
    await withHarness(async (h) => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(validEvent, async (e) => {
        // Ids unique per run: a repeated id would (rightly) answer with the first event's receipt.
        const eventId = e.eventId === undefined ? undefined : `${e.eventId}-${n++}`;
        const r = await h.gql(PUBLISH, { input: { ...toInput(e), eventId } });
        expect(r.body.errors).toBeUndefined();
        const receipt = r.body.data!.publishEvent as Receipt;
        expect(receipt.topic).toBe(e.spec.topic);
        const [rec] = await h.log.read(receipt.topic, receipt.partition, Number(receipt.offset), 1);
        const stored = decodeEnvelope(rec!.value);
        expect(stored.eventType).toBe(e.spec.eventType);
        expect(stored.eventId).toBe(receipt.eventId);
        expect(stored.timestamp).toBe(e.ts.ms);
        expect(stored.payload).toEqual(e.payload);
      }),
      { numRuns: 100 },
    );
    });
  });

  it('every receipt names eventId, topic, partition and offset of the appended record', async () => {
    // Feature: keyflow, Property 11: API response completeness
    await withHarness(async (h) => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(validEvent, { minLength: 1, maxLength: 5 }), async (events) => {
        const inputs = events.map((e) => ({ ...toInput(e), eventId: `${e.eventId ?? 'gen'}-${n++}` }));
        const r = await h.gql(PUBLISH_MANY, { inputs });
        expect(r.body.errors).toBeUndefined();
        const receipts = r.body.data!.publishEvents as Receipt[];
        expect(receipts).toHaveLength(events.length);
        receipts.forEach((receipt, i) => {
          const spec = events[i]!.spec;
          expect(receipt.status).toBe('ACCEPTED');
          expect(receipt.eventId).toBe(inputs[i]!.eventId);
          expect(receipt.topic).toBe(spec.topic);
          expect(Number.isInteger(receipt.partition) && receipt.partition >= 0 && receipt.partition < spec.partitions).toBe(true);
          expect(receipt.offset).toMatch(/^(0|[1-9]\d*)$/);
          expect(receipt.timestamp).toBe(new Date(events[i]!.ts.ms).toISOString());
        });
        for (const receipt of receipts) {
          const [rec] = await h.log.read(receipt.topic, receipt.partition, Number(receipt.offset), 1);
          expect(decodeEnvelope(rec!.value).eventId).toBe(receipt.eventId);
        }
      }),
      { numRuns: 100 },
    );
    });
  });

  it('events with the same partition key land in the same partition (murmur2 of the key)', async () => {
    // Feature: keyflow, Property 4: Partition key consistency
    await withHarness(async (h) => {
    await fc.assert(
      fc.asyncProperty(typeSpec, id, fc.boolean(), validEvent, validEvent, async (spec, key, viaUser, a, b) => {
        // The key is deviceId when present, else userId: reach it both ways.
        const first = { ...toInput(a), eventId: undefined, eventType: spec.eventType, deviceId: key };
        const second = viaUser
          ? { ...toInput(b), eventId: undefined, eventType: spec.eventType, deviceId: null, userId: key }
          : { ...toInput(b), eventId: undefined, eventType: spec.eventType, deviceId: key };
        const r = await h.gql(PUBLISH_MANY, { inputs: [first, second] });
        const [x, y] = r.body.data!.publishEvents as Receipt[];
        expect(x!.partition).toBe(y!.partition);
        expect(x!.partition).toBe(partitionForKey(key, spec.partitions));
      }),
      { numRuns: 100 },
    );
    });
  });

  it('latestEvents returns the topic\'s last appended events, newest event time first', async () => {
    // Feature: keyflow, Property 12: Recent events query correctness
    await withHarness(async (h) => {
      // Event times in append order per topic, over every run (the log is shared by the runs).
      const appended = new Map<string, number[]>();
      let n = 0;
      await fc.assert(
        fc.asyncProperty(fc.array(validEvent, { maxLength: 30 }), typeSpec, fc.integer({ min: 1, max: 40 }), async (events, spec, limit) => {
          // One publish per event: the records of one append call share an append time, so only
          // separate calls give "last appended" a single answer.
          for (const e of events) {
            const r = await h.gql(PUBLISH, { input: { ...toInput(e), eventId: `p12-${n++}` } });
            expect(r.body.errors).toBeUndefined();
            appended.set(e.spec.topic, [...(appended.get(e.spec.topic) ?? []), e.ts.ms]);
          }
          const r = await h.gql('query($t: String!, $l: Int) { latestEvents(topic: $t, limit: $l) { eventId topic timestamp eventType } }', {
            t: spec.topic,
            l: limit,
          });
          expect(r.body.errors).toBeUndefined();
          const got = r.body.data!.latestEvents as { eventId: string; topic: string; timestamp: string; eventType: string }[];
          const all = appended.get(spec.topic) ?? [];
          const newest = all.slice(Math.max(0, all.length - limit));
          expect(got).toHaveLength(newest.length);
          for (const e of got) {
            expect(e.topic).toBe(spec.topic);
            expect(e.eventType).toBe(spec.eventType);
          }
          const times = got.map((e) => Date.parse(e.timestamp));
          expect(times).toEqual([...times].sort((p, q) => q - p));
          expect(times).toEqual([...newest].sort((p, q) => q - p));
        }),
        { numRuns: 100 },
      );
    });
  });

  it('publishing an eventId again appends nothing and returns the first receipt as DUPLICATE', async () => {
    // Feature: keyflow, Property 11 (idempotent publish): a repeated eventId yields the first receipt, status DUPLICATE
    await withHarness(async (h) => {
    let n = 0;
    await fc.assert(
      fc.asyncProperty(validEvent, validEvent, async (a, b) => {
        const eventId = `idem-${n++}`;
        const first = await h.gql(PUBLISH, { input: { ...toInput(a), eventId } });
        const before = await recordCount(h);
        const again = await h.gql(PUBLISH, { input: { ...toInput(b), eventType: a.spec.eventType, eventId } });
        expect(await recordCount(h)).toBe(before);
        expect(again.body.data!.publishEvent).toEqual({ ...(first.body.data!.publishEvent as Receipt), status: 'DUPLICATE' });
      }),
      { numRuns: 100 },
    );
    });
  });
});
