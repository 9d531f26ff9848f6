/**
 * The embedded dedupe's compact index and its rebuild from the log (issue 8, part 1):
 * - the index against a reference model (a Map in insertion order), property-tested;
 * - the eventId fingerprint from a string equals the one read from a record value's bytes;
 * - crashes: a publish killed at any point (before the append, between the append and the
 *   receipt, between the topics of one batch) and retried with the same eventIds until
 *   acknowledged leaves every event in the log exactly once, and the retry answers DUPLICATE with
 *   the original receipt for what had landed (property test against the set of published ids);
 * - the rebuild keeps the horizon and the size bound, and works on the real embedded file log.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { CompactIndex } from '../../src/ingest/dedupe/compact-index.ts';
import { eventIdSpan, type Fingerprint, fingerprintString } from '../../src/ingest/dedupe/event-id-hash.ts';
import { readRecordEvent } from '../../src/ingest/dedupe/log-records.ts';
import { createMemoryDedupe } from '../../src/ingest/dedupe/memory.ts';
import type { StoredReceipt } from '../../src/ingest/dedupe/port.ts';
import { createIngest, type EventReceipt } from '../../src/ingest/ingest.ts';
import type { EventLog } from '../../src/log/index.ts';
import { createFileLog } from '../../src/log/index.ts';
import { decodeEnvelope, encodeEnvelope } from '../../src/model/event.ts';
import { createEventTypeRegistry, type EventTypeSpec } from '../../src/model/event-types.ts';
import { createMemoryLog } from '../helpers/memory-log.ts';

const TYPES: EventTypeSpec[] = [
  { eventType: 'iot.sensor', topic: 'events.iot.sensors', partitions: 3, valueField: 'value' },
  { eventType: 'transaction', topic: 'events.transactions', partitions: 2, valueField: 'amount' },
];
const TOPICS = TYPES.map((t) => t.topic);
const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);

function eventFor(id: string, n: number) {
  return n % 3 === 0
    ? { eventId: id, eventType: 'transaction', userId: `u${n % 5}`, timestamp: new Date(T0 + n * 1000).toISOString(), payload: { amount: n } }
    : { eventId: id, eventType: 'iot.sensor', deviceId: `d${n % 7}`, timestamp: new Date(T0 + n * 1000).toISOString(), payload: { value: n } };
}

async function allRecords(log: EventLog): Promise<{ eventId: string; topic: string; partition: number; offset: number }[]> {
  const out: { eventId: string; topic: string; partition: number; offset: number }[] = [];
  for (const topic of TOPICS) {
    const n = (await log.partitions(topic)) ?? 0;
    for (let p = 0; p < n; p++) {
      for (let from = 0; ; ) {
        const recs = await log.read(topic, p, from, 500);
        if (recs.length === 0) break;
        for (const r of recs) out.push({ eventId: decodeEnvelope(r.value).eventId, topic, partition: p, offset: r.offset });
        from = recs[recs.length - 1]!.offset + 1;
      }
    }
  }
  return out;
}

describe('compact dedupe index', () => {
  it('behaves like a bounded insertion-ordered map with expiry (property)', () => {
    type Op = { k: 'put'; id: number; ttl: number } | { k: 'find'; id: number } | { k: 'tick'; ms: number } | { k: 'del'; id: number };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ k: fc.constant('put' as const), id: fc.nat(30), ttl: fc.integer({ min: 1, max: 50 }) }),
      fc.record({ k: fc.constant('find' as const), id: fc.nat(30) }),
      fc.record({ k: fc.constant('tick' as const), ms: fc.integer({ min: 1, max: 20 }) }),
      fc.record({ k: fc.constant('del' as const), id: fc.nat(30) }),
    );
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 300 }), (max, ops) => {
        const index = new CompactIndex(max);
        const model = new Map<number, { receipt: StoredReceipt; exp: number }>();
        const fp: Fingerprint = { hi: 0, lo: 0 };
        let now = 1000;
        let seq = 0;
        for (const o of ops) {
          if (o.k === 'tick') now += o.ms;
          else if (o.k === 'put') {
            const receipt = { topic: `t${o.id % 3}`, partition: o.id % 4, offset: seq++, timestamp: now * 2 };
            // model: expired entries at the front go, the id's old entry goes, then the oldest when full
            for (const [k, v] of model) {
              if (v.exp > now) break;
              model.delete(k);
            }
            model.delete(o.id);
            if (model.size === max) model.delete(model.keys().next().value!);
            model.set(o.id, { receipt, exp: now + o.ttl });
            index.put(fingerprintString(`id-${o.id}`, fp), receipt, now + o.ttl, now);
          } else if (o.k === 'del') {
            model.delete(o.id);
            index.delete(fingerprintString(`id-${o.id}`, fp));
          } else {
            const m = model.get(o.id);
            const r = index.find(fingerprintString(`id-${o.id}`, fp), now);
            if (m && m.exp > now) expect(index.receipt(r)).toEqual(m.receipt);
            else expect(r).toBe(-1);
          }
          expect(index.size).toBeLessThanOrEqual(max);
        }
        for (let id = 0; id <= 30; id++) {
          const m = model.get(id);
          const r = index.find(fingerprintString(`id-${id}`, fp), now);
          if (m && m.exp > now) expect(index.receipt(r)).toEqual(m.receipt);
          else expect(r).toBe(-1);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('holds 100,000 entries in under 50 bytes each, whatever the eventId length', () => {
    const index = new CompactIndex(100_000);
    const fp: Fingerprint = { hi: 0, lo: 0 };
    const receipt = { topic: 'events.iot.sensors', partition: 1, offset: 0, timestamp: T0 };
    for (let i = 0; i < 100_000; i++) index.put(fingerprintString(`${'x'.repeat(240)}-${i}`, fp), { ...receipt, offset: i }, T0 + 1e9, T0);
    expect(index.size).toBe(100_000);
    expect(index.bytes / index.size).toBeLessThan(50);
    for (let i = 0; i < 100_000; i += 997) expect(index.receipt(index.find(fingerprintString(`${'x'.repeat(240)}-${i}`, fp), T0)).offset).toBe(i);
    expect(index.find(fingerprintString('absent', fp), T0)).toBe(-1);
  });

  it('reads the same fingerprint from a record value as from the eventId string (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1, maxLength: 256 }), fc.boolean(), (id, fieldsFirst) => {
        const env = decodeEnvelope(JSON.stringify({ eventId: 'x', timestamp: '2026-01-15T10:00:00.000Z', eventType: 't', payload: {} }));
        const value = fieldsFirst
          ? new TextEncoder().encode(encodeEnvelope({ ...env, eventId: id }))
          : new TextEncoder().encode(JSON.stringify({ eventType: 't', payload: {}, timestamp: '2026-01-15T10:00:00.000Z', eventId: id }));
        const a: Fingerprint = { hi: 0, lo: 0 };
        const b: Fingerprint = { hi: 0, lo: 0 };
        // JSON cannot carry a lone surrogate as itself: the envelope's eventId is what it decodes to
        const decodedId = decodeEnvelope(value).eventId;
        expect(readRecordEvent(value, a)).toBe(Date.parse('2026-01-15T10:00:00.000Z'));
        fingerprintString(decodedId, b);
        expect(a).toEqual(b);
      }),
      { numRuns: 300 },
    );
    const span = { start: 0, end: 0 };
    expect(eventIdSpan(new TextEncoder().encode('{"eventId":"a\\"b","timestamp":"x"}'), span)).toBe(false);
    expect(eventIdSpan(new TextEncoder().encode('{"eventId":"ab","timestamp":"x"}'), span)).toBe(true);
  });
});

/** A log that dies (throws, and the "process" stops) before or right after one chosen append. */
function crashingLog(inner: EventLog) {
  let armed: { at: number; after: boolean } | null = null;
  let calls = 0;
  const log: EventLog = Object.create(inner) as EventLog;
  log.append = async (topic, records, o) => {
    calls++;
    if (armed && calls === armed.at && !armed.after) throw new Error('crash');
    const r = await inner.append(topic, records, o);
    if (armed && calls === armed.at && armed.after) throw new Error('crash');
    return r;
  };
  return {
    log,
    arm(at: number, after: boolean) {
      armed = { at, after };
      calls = 0;
    },
    disarm() {
      armed = null;
    },
  };
}

