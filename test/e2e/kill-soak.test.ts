/**
 * Soak: the embedded node (`keyflow start` as a child process) is SIGKILLed 26 times while a
 * client publishes a fixed stream of events (fixed eventIds) in batches and retries every batch
 * that was not acknowledged, unchanged, until it is. 25 kills land at random moments of random
 * batches — before the request is read, during the append, after the answer while the processor
 * catches up and checkpoints (100 ms interval, so kills also land mid-checkpoint and mid-flush) —
 * and one more right after the last batch. The log is not fsynced per append
 * (KEYFLOW_LOG_FSYNC=false, the default), so the checkpoint-time flush is what is exercised.
 *
 * What it proves, at the end:
 * 1. every event the client published is in the log (an acknowledged batch is never lost);
 * 2. every event is in the log exactly once: the embedded dedupe is rebuilt from the log at
 *    start (issue 8), so a retry of a batch that had partly or wholly landed before a kill answers
 *    DUPLICATE for what landed and appends only the rest;
 * 3. every key's `eventsProcessed` equals its records in the log (each counted exactly once);
 * 4. every window of every key equals the reference model (test/helpers/reference-model.ts)
 *    computed from the records actually in the log, partition by partition in offset order.
 *
 * Windows are tumbling and sliding only: a duplicate appended later may be late, and the
 * reference model decides lateness for those (it does not model late session events).
 * The kill moments vary per run; KEYFLOW_E2E_KILL_SEED replays one.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { WindowResult } from '../../src/actors/windows/index.ts';
import { createRandom } from '../../src/loadgen/index.ts';
import { createFileLog } from '../../src/log/index.ts';
import { decodeEnvelope } from '../../src/model/event.ts';
import { DEFAULT_EVENT_TYPES } from '../../src/model/event-types.ts';
import { startServer, stopAllServers } from '../helpers/e2e.ts';
import { KEY_STATE, type KeyStateOut, PUBLISH_EVENTS, type Receipt, WINDOWS, type WindowResultOut, gql } from '../helpers/graphql-client.ts';
import { type RefEvent, diffResults, referenceWindows } from '../helpers/reference-model.ts';
import { waitFor } from '../helpers/wait.ts';

const SEED = 20260109;
const EVENTS = 1800;
const BATCH = 30;
const KILLS_DURING_PUBLISH = 25;
const WINDOW_SPECS = ['tumbling-1m', 'tumbling-5m', 'sliding-5m-1m'];
const BASE = Date.UTC(2025, 3, 1, 0, 0, 0);
const SPAN_MS = 2 * 3_600_000;
/** One event per key this far ahead closes every window of the stream. */
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
  ...[0, 1, 2].map((i) => ({ eventType: 'iot.sensor', key: `soak-s${i}` })),
  ...[0, 1, 2].map((i) => ({ eventType: 'clickstream', key: `soak-c${i}` })),
  ...[0, 1].map((i) => ({ eventType: 'transaction', key: `soak-t${i}` })),
];

function payloadFor(eventType: string, amount: number, page: number): Record<string, unknown> {
  if (eventType === 'iot.sensor') return { value: amount };
  if (eventType === 'transaction') return { amount, currency: 'EUR' };
  return { page: `/p/${page}` };
}

function generate(run: string): Input[] {
  const r = createRandom(SEED);
  const out: Input[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const { eventType, key } = KEYS[Math.floor(r() * KEYS.length)]!;
    const disorder = r() < 0.2 ? Math.floor(r() * 8_000) : 0; // below the 10 s out-of-orderness
    const ts = Math.max(BASE, BASE + Math.floor((i * SPAN_MS) / EVENTS) - disorder);
    const user = r() < 0.8 ? `soak-u${Math.floor(r() * 6)}` : undefined;
    const amount = Math.round(r() * 10_000) / 100;
    out.push({ eventId: `${run}-${i}`, timestamp: iso(ts), eventType, deviceId: key, ...(user ? { userId: user } : {}), payload: payloadFor(eventType, amount, Math.floor(r() * 4)) });
  }
  return out;
}

function fromOut(w: WindowResultOut): WindowResult {
  return { ...w, windowStart: Date.parse(w.windowStart), windowEnd: Date.parse(w.windowEnd) };
}

afterAll(async () => {
  await stopAllServers();
});

