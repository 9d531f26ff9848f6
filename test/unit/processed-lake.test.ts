/**
 * The data lake's `processed/` partition: processed records land beside the window partitions,
 * one row per recordId for readers (a replay's duplicates collapse), and the window sink neither
 * reads nor compacts them. On a node, a type with enrichment rules fills it.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { enrichEvent } from '../../src/model/index.ts';
import { createDataLakeSink, createProcessedLake } from '../../src/sinks/index.ts';
import { gql, PUBLISH_EVENTS } from '../helpers/graphql-client.ts';
import { tempDir, waitFor } from '../helpers/wait.ts';

describe('data lake processed/ partition', () => {
  it('keeps one row per recordId, partitioned by type and event date, out of the window sink\'s way', async () => {
    const tmp = await tempDir('keyflow-plake-');
    try {
      const lake = createProcessedLake({ dir: tmp.dir, fsync: false });
      const rec = (i: number) =>
        enrichEvent(
          { eventId: `e-${i}`, eventType: 'pay', timestamp: Date.parse('2026-01-15T10:00:00Z') + i * 86_400_000, userId: null, deviceId: null, payload: { amount: i }, metadata: null },
          [{ rule: 'flag', name: 'big', path: 'payload.amount', above: 1 }],
          { topic: 'events.pay', partition: 2, offset: i, appendTime: 0 },
          1,
        );
      await lake.write([0, 1, 2].map((i) => JSON.stringify(rec(i))));
      await lake.write([JSON.stringify(rec(1))]); // a replay's duplicate
      const rows = await lake.read({ eventType: 'pay' });
      expect(rows.map((r) => r.enriched.big).sort()).toEqual([false, false, true]);
      expect(await readdir(join(tmp.dir, 'processed', 'eventType=pay'))).toEqual(['date=2026-01-15', 'date=2026-01-16', 'date=2026-01-17']);
      const windows = createDataLakeSink({ dir: tmp.dir, fsync: false });
      expect(await windows.read()).toEqual([]);
      await windows.compact();
      expect(await lake.read()).toHaveLength(3);
    } finally {
      await tmp.remove();
    }
  });

  it('a node with the data-lake sink writes the processed records of enriched types there', async () => {
    const tmp = await tempDir('keyflow-plake-node-');
    const app = await buildApp(loadConfig({ KEYFLOW_DATA_DIR: tmp.dir, KEYFLOW_PORT: '0', KEYFLOW_HOST: '127.0.0.1', KEYFLOW_SINKS: 'data-lake', KEYFLOW_CHECKPOINT_INTERVAL_MS: '100' }), { logger: silentLogger() });
    try {
      await app.start();
      const url = app.url.replace('localhost', '127.0.0.1');
      await gql(url, 'mutation($i: EventTypeInput!) { registerEventType(input: $i) { changed } }', {
        i: { name: 'lake.pay', keyPaths: ['payload.id'], valuePath: 'payload.amount', enrichment: [{ rule: 'category', name: 'size', path: 'payload.amount', thresholds: [{ upTo: 10, label: 'small' }], otherwise: 'large' }] },
      });
      const ts = new Date(Math.floor(Date.now() / 60_000) * 60_000 - 60_000).toISOString();
      await gql(url, PUBLISH_EVENTS, { inputs: [3, 30].map((amount, i) => ({ eventId: `lp-${i}`, eventType: 'lake.pay', timestamp: ts, payload: { id: `p-${i}`, amount } })) });
      const lake = createProcessedLake({ dir: join(tmp.dir, 'lake') });
      const rows = await waitFor(async () => {
        const r = await lake.read({ eventType: 'lake.pay' });
        return r.length === 2 ? r : undefined;
      }, { timeoutMs: 20_000 });
      expect(rows.map((r) => [r.original.eventId, r.enriched.size]).sort()).toEqual([
        ['lp-0', 'small'],
        ['lp-1', 'large'],
      ]);
    } finally {
      await app.stop();
      await tmp.remove();
    }
  });
});
