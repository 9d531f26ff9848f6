/**
 * `keyflow start --demo` (what `npm start -- --demo` runs): the in-process load generator
 * publishes through the GraphQL API, so events get processed with no client at all.
 */
import { afterAll, describe, expect, it } from 'vitest';
import { startServer, stopAllServers } from '../helpers/e2e.ts';
import { gql } from '../helpers/graphql-client.ts';
import { waitFor } from '../helpers/wait.ts';

afterAll(async () => {
  await stopAllServers();
});

function counter(metrics: string, name: string): number {
  let total = 0;
  for (const line of metrics.split('\n')) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? ([0-9.e+]+)$`).exec(line);
    if (m) total += Number(m[2]);
  }
  return total;
}

describe('start --demo', () => {
  it('processes generated events with no client', async () => {
    const server = await startServer({ args: ['start', '--demo'], env: { KEYFLOW_LOG_LEVEL: 'warn' } });
    try {
      const processed = await waitFor(
        async () => {
          const n = counter(await (await fetch(`${server.baseUrl}/metrics`)).text(), 'keyflow_events_processed_total');
          return n > 0 ? n : undefined;
        },
        { timeoutMs: 60_000, intervalMs: 250, message: 'keyflow_events_processed_total > 0' },
      );
      expect(processed).toBeGreaterThan(0);
      // and the generated events are in the log, readable through the API
      const { latestEvents } = await gql<{ latestEvents: { eventId: string; key: string }[] }>(
        server.url,
        'query { latestEvents(topic: "events.iot.sensors", limit: 5) { eventId key } }',
      );
      expect(latestEvents.length).toBeGreaterThan(0);
      const exit = await server.stop();
      expect(exit?.code, server.output().slice(-4000)).toBe(0);
    } catch (e) {
      if (e instanceof Error) e.message += `\n--- server output (tail) ---\n${server.output().slice(-6000)}`;
      throw e;
    } finally {
      await server.stop();
    }
  }, 180_000);
});
