/**
 * SIGKILL mid-stream, on Node, over real HTTP.
 *
 * A deterministic stream of events (several keys of all three event types, event times spread
 * over two hours, some out of order by up to 8 s) is published in batches through
 * `publishEvents` while the server is killed with SIGKILL three times: twice at a random moment
 * during a publish (the processor is catching up at the same time), once right after the last
 * batch was acknowledged (while the processor is still catching up). Each time the server is
 * restarted on the same data dir and port.
 *
 * The client makes its publishing idempotent by design: dedupe is in memory in embedded mode,
 * so after a restart the client asks `latestEvents` which of the unacknowledged batch's events
 * are already in the log and re-publishes only the others (same eventIds).
 *
 * What it proves: after the crashes,
 * 1. the log holds every generated event exactly once (no loss, no duplicate), and
 * 2. the processor's state — every window of every key, as served by the `windows` query — is
 *    exactly the reference model (test/helpers/reference-model.ts) computed from the events that
 *    are in the log, partition by partition in log order: no window more, none fewer, same
 *    aggregates, same `final` flags. So every logged event was counted exactly once in actor
 *    state, whatever was killed when (checkpoint + offset + replay).
 * The log is read directly from the data dir after a graceful stop, so the model sees exactly
 * what the processor saw.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../src/log/index.ts';
import { decodeEnvelope } from '../../src/model/event.ts';
import { DEFAULT_EVENT_TYPES } from '../../src/model/event-types.ts';
import { DEFAULT_WINDOWS } from '../../src/actors/windows/index.ts';
import type { WindowResult } from '../../src/actors/windows/index.ts';
import { type E2eServer, startServer, stopAllServers } from '../helpers/e2e.ts';
import { KEY_STATE, type KeyStateOut, PUBLISH_EVENTS, type Receipt, WINDOWS, type WindowResultOut, gql } from '../helpers/graphql-client.ts';
import { type RefEvent, diffResults, referenceWindows } from '../helpers/reference-model.ts';
import { waitFor } from '../helpers/wait.ts';
import { createRandom } from '../../src/loadgen/index.ts';

const SEED = 20251123;
const EVENTS = 2400;
const BATCH = 100;
const SPAN_MS = 2 * 3_600_000;
const MAX_DISORDER_MS = 8_000; // below the 10 s max out-of-orderness: no event is late
const BASE = Date.UTC(2025, 2, 1, 0, 0, 0);
/** A final event per key here closes every window of the stream (session gap 30 m < 1 h). */
const FLUSH_AT = BASE + SPAN_MS + 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

/** The load generator's mulberry32: small, seedable, good enough for test data. */
const rng = createRandom;

interface Input {
  eventId: string;
  timestamp: string;
  eventType: string;
  userId?: string;
  deviceId?: string;
  payload: Record<string, unknown>;
}

const KEYS: { eventType: string; key: string }[] = [
  ...[0, 1, 2, 3, 4].map((i) => ({ eventType: 'iot.sensor', key: `crash-s${i}` })),
  ...[0, 1, 2, 3, 4].map((i) => ({ eventType: 'clickstream', key: `crash-c${i}` })),
  ...[0, 1, 2, 3].map((i) => ({ eventType: 'transaction', key: `crash-t${i}` })),
];

function generate(run: string): Input[] {
  const r = rng(SEED);
  const out: Input[] = [];
  for (let i = 0; i < EVENTS; i++) {
    const { eventType, key } = KEYS[Math.floor(r() * KEYS.length)]!;
    const disorder = r() < 0.2 ? Math.floor(r() * MAX_DISORDER_MS) : 0;
    // max(…, BASE) keeps the first events from going before the stream's start
    const ts = Math.max(BASE, BASE + Math.floor((i * SPAN_MS) / EVENTS) - disorder);
    const user = r() < 0.85 ? `crash-u${Math.floor(r() * 7)}` : undefined;
    const amount = Math.round(r() * 100_000) / 100 - 200;
    const payload: Record<string, unknown> =
      eventType === 'iot.sensor'
        ? { value: r() < 0.9 ? amount : 'n/a' }
        : eventType === 'transaction'
          ? { amount, currency: 'EUR' }
          : { page: `/p/${Math.floor(r() * 5)}` };
    out.push({ eventId: `${run}-${i}`, timestamp: iso(ts), eventType, deviceId: key, ...(user ? { userId: user } : {}), payload });
  }
  return out;
}