describe('soak: SIGKILL the embedded node 26 times while a client publishes and retries', () => {
  it('nothing acknowledged is lost, and every window equals the reference model over the logged events', async () => {
    const run = `soak-${Date.now().toString(36)}`;
    const inputs = generate(run);
    const batches: Input[][] = [];
    for (let i = 0; i < inputs.length; i += BATCH) batches.push(inputs.slice(i, i + BATCH));
    const killSeed = Number(process.env.KEYFLOW_E2E_KILL_SEED ?? Date.now() % 1_000_000_007);
    const r = createRandom(killSeed);
    const killAt = new Set<number>();
    while (killAt.size < KILLS_DURING_PUBLISH) killAt.add(Math.floor(r() * batches.length));

    const s = await startServer({
      env: {
        KEYFLOW_CHECKPOINT_INTERVAL_MS: '100',
        KEYFLOW_IDLE_TIMEOUT_MS: '1h',
        KEYFLOW_WINDOWS: WINDOW_SPECS.join(','),
        KEYFLOW_SINKS: 'none',
        KEYFLOW_LOG_LEVEL: 'warn',
      },
    });
    const t0 = Date.now();
    const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
    const timeline: string[] = [`kill seed ${killSeed}`];
    const retried = new Set<string>();
    let kills = 0;
    const durations: number[] = [];
    try {
      for (let b = 0; b < batches.length; b++) {
        const batch = batches[b]!;
        for (let attempt = 0; ; attempt++) {
          let killing: Promise<unknown> | undefined;
          let delay = 0;
          if (attempt === 0 && killAt.has(b)) {
            // from before the server reads the request to a while after it answered
            const typical = durations.length > 0 ? durations.reduce((x, y) => x + y, 0) / durations.length : 50;
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
            timeline.push(`kill ${kills} at batch ${b} +${delay}ms (${acked ? 'acked' : 'not acked'}) ${elapsed()}`);
          }
          if (acked) {
            for (const x of acked) expect(['ACCEPTED', 'DUPLICATE']).toContain(x.status);
            break;
          }
          expect(killing, `batch ${b} failed without a kill`).toBeDefined();
          expect(attempt, `batch ${b} still not acknowledged`).toBeLessThan(3);
          for (const e of batch) retried.add(e.eventId);
        }
      }
      const flush: Input[] = KEYS.map(({ eventType, key }, i) => ({
        eventId: `${run}-flush-${i}`,
        timestamp: iso(FLUSH_AT),
        eventType,
        deviceId: key,
        payload: payloadFor(eventType, 1, 0),
      }));
      await gql(s.url, PUBLISH_EVENTS, { inputs: flush });
      await s.kill('SIGKILL');
      kills++;
      await s.restart();
      timeline.push(`kill ${kills} after the last batch ${elapsed()}`);

      // caught up: the flush event is the last record of every key's partition
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
        { timeoutMs: 90_000, intervalMs: 250, message: 'every key processed its flush event' },
      );
      const actual: WindowResult[] = [];
      for (const { eventType, key } of KEYS) {
        const { windows } = await gql<{ windows: WindowResultOut[] }>(s.url, WINDOWS, { eventType, key });
        actual.push(...windows.map(fromOut));
      }
      await s.stop({ keepData: true });
      timeline.push(`stopped ${elapsed()}`);

      // ground truth: the records in the log, partition by partition, in offset order
      const log = createFileLog({ dataDir: s.dataDir });
      await log.start();
      const expected: WindowResult[] = [];
      const copies = new Map<string, number>();
      const perKey = new Map<string, number>();
      try {
        for (const t of DEFAULT_EVENT_TYPES) {
          const n = (await log.partitions(t.topic)) ?? 0;
          for (let p = 0; p < n; p++) {
            const events: RefEvent[] = [];
            for (let from = 0; ; ) {
              const records = await log.read(t.topic, p, from, 1000);
              if (records.length === 0) break;
              for (const rec of records) {
                const env = decodeEnvelope(rec.value);
                copies.set(env.eventId, (copies.get(env.eventId) ?? 0) + 1);
                const key = env.deviceId ?? env.userId ?? env.eventId;
                perKey.set(`${env.eventType}|${key}`, (perKey.get(`${env.eventType}|${key}`) ?? 0) + 1);
                events.push({ eventType: env.eventType, key, timestamp: env.timestamp, userId: env.userId, payload: env.payload });
              }
              from = records[records.length - 1]!.offset + 1;
            }
            if (events.length === 0) continue;
            const ref = referenceWindows(events, {
              specs: WINDOW_SPECS,
              valueField: (et) => DEFAULT_EVENT_TYPES.find((x) => x.eventType === et)?.valueField ?? null,
              maxOutOfOrderMs: 10_000,
            });
            expected.push(...ref.results);
          }
        }
      } finally {
        await log.close();
      }

      // 1. nothing acknowledged is lost
      const missing = [...inputs, ...flush].map((e) => e.eventId).filter((id) => !copies.has(id));
      expect(missing, 'published events missing from the log').toEqual([]);
      // 2. each event once, also those of batches retried after a kill
      const dupes = [...copies].filter(([, c]) => c > 1).map(([id]) => id);
      expect(dupes, `events in the log more than once (${dupes.filter((id) => retried.has(id)).length} of retried batches)`).toEqual([]);
      // 3. each record counted exactly once in actor state
      expect(KEYS.map(({ eventType, key }) => `${eventType}|${key} ${states.get(`${eventType}|${key}`)!.eventsProcessed}`)).toEqual(
        KEYS.map(({ eventType, key }) => `${eventType}|${key} ${perKey.get(`${eventType}|${key}`)}`),
      );
      // 4. every window equals the model over the log
      expect(expected.filter((w) => w.final).length).toBeGreaterThan(expected.length / 2);
      const diff = diffResults(actual, expected);
      expect(diff.slice(0, 30), `${diff.length} differences`).toEqual([]);
      expect(actual.length).toBe(expected.length);
      expect(kills).toBeGreaterThanOrEqual(25);
      console.log(
        `kill-soak: ${kills} kills, ${copies.size} events (${dupes.length} appended twice), ${actual.length} windows compared, ${elapsed()}; ${timeline.join(', ')}`,
      );
    } catch (e) {
      if (e instanceof Error) e.message += `\ntimeline: ${timeline.join(', ')}\n--- server output (tail) ---\n${s.output().slice(-8000)}`;
      throw e;
    } finally {
      await s.stop();
    }
  }, 600_000);
});
