/**
 * Storage damage seen from outside, on a real `keyflow start` child process (issue 9, items 2
 * and 5): a segment cut below what the checkpoint covers, then truncated advisory files
 * (topics.json, the consumer group's offsets). The node must start, say what it lost and where,
 * never hand out an offset twice, and keep every window right.
 */
import { readdir, stat, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, stopAllServers } from '../helpers/e2e.ts';
import { KEY_STATE, type KeyStateOut, PUBLISH_EVENTS, type Receipt, WINDOWS, type WindowResultOut, gql } from '../helpers/graphql-client.ts';
import { waitFor } from '../helpers/wait.ts';

const TOPIC = 'events.iot.sensors';
const T0 = Date.UTC(2025, 5, 1, 12, 0, 0);
const iso = (ms: number) => new Date(ms).toISOString();

afterAll(async () => {
  await stopAllServers();
});

describe('storage damage on a real node', () => {
  it('a cut segment tail below the checkpoint is reported, no offset is reused, and damaged advisory files do not stop the node', async () => {
    const s = await startServer({ env: { KEYFLOW_CHECKPOINT_INTERVAL_MS: '100', KEYFLOW_IDLE_TIMEOUT_MS: '1h' } });
    const run = randomUUID().slice(0, 8);
    const key = `cut-${run}`;
    const event = (i: number) => ({ eventId: `${run}-${i}`, timestamp: iso(T0 + i * 1000), eventType: 'iot.sensor', deviceId: key, payload: { value: i } });
    const processed = async (n: number) =>
      waitFor(
        async () => {
          const { keyState } = await gql<{ keyState: KeyStateOut | null }>(s.url, KEY_STATE, { eventType: 'iot.sensor', key });
          return keyState !== null && keyState.eventsProcessed === n;
        },
        { timeoutMs: 30_000, message: `${n} events processed` },
      );
    const minute = async () => {
      const { windows } = await gql<{ windows: WindowResultOut[] }>(s.url, WINDOWS, { eventType: 'iot.sensor', key, window: 'tumbling-1m' });
      return windows.map((w) => [w.windowStart, w.count, w.sum]);
    };
    try {
      const receipts = (await gql<{ publishEvents: Receipt[] }>(s.url, PUBLISH_EVENTS, { inputs: Array.from({ length: 10 }, (_, i) => event(i)) })).publishEvents;
      const partition = receipts[0]!.partition;
      expect(receipts.map((r) => Number(r.offset))).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await processed(10);
      // a graceful stop checkpoints offset 10 (after flushing the log up to it)
      await s.stop({ keepData: true });

      const dir = join(s.dataDir, 'log', TOPIC, String(partition));
      const newest = join(dir, (await readdir(dir)).filter((n) => n.endsWith('.log')).sort().pop()!);
      await truncate(newest, (await stat(newest)).size - 5);
      await s.restart();
      expect(s.output()).toMatch(new RegExp(`"event":"log.data_lost".*"partition":${partition}.*"missingFrom":9,"missingTo":9`));
      expect(s.output()).toContain(`${TOPIC}/${partition} lost offsets 9..9`);

      // the next event gets a fresh offset and is counted; the lost one stays counted (it was checkpointed)
      const [next] = (await gql<{ publishEvents: Receipt[] }>(s.url, PUBLISH_EVENTS, { inputs: [event(10)] })).publishEvents;
      expect(next).toMatchObject({ status: 'ACCEPTED', partition, offset: '10' });
      await processed(11);
      expect(await minute()).toEqual([[iso(T0), 11, 55]]);
      await s.stop({ keepData: true });

      // truncated advisory files: set aside, rebuilt, named in an error line
      const topicsJson = join(s.dataDir, 'log', 'topics.json');
      await truncate(topicsJson, 16);
      const groups = join(s.dataDir, 'log', 'groups');
      for (const g of await readdir(groups)) await truncate(join(groups, g), 5);
      await s.restart();
      const damaged = s.output().split('\n').filter((l) => l.includes('"event":"file.damaged"'));
      expect(damaged.some((l) => l.includes(topicsJson))).toBe(true);
      expect(damaged.some((l) => l.includes(groups))).toBe(true);
      expect(await minute()).toEqual([[iso(T0), 11, 55]]);
      const [after] = (await gql<{ publishEvents: Receipt[] }>(s.url, PUBLISH_EVENTS, { inputs: [event(11)] })).publishEvents;
      expect(after).toMatchObject({ partition, offset: '11' });
      await processed(12);
      expect(await minute()).toEqual([[iso(T0), 12, 66]]);
    } catch (e) {
      if (e instanceof Error) e.message += `\n--- server output (tail) ---\n${s.output().slice(-8000)}`;
      throw e;
    } finally {
      await s.stop();
    }
  }, 240_000);
});