function toRef(e: { eventType: string; deviceId: string | null; userId: string | null; eventId: string; timestamp: number; payload: Record<string, unknown> }): RefEvent {
  return { eventType: e.eventType, key: e.deviceId ?? e.userId ?? e.eventId, timestamp: e.timestamp, userId: e.userId, payload: e.payload };
}

function fromOut(w: WindowResultOut): WindowResult {
  return { ...w, windowStart: Date.parse(w.windowStart), windowEnd: Date.parse(w.windowEnd) };
}

let server: E2eServer | undefined;
afterAll(async () => {
  await stopAllServers();
});

describe('crash recovery over HTTP (Node): SIGKILL mid-stream and restart', () => {
  it('windows after three SIGKILLs equal the reference model over exactly the logged events', async () => {
    const run = `crash-${Date.now().toString(36)}`;
    const inputs = generate(run);
    const t0 = Date.now();
    const topicOf = new Map(DEFAULT_EVENT_TYPES.map((t) => [t.eventType, t.topic]));
    server = await startServer({
      env: {
        KEYFLOW_CHECKPOINT_INTERVAL_MS: '100',
        // no idle advance of the watermark during the test: the final watermark is max event time − 10 s
        KEYFLOW_IDLE_TIMEOUT_MS: '1h',
        KEYFLOW_LOG_LEVEL: 'warn',
      },
    });
    const s = server;
    // the data is fixed; where the kills land varies from run to run (set KEYFLOW_E2E_KILL_SEED to replay one)
    const killSeed = Number(process.env.KEYFLOW_E2E_KILL_SEED ?? Date.now() % 1_000_000_007);
    const r = rng(killSeed);
    const batches: Input[][] = [];
    for (let i = 0; i < inputs.length; i += BATCH) batches.push(inputs.slice(i, i + BATCH));
    // two kills during publishes, at random batches of the first and second half
    const half = Math.floor(batches.length / 2);
    const killAt = new Set([1 + Math.floor(r() * (half - 2)), half + Math.floor(r() * (half - 1))]);
    const kills: string[] = [];
    const durations: number[] = [];
    const elapsed = () => `${((Date.now() - t0) / 1000).toFixed(1)}s`;
    const timeline: string[] = [`kill seed ${killSeed}`, `started ${elapsed()}`];
    try {
      for (let b = 0; b < batches.length; b++) {
        const batch = batches[b]!;
        let killing: Promise<unknown> | undefined;
        let delay = 0;
        if (killAt.has(b)) {
          // anywhere from before the server reads the request to about when it answers
          const typical = durations.length > 0 ? durations.reduce((x, y) => x + y, 0) / durations.length : 50;
          delay = Math.floor(r() * typical * 0.9);
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
          kills.push(`batch ${b}: killed ${delay}ms after sending, ${acked ? 'acknowledged' : 'not acknowledged'}`);
          await s.restart();
          timeline.push(`kill+restart at batch ${b} ${elapsed()}`);
        }
        if (acked) {
          expect(acked.map((x) => x.status)).toEqual(batch.map(() => 'ACCEPTED'));
          continue;
        }
        expect(killing, 'a publish failed without a kill').toBeDefined();
        // Which of the batch's events made it into the log before the kill? The batch is the
        // newest thing appended to each topic, so the newest 1000 records of each topic hold them.
        const present = new Set<string>();
        for (const topic of new Set(batch.map((e) => topicOf.get(e.eventType)!))) {
          const { latestEvents } = await gql<{ latestEvents: { eventId: string }[] }>(s.url, 'query($t: String!) { latestEvents(topic: $t, limit: 1000) { eventId } }', {
            t: topic,
          });
          for (const e of latestEvents) present.add(e.eventId);
        }
        const missing = batch.filter((e) => !present.has(e.eventId));
        kills[kills.length - 1] += `, ${batch.length - missing.length} of ${batch.length} were in the log`;
        if (missing.length > 0) {
          const again = (await gql<{ publishEvents: Receipt[] }>(s.url, PUBLISH_EVENTS, { inputs: missing })).publishEvents;
          expect(again.map((x) => x.status)).toEqual(missing.map(() => 'ACCEPTED'));
        }
      }
      // one event per key far ahead closes every window of the stream
      const flush: Input[] = KEYS.map(({ eventType, key }, i) => ({
        eventId: `${run}-flush-${i}`,
        timestamp: iso(FLUSH_AT),
        eventType,
        deviceId: key,
        payload: eventType === 'iot.sensor' ? { value: 1 } : eventType === 'transaction' ? { amount: 1 } : {},
      }));
      await gql(s.url, PUBLISH_EVENTS, { inputs: flush });
      // third kill: everything is acknowledged, the processor is still catching up
      await s.kill('SIGKILL');
      kills.push('after the last batch');
      timeline.push(`published, killed ${elapsed()}`);
      await s.restart();
      timeline.push(`restarted ${elapsed()}`);

      const perKey = new Map<string, number>();
      for (const e of [...inputs, ...flush]) perKey.set(`${e.eventType}|${e.deviceId}`, (perKey.get(`${e.eventType}|${e.deviceId}`) ?? 0) + 1);
      // caught up: every key has seen its flush event (the last one it was sent)
      const states = await waitFor(
        async () => {
          const out: KeyStateOut[] = [];
          for (const { eventType, key } of KEYS) {
            const { keyState } = await gql<{ keyState: KeyStateOut | null }>(s.url, KEY_STATE, { eventType, key });
            if (!keyState || keyState.lastEventTime !== iso(FLUSH_AT) || keyState.eventsProcessed < perKey.get(`${eventType}|${key}`)!) return false;
            out.push(keyState);
          }
          return out;
        },
        { timeoutMs: 60_000, intervalMs: 200, message: 'every key processed every event' },
      );
      timeline.push(`caught up ${elapsed()}`);
      // counted exactly once in actor state
      expect(states.map((k) => `${k.eventType}|${k.key} ${k.eventsProcessed}`)).toEqual(
        KEYS.map(({ eventType, key }) => `${eventType}|${key} ${perKey.get(`${eventType}|${key}`)}`),
      );
      expect(states.every((k) => k.watermark === iso(FLUSH_AT - 10_000))).toBe(true);
      const actual: WindowResult[] = [];
      for (const { eventType, key } of KEYS) {
        const { windows } = await gql<{ windows: WindowResultOut[] }>(s.url, WINDOWS, { eventType, key });
        actual.push(...windows.map(fromOut));
      }
      // no event was treated as late since the last restart (a replayed duplicate would be)
      const metrics = await (await fetch(`${s.baseUrl}/metrics`)).text();
      expect(metrics.split('\n').filter((l) => /^keyflow_events_late_total(\{[^}]*\})? [1-9]/.test(l))).toEqual([]);
      await s.stop({ keepData: true });

      // ground truth: the log itself, partition by partition, in offset order
      const log = createFileLog({ dataDir: s.dataDir });
      await log.start();
      const expected: WindowResult[] = [];
      const seen = new Map<string, number>();
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
                seen.set(env.eventId, (seen.get(env.eventId) ?? 0) + 1);
                events.push(toRef(env));
              }
              from = records[records.length - 1]!.offset + 1;
            }
            if (events.length === 0) continue;
            const ref = referenceWindows(events, {
              specs: DEFAULT_WINDOWS,
              valueField: (et) => DEFAULT_EVENT_TYPES.find((x) => x.eventType === et)?.valueField ?? null,
              maxOutOfOrderMs: 10_000,
            });
            expect(ref.lateEvents, `no late events expected in ${t.topic}/${p}`).toEqual([]);
            expected.push(...ref.results);
          }
        }
      } finally {
        await log.close();
      }

      // 1. the log holds every event exactly once
      const dupes = [...seen].filter(([, c]) => c !== 1).map(([id]) => id);
      expect(dupes, 'events appended more than once').toEqual([]);
      const missing = [...inputs, ...flush].map((e) => e.eventId).filter((id) => !seen.has(id));
      expect(missing, 'events missing from the log').toEqual([]);
      expect(seen.size).toBe(inputs.length + flush.length);

      // 2. every window of every key equals the model; the stream's windows are all final
      expect(expected.filter((w) => w.final).length).toBeGreaterThan(expected.length / 2);
      const diff = diffResults(actual, expected);
      expect(diff.slice(0, 30), `${diff.length} differences after kills: ${kills.join('; ')}`).toEqual([]);
      expect(actual.length).toBe(expected.length);
      expect(kills).toHaveLength(3);
      timeline.push(`compared ${elapsed()}`);
      console.log(`crash-recovery: ${kills.join('; ')}; ${actual.length} windows compared; ${timeline.join(', ')}`);
    } catch (e) {
      if (e instanceof Error) e.message += `\ntimeline: ${timeline.join(', ')}\n--- server output (tail) ---\n${s.output().slice(-8000)}`;
      throw e;
    } finally {
      await s.stop();
    }
  }, 400_000);
});
