/**
 * A processor-only node (distributed mode) answers /ready, /health and /metrics on KEYFLOW_OPS_PORT,
 * so operators can probe and scrape it like a gateway; readiness lists broker, checkpoints and bus.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { freePort } from '../helpers/e2e.ts';
import { deleteTopicsWithPrefix } from '../helpers/kafka.ts';
import { requireKafka, requireNats, requireRedis } from '../helpers/services.ts';

describe('processor node ops routes', () => {
  const kafka = requireKafka();
  const prefix = `ops-${randomUUID().slice(0, 8)}`;
  let app: App | undefined;
  afterAll(async () => {
    await app?.stop();
    await deleteTopicsWithPrefix(kafka.brokers, `${prefix}.`);
  });

  it('serves /ready, /health and /metrics without a GraphQL server', async () => {
    const port = await freePort();
    const config = loadConfig({
      KAFKA_BROKERS: kafka.brokers.join(','),
      REDIS_URL: requireRedis().url,
      NATS_URL: requireNats().url,
      KEYFLOW_TOPIC_PREFIX: `${prefix}.`,
      KEYFLOW_KEY_PREFIX: prefix,
      KAFKA_GROUP_ID: prefix,
      KEYFLOW_OPS_PORT: String(port),
      KEYFLOW_HOST: '127.0.0.1',
    });
    app = await buildApp(config, { roles: ['processor'], logger: silentLogger() });
    await app.start();
    const ready = await fetch(`http://127.0.0.1:${port}/ready`);
    expect(ready.status).toBe(200);
    const body = (await ready.json()) as { ready: boolean; components: { name: string; connected: boolean }[] };
    expect(body.ready).toBe(true);
    expect(body.components.map((c) => c.name)).toEqual(expect.arrayContaining(['broker', 'checkpoints', 'bus']));
    expect((await fetch(`http://127.0.0.1:${port}/health`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toContain('keyflow_partitions_owned');
    expect((await fetch(`http://127.0.0.1:${port}/graphql`)).status).toBe(404);
  });
});
