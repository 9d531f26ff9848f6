/**
 * A far-future event aimed at a victim's partition, on the real embedded server over HTTP.
 *
 * The attacker picks a key that hashes to the victim's partition and sends an event dated
 * 9999-12-31 (and one with value 1e308): the API refuses both. Then, with the server stopped, the
 * same and worse records (10,000 levels deep, a `__proto__` key) are written straight into the
 * victim's partition of the embedded log, bypassing the API, and the server restarted: they go to
 * the dead-letter topic with their reason. Throughout — before the attack, after it, and after a
 * SIGKILL and restart — the victim's windows and the partition watermark are exactly what the
 * reference model computes from the victim's events alone.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../src/log/index.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { DEFAULT_WINDOWS } from '../../src/actors/windows/index.ts';
import type { WindowResult } from '../../src/actors/windows/index.ts';
import { type E2eServer, startServer, stopAllServers } from '../helpers/e2e.ts';
import { GraphQLRequestError, KEY_STATE, type KeyStateOut, PUBLISH_EVENT, PUBLISH_EVENTS, WINDOWS, type WindowResultOut, gql } from '../helpers/graphql-client.ts';
import { diffResults, referenceWindows } from '../helpers/reference-model.ts';
import { waitFor } from '../helpers/wait.ts';

const TOPIC = 'events.iot.sensors';
const PARTITIONS = 12;
const run = randomUUID().slice(0, 8);
const VICTIM = `victim-${run}`;
/** A minute-aligned base event time an hour ago: within any skew, and the windows close during the test. */
const T0 = Math.floor((Date.now() - 3_600_000) / 60_000) * 60_000;
const iso = (ms: number) => new Date(ms).toISOString();

let server: E2eServer | undefined;
afterAll(async () => {
  await stopAllServers();
});

/** A key on another partition than the victim's. */
function otherPartitionKey(): string {
  const victim = partitionForKey(VICTIM, PARTITIONS);
  for (let i = 0; ; i++) if (partitionForKey(`other-${run}-${i}`, PARTITIONS) !== victim) return `other-${run}-${i}`;
}

/** A key other than the victim's that lands on the victim's partition. */
function attackerKey(): string {
  const target = partitionForKey(VICTIM, PARTITIONS);
  for (let i = 0; ; i++) if (partitionForKey(`attacker-${run}-${i}`, PARTITIONS) === target) return `attacker-${run}-${i}`;
}

function victimEvent(i: number, ts: number) {
  return { eventId: `${run}-v${i}`, timestamp: iso(ts), eventType: 'iot.sensor', deviceId: VICTIM, payload: { value: i + 0.5 } };
}

async function refusedCode(s: E2eServer, input: Record<string, unknown>): Promise<string[]> {
  try {
    await gql(s.url, PUBLISH_EVENT, { input });
  } catch (e) {
    if (e instanceof GraphQLRequestError) return e.codes;
    throw e;
  }
  return [];
}

const fromOut = (w: WindowResultOut): WindowResult => ({ ...w, windowStart: Date.parse(w.windowStart), windowEnd: Date.parse(w.windowEnd) });

