/**
 * Issue 8, part 1, as a partner would try it on the embedded node (`keyflow start` as a child
 * process): 2,000 events for 320 actors in batches of 200 with fixed eventIds; the node is
 * SIGKILLed at random moments of random batches (before the request is read, during the append,
 * after the answer) and restarted; the client re-sends every batch that was not acknowledged,
 * unchanged, until it is. Then, after one more kill, the client re-sends every batch once more,
 * as a client that lost all its answers would.
 *
 * What must hold:
 * 1. every event is in the log exactly once;
 * 2. every receipt (ACCEPTED or DUPLICATE) names the record holding that event, and the final
 *    re-send answers DUPLICATE with the first receipt for all 2,000 (the horizon survived the kills);
 * 3. every actor's windows equal the reference model (test/helpers/reference-model.ts) computed
 *    from the 2,000 inputs, each counted once.
 * The kill moments vary per run; KEYFLOW_E2E_KILL_SEED replays one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { WindowResult } from '../../src/actors/windows/index.ts';
import { createRandom } from '../../src/loadgen/index.ts';
import { createFileLog } from '../../src/log/index.ts';
import { decodeEnvelope } from '../../src/model/event.ts';
import { DEFAULT_EVENT_TYPES } from '../../src/model/event-types.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { startServer, stopAllServers } from '../helpers/e2e.ts';
import { gql, KEY_STATE, type KeyStateOut, PUBLISH_EVENTS, type Receipt, WINDOWS, type WindowResultOut } from '../helpers/graphql-client.ts';
import { diffResults, type RefEvent, referenceWindows } from '../helpers/reference-model.ts';
import { waitFor } from '../helpers/wait.ts';

const EVENTS = 2000;
const BATCH = 200;
const WINDOW_SPECS = ['tumbling-1m', 'tumbling-5m', 'sliding-5m-1m'];
const BASE = Date.UTC(2025, 5, 1, 0, 0, 0);
const SPAN_MS = 3_600_000;
const FLUSH_AT = BASE + SPAN_MS + 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

interface Input {
  eventId: string;
  timestamp: string;
  eventType: string;
  deviceId: string;
  userId?: string;
  payload: Record<string, unknown>;
}

const KEYS: { eventType: string; key: string }[] = [
  ...Array.from({ length: 120 }, (_, i) => ({ eventType: 'iot.sensor', key: `xo-s${i}` })),
  ...Array.from({ length: 120 }, (_, i) => ({ eventType: 'clickstream', key: `xo-c${i}` })),
  ...Array.from({ length: 80 }, (_, i) => ({ eventType: 'transaction', key: `xo-t${i}` })),
];

function payloadFor(eventType: string, amount: number): Record<string, unknown> {
  if (eventType === 'iot.sensor') return { value: amount };
  if (eventType === 'transaction') return { amount, currency: 'EUR' };
  return { page: `/p/${Math.floor(amount) % 4}` };
}

function generate(run: string): Input[] {
  const r = createRandom(20260115);
  const out: Input[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const { eventType, key } = KEYS[Math.floor(r() * KEYS.length)]!;
    const user = r() < 0.8 ? `xo-u${Math.floor(r() * 9)}` : undefined;
    const amount = Math.round(r() * 10_000) / 100;
    // event time rises with the index: the log order of a partition is the input order, nothing is late
    out.push({ eventId: `${run}-${i}`, timestamp: iso(BASE + Math.floor((i * SPAN_MS) / EVENTS)), eventType, deviceId: key, ...(user ? { userId: user } : {}), payload: payloadFor(eventType, amount) });
  }
  return out;
}

const fromOut = (w: WindowResultOut): WindowResult => ({ ...w, windowStart: Date.parse(w.windowStart), windowEnd: Date.parse(w.windowEnd) });

afterAll(async () => {
  await stopAllServers();
});

describe('exactly once across SIGKILLs with a client that retries (embedded)', () => {
  it('every event is in the log once, retries answer DUPLICATE with the first receipt, windows equal the model', async () => {
    const run = `xo-${Date.now().toString(36)}`;
    const inputs = generate(run);
    const flush: Input[] = KEYS.map(({ eventType, key }, i) => ({ eventId: `${run}-flush-${i}`, timestamp: iso(FLUSH_AT), eventType, deviceId: key, payload: payloadFor(eventType, 1) }));
    const all = [...inputs, ...flush];
    const batches: Input[][] = [];
    for (let i = 0; i < all.length; i += BATCH) batches.push(all.slice(i, i + BATCH));
    const killSeed = Number(process.env.KEYFLOW_E2E_KILL_SEED ?? Date.now() % 1_000_000_007);
    const r = createRandom(killSeed);

    const s = await startServer({
      env: { KEYFLOW_CHECKPOINT_INTERVAL_MS: '200', KEYFLOW_IDLE_TIMEOUT_MS: '1h', KEYFLOW_WINDOWS: WINDOW_SPECS.join(','), KEYFLOW_SINKS: 'none', KEYFLOW_LOG_LEVEL: 'info' },
    });
    const timeline: string[] = [`kill seed ${killSeed}`];
    const receipts = new Map<string, Receipt>(); // the first acknowledged receipt of each event
    const answered: Receipt[] = [];
    let kills = 0;
    const durations: number[] = [];
    try {
      for (let b = 0; b < batches.length; b++) {
        const batch = batches[b]!;
        for (let attempt = 0; ; attempt++) {
          let killing: Promise<unknown> | undefined;
          let delay = 0;
          // most first attempts and some retries are killed, somewhere from before the request is read to after the answer
          if (r() < (attempt === 0 ? 0.7 : 0.3)) {
            const typical = durations.length > 0 ? durations.reduce((x, y) => x + y, 0) / durations.length : 150;
            delay = Math.floor(r() * typical * 1.5);
            killing = new Promise((res) => setTimeout(res, delay)).then(() => s.kill('SIGKILL'));
          }
          const sent = Date.now();
          const acked = await gql<{ publishEvents: Receipt[] }>(s.url, PUBLISH_EVENTS, { inputs: batch }).then(
            (d) => d.publishEvents,
            () => undefined,
          );
          if (acked && !killing) durations.push(Date.now() - sent);
          if (killing) {
            await killing;
            kills++;
            await s.restart();
            timeline.push(`kill ${kills}: batch ${b} attempt ${attempt} +${delay}ms (${acked ? 'acked' : 'not acked'})`);
          }
          if (acked) {
            expect(acked.map((x) => x.eventId)).toEqual(batch.map((e) => e.eventId));
            answered.push(...acked);
            for (const x of acked) if (!receipts.has(x.eventId)) receipts.set(x.eventId, x);
            break;
          }
          expect(killing, `batch ${b} failed without a kill`).toBeDefined();
          expect(attempt, `batch ${b} still not acknowledged`).toBeLessThan(10);
        }
      }
      // a client that lost every answer sends everything again, after one more crash
      await s.kill('SIGKILL');
      kills++;
      await s.restart();
      for (const batch of batches) {
        const again = (await gql<{ publishEvents: Receipt[] }>(s.url, PUBLISH_EVENTS, { inputs: batch })).publishEvents;
        for (const x of again) {
          expect(x.status, x.eventId).toBe('DUPLICATE');
          const { status: _a, ...first } = receipts.get(x.eventId)!;
          const { status: _b, ...now } = x;
          expect(now).toEqual(first);
        }
      }
      const duplicatesAnswered = answered.filter((x) => x.status === 'DUPLICATE').length;
      timeline.push(`${duplicatesAnswered} DUPLICATE answers to retries during the kills`);

      const states = await waitFor(
        async () => {
          const out = new Map<string, KeyStateOut>();
          for (const { eventType, key } of KEYS) {
            const { keyState } = await gql<{ keyState: KeyStateOut | null }>(s.url, KEY_STATE, { eventType, key });
            if (!keyState || keyState.lastEventTime !== iso(FLUSH_AT)) return false;
            out.set(`${eventType}|${key}`, keyState);
          }
          return out;
        },
        { timeoutMs: 120_000, intervalMs: 500, message: 'every key processed its flush event' },
      );
      const actual: WindowResult[] = [];
      for (const { eventType, key } of KEYS) {
        const { windows } = await gql<{ windows: WindowResultOut[] }>(s.url, WINDOWS, { eventType, key });
        actual.push(...windows.map(fromOut));
      }
      await s.stop({ keepData: true });

      // 1. the log holds every event exactly once
      const log = createFileLog({ dataDir: s.dataDir, logger: { warn() {}, error() {} } });
      await log.start();
      const where = new Map<string, { topic: string; partition: number; offset: number }[]>();
      try {
        for (const t of DEFAULT_EVENT_TYPES) {
          const n = (await log.partitions(t.topic)) ?? 0;
          for (let p = 0; p < n; p++) {
            for (let from = 0; ; ) {
              const records = await log.read(t.topic, p, from, 1000);
              if (records.length === 0) break;
              for (const rec of records) {
                const id = decodeEnvelope(rec.value).eventId;
                if (!id.startsWith(run)) continue;
                where.set(id, [...(where.get(id) ?? []), { topic: t.topic, partition: p, offset: rec.offset }]);
              }
              from = records[records.length - 1]!.offset + 1;
            }
          }
        }
      } finally {
        await log.close();
      }
      const copies = [...where].filter(([, at]) => at.length !== 1).map(([id, at]) => `${id} x${at.length}`);
      expect(copies, 'events in the log more than once').toEqual([]);
      expect(all.filter((e) => !where.has(e.eventId)).map((e) => e.eventId), 'events missing from the log').toEqual([]);
      expect(where.size).toBe(all.length);
      // 2. every answer names the record that holds the event
      for (const x of answered) expect({ topic: x.topic, partition: x.partition, offset: Number(x.offset) }).toEqual(where.get(x.eventId)![0]);

      // 3. each actor counted every event once: the model over the inputs
      const perKeyInputs = new Map<string, number>();
      for (const e of all) perKeyInputs.set(`${e.eventType}|${e.deviceId}`, (perKeyInputs.get(`${e.eventType}|${e.deviceId}`) ?? 0) + 1);
      for (const { eventType, key } of KEYS) expect(states.get(`${eventType}|${key}`)!.eventsProcessed, `${eventType}|${key}`).toBe(perKeyInputs.get(`${eventType}|${key}`));
      const expected: WindowResult[] = [];
      for (const t of DEFAULT_EVENT_TYPES) {
        const byPartition = new Map<number, RefEvent[]>();
        for (const e of all) {
          if (e.eventType !== t.eventType) continue;
          const p = partitionForKey(e.deviceId, t.partitions);
          const list = byPartition.get(p) ?? [];
          list.push({ eventType: e.eventType, key: e.deviceId, timestamp: Date.parse(e.timestamp), userId: e.userId ?? null, payload: e.payload });
          byPartition.set(p, list);
        }
        for (const events of byPartition.values()) {
          expected.push(...referenceWindows(events, { specs: WINDOW_SPECS, valueField: () => t.valueField, maxOutOfOrderMs: 10_000 }).results);
        }
      }
      const diff = diffResults(actual, expected);
      expect(diff.slice(0, 30), `${diff.length} differences`).toEqual([]);
      expect(actual.length).toBe(expected.length);
      expect(kills).toBeGreaterThanOrEqual(3);
      console.log(`retry-exactly-once: ${kills} kills, ${where.size} events once each, ${actual.length} windows compared; ${timeline.join(', ')}`);
    } catch (e) {
      if (e instanceof Error) e.message += `\ntimeline: ${timeline.join(', ')}\n--- server output (tail) ---\n${s.output().slice(-6000)}`;
      throw e;
    } finally {
      await s.stop();
    }
  }, 480_000);
});