describe('embedded dedupe across crashes', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  function node(log: EventLog, clock = createSimulatedClock(T0), maxEntries = 10_000) {
    const dedupe = createMemoryDedupe({ maxEntries, ttlMs: 3_600_000, clock, recover: { log, topics: () => TOPICS } });
    const ingest = createIngest({
      log,
      registry: createEventTypeRegistry(TYPES),
      dedupe,
      clock,
      limits: { maxEventBytes: 4096, maxBatch: 1000, maxFutureSkewMs: 1e12 },
      appendAttempts: 1,
    });
    return { dedupe, ingest };
  }

  it('batches retried until acknowledged across random crashes land exactly once (property)', async () => {
    const batch = fc.array(fc.nat(40), { minLength: 1, maxLength: 12 });
    const crash = fc.option(fc.record({ at: fc.integer({ min: 1, max: 2 }), after: fc.boolean() }), { freq: 2 });
    await fc.assert(
      fc.asyncProperty(fc.array(fc.record({ ids: batch, crash }), { minLength: 1, maxLength: 15 }), async (plan) => {
        const clock = createSimulatedClock(T0);
        const mem = createMemoryLog(() => clock.now());
        const c = crashingLog(mem);
        let n = node(c.log, clock);
        await n.dedupe.start();
        const acked: EventReceipt[] = [];
        for (const step of plan) {
          const inputs = step.ids.map((i) => eventFor(`ev-${i}`, i));
          if (step.crash) c.arm(step.crash.at, step.crash.after);
          for (let attempt = 0; ; attempt++) {
            expect(attempt).toBeLessThan(3);
            try {
              acked.push(...(await n.ingest.publishBatch(inputs)));
              break;
            } catch {
              // the node died: a new one rebuilds its dedupe from the log, the client retries
              c.disarm();
              n = node(c.log, clock);
              await n.dedupe.start();
            }
          }
          clock.advance(1000);
        }
        const records = await allRecords(mem);
        const published = new Set(plan.flatMap((s) => s.ids.map((i) => `ev-${i}`)));
        expect(records.map((r) => r.eventId).sort()).toEqual([...published].sort());
        const where = new Map(records.map((r) => [r.eventId, r]));
        const accepted = new Map<string, number>();
        for (const r of acked) {
          expect(where.get(r.eventId)).toEqual({ eventId: r.eventId, topic: r.topic, partition: r.partition, offset: r.offset });
          if (r.status === 'ACCEPTED') accepted.set(r.eventId, (accepted.get(r.eventId) ?? 0) + 1);
        }
        expect([...accepted.values()].every((x) => x === 1)).toBe(true);
      }),
      { numRuns: 150 },
    );
  });

  it('rebuilds only the horizon, and at most maxEntries (the newest share of each partition)', async () => {
    const clock = createSimulatedClock(T0);
    const mem = createMemoryLog(() => clock.now());
    let n = node(mem, clock);
    await n.dedupe.start();
    await n.ingest.publishBatch([eventFor('old-1', 1), eventFor('old-2', 2), eventFor('old-3', 3)]);
    clock.advance(3_600_000 - 10);
    await n.ingest.publishBatch(Array.from({ length: 30 }, (_, i) => eventFor(`new-${i}`, i)));
    clock.advance(20); // old-* are now past the horizon
    n = node(mem, clock);
    await n.dedupe.start();
    expect(n.dedupe.recovery).toMatchObject({ indexed: 30 });
    expect((await n.dedupe.claim('old-1')).status).toBe('claimed');
    expect((await n.dedupe.claim('new-29')).status).toBe('done');

    const small = node(mem, clock, 10);
    await small.dedupe.start();
    expect(small.dedupe.stats().entries).toBeLessThanOrEqual(10);
    expect(small.dedupe.stats().entries).toBeGreaterThanOrEqual(7);
    // the last record of every partition is among the kept ones
    const records = await allRecords(mem);
    for (const topic of TOPICS) {
      for (let p = 0; p < 3; p++) {
        const last = records.filter((r) => r.topic === topic && r.partition === p && r.eventId.startsWith('new-')).at(-1);
        if (last) expect((await small.dedupe.claim(last.eventId)).status, last.eventId).toBe('done');
      }
    }
  });

  it('on the real embedded log: a restart answers DUPLICATE with the original receipt', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kf-dedupe-'));
    dirs.push(dir);
    let log = createFileLog({ dataDir: dir, logger: { warn() {}, error() {} } });
    await log.start();
    await log.ensureTopics(TYPES.map((t) => ({ name: t.topic, partitions: t.partitions })));
    let n = node(log, createSimulatedClock(Date.now()));
    await n.dedupe.start();
    const first = await n.ingest.publishBatch(Array.from({ length: 50 }, (_, i) => eventFor(`f-${i}`, i)));
    await log.close();
    log = createFileLog({ dataDir: dir, logger: { warn() {}, error() {} } });
    await log.start();
    n = node(log, createSimulatedClock(Date.now()));
    await n.dedupe.start();
    expect(n.dedupe.recovery).toMatchObject({ indexed: 50, records: 50 });
    const again = await n.ingest.publishBatch(Array.from({ length: 51 }, (_, i) => eventFor(`f-${i}`, i)));
    expect(again.slice(0, 50)).toEqual(first.map((r) => ({ ...r, status: 'DUPLICATE' })));
    expect(again[50]!.status).toBe('ACCEPTED');
    expect((await allRecords(log)).length).toBe(51);
    await log.close();
  });
});