describe('a far-future event aimed at a victim partition (embedded, over HTTP)', () => {
  it('is refused by the API, dead-lettered when written into the log, and the victim windows stay the reference model’s across a restart', async () => {
    // a 10-minute skew instead of the default 5: the setting reaches the API and the processor
    server = await startServer({
      env: { KEYFLOW_CHECKPOINT_INTERVAL_MS: '100', KEYFLOW_IDLE_TIMEOUT_MS: '1h', KEYFLOW_LOG_LEVEL: 'warn', KEYFLOW_MAX_FUTURE_SKEW_MS: '10m' },
    });
    const s = server;
    const attacker = attackerKey();
    const sent: ReturnType<typeof victimEvent>[] = [];

    /** Waits until the victim's actor has processed `sent`, then checks its windows and watermark against the model. */
    async function victimMatchesModel(): Promise<WindowResultOut[]> {
      const last = Math.max(...sent.map((e) => Date.parse(e.timestamp)));
      const state = await waitFor(
        async () => {
          const { keyState } = await gql<{ keyState: KeyStateOut | null }>(s.url, KEY_STATE, { eventType: 'iot.sensor', key: VICTIM });
          return keyState !== null && keyState.eventsProcessed === sent.length ? keyState : false;
        },
        { timeoutMs: 60_000, intervalMs: 100, message: 'victim events processed' },
      );
      // the partition watermark follows the victim's events only, not the year 9999
      expect(state.watermark).toBe(iso(last - 10_000));
      const { windows } = await gql<{ windows: WindowResultOut[] }>(s.url, WINDOWS, { eventType: 'iot.sensor', key: VICTIM });
      const ref = referenceWindows(
        sent.map((e) => ({ eventType: 'iot.sensor', key: VICTIM, timestamp: Date.parse(e.timestamp), userId: null, payload: e.payload })),
        { specs: DEFAULT_WINDOWS, valueField: () => 'value', maxOutOfOrderMs: 10_000 },
      );
      expect(diffResults(windows.map(fromOut), ref.results)).toEqual([]);
      return windows;
    }

    try {
      // the victim's first minutes
      for (let i = 0; i < 6; i++) sent.push(victimEvent(i, T0 + i * 20_000));
      await gql(s.url, PUBLISH_EVENTS, { inputs: sent });
      await victimMatchesModel();

      // the attack through the API: refused, nothing appended
      expect(await refusedCode(s, { eventType: 'iot.sensor', deviceId: attacker, timestamp: '9999-12-31T23:59:59.999Z', payload: { value: 1 } })).toEqual(['TIMESTAMP_OUT_OF_RANGE']);
      expect(await refusedCode(s, { eventType: 'iot.sensor', deviceId: attacker, timestamp: iso(T0), payload: { value: 1e308 } })).toEqual(['VALUE_OUT_OF_RANGE']);
      const { keyState: none } = await gql<{ keyState: KeyStateOut | null }>(s.url, KEY_STATE, { eventType: 'iot.sensor', key: attacker });
      expect(none).toBeNull();
      // within the configured skew on another partition: accepted; beyond it: refused
      const other = otherPartitionKey();
      expect(await refusedCode(s, { eventType: 'iot.sensor', deviceId: other, timestamp: iso(Date.now() + 11 * 60_000), payload: { value: 1 } })).toEqual(['TIMESTAMP_OUT_OF_RANGE']);
      expect(await refusedCode(s, { eventType: 'iot.sensor', deviceId: other, timestamp: iso(Date.now() + 7 * 60_000), payload: { value: 1 } })).toEqual([]);

      // the attack straight into the log, bypassing the API
      await s.stop({ keepData: true });
      const log = createFileLog({ dataDir: s.dataDir });
      await log.start();
      const partition = partitionForKey(VICTIM, PARTITIONS);
      const rawEvent = (id: string, timestamp: string, payload: string) =>
        `{"eventId":"${run}-${id}","timestamp":"${timestamp}","eventType":"iot.sensor","deviceId":"${attacker}","payload":${payload}}`;
      const raw = [
        rawEvent('future', '9999-12-31T23:59:59.999Z', '{"value":1}'),
        rawEvent('huge', iso(T0 + 60_000), '{"value":1e308}'),
        rawEvent('deep', iso(T0 + 60_000), `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`),
        rawEvent('proto', iso(T0 + 60_000), '{"__proto__":{"value":1},"value":2}'),
        rawEvent('feb30', '2026-02-30T00:00:00.000Z', '{"value":1}'),
      ];
      try {
        await log.append(
          TOPIC,
          raw.map((value) => ({ key: attacker, value, partition })),
        );
        // 7 minutes ahead of its append time, on another partition: within the configured 10
        await log.append(TOPIC, [{ key: other, value: rawEvent('ahead', iso(Date.now() + 7 * 60_000), '{"value":1}').replace(attacker, other) }]);
      } finally {
        await log.close();
      }
      await s.restart();

      // the victim goes on; its windows and the watermark are as if the attack never happened
      const more = [6, 7, 8, 9].map((i) => victimEvent(i, T0 + i * 20_000));
      sent.push(...more);
      await gql(s.url, PUBLISH_EVENTS, { inputs: more });
      const before = await victimMatchesModel();
      expect(before.some((w) => w.final)).toBe(true);
      const dead = await waitFor(
        async () => {
          const { deadLetters } = await gql<{ deadLetters: { errorType: string; originalMessage: string }[] }>(s.url, '{ deadLetters(limit: 100) { errorType originalMessage } }');
          const mine = deadLetters.filter((d) => d.originalMessage.includes(run));
          return mine.length >= raw.length ? mine : false;
        },
        { timeoutMs: 30_000, intervalMs: 100, message: 'the raw records were dead-lettered' },
      );
      const reason = (id: string) => dead.find((d) => d.originalMessage.includes(`"${run}-${id}"`))?.errorType;
      expect(['future', 'huge', 'deep', 'proto', 'feb30'].map(reason)).toEqual([
        'TIMESTAMP_OUT_OF_RANGE',
        'VALUE_OUT_OF_RANGE',
        'SCHEMA_VALIDATION_FAILED',
        'SCHEMA_VALIDATION_FAILED',
        'SCHEMA_VALIDATION_FAILED',
      ]);

      await waitFor(
        async () => (await gql<{ keyState: KeyStateOut | null }>(s.url, KEY_STATE, { eventType: 'iot.sensor', key: other })).keyState?.eventsProcessed === 2,
        { timeoutMs: 30_000, intervalMs: 100, message: 'the events within the configured skew were processed' },
      );

      // killed and restarted: the same windows (the decision is replayed from the record's append time)
      await s.kill('SIGKILL');
      await s.restart();
      const after = await victimMatchesModel();
      expect(after).toEqual(before);
    } catch (e) {
      if (e instanceof Error) e.message += `\n--- server output (tail) ---\n${s.output().slice(-4000)}`;
      throw e;
    }
  });
});
