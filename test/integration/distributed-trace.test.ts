/**
 * One event, one trace, in distributed mode (Kafka, Redis, NATS), spans collected with an
 * in-memory exporter on a node running both roles: the client's `traceparent` parents the GraphQL
 * mutation span, whose child is the Kafka produce span (kafkajs instrumentation); the processor's
 * `process <topic>` span links to that (the record's traceparent);
 * its publish of the processed event on NATS is a `bus publish` child of that span, and the
 * gateway's delivery to the `events` subscription a `bus deliver` child of the publish, in the same
 * trace — the subscriber gets the event.
 */
import { randomUUID } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type App, buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createTracing } from '../../src/core/telemetry/tracing.ts';
import { freePort } from '../helpers/e2e.ts';
import { deleteTopicsWithPrefix } from '../helpers/kafka.ts';
import { requireKafka, requireNats, requireRedis } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const TOKEN = 'distributed-trace-token';
const CLIENT_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const CLIENT_SPAN = '00f067aa0ba902b7';

describe('distributed mode: client → gateway → Kafka → processor → NATS → gateway delivery', () => {
  const kafka = requireKafka();
  const prefix = `dtr-${randomUUID().slice(0, 8)}`;
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let app: App;

  beforeAll(async () => {
    const port = await freePort();
    const config = loadConfig({
      KAFKA_BROKERS: kafka.brokers.join(','),
      REDIS_URL: requireRedis().url,
      NATS_URL: requireNats().url,
      KEYFLOW_TOPIC_PREFIX: `${prefix}.`,
      KEYFLOW_KEY_PREFIX: prefix,
      KAFKA_GROUP_ID: prefix,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      KEYFLOW_PORT: String(port),
      KEYFLOW_HOST: '127.0.0.1',
      KEYFLOW_API_TOKENS: TOKEN,
      KEYFLOW_SINKS: 'none',
    });
    app = await buildApp(config, { logger: silentLogger(), tracing });
    await app.start();
  }, 120_000);
  afterAll(async () => {
    await app?.stop();
    await tracing.shutdown();
    context.disable();
    propagation.disable();
    await deleteTopicsWithPrefix(kafka.brokers, `${prefix}.`);
  }, 60_000);

  it('the spans of one event form one chain', async () => {
    const ws = createClient({
      url: app.url.replace('http://localhost', 'ws://127.0.0.1'),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      connectionParams: { authorization: `Bearer ${TOKEN}` },
    });
    const received: string[] = [];
    const unsubscribe = ws.subscribe<{ events: { eventId: string } }>(
      { query: 'subscription { events(topic: "events.iot.sensors") { eventId } }' },
      { next: (m) => void (m.data && received.push(m.data.events.eventId)), error: () => {}, complete: () => {} },
    );
    try {
      // the processors learn the gateway's interest over NATS: publish until one event comes through
      const published: string[] = [];
      const eventId = await waitFor(
        async () => {
          const id = `trace-${randomUUID()}`;
          const res = await fetch(app.url.replace('localhost', '127.0.0.1'), {
            method: 'POST',
            headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
            body: JSON.stringify({
              query: 'mutation TracedPublish($i: EventInput!) { publishEvent(input: $i) { status } }',
              variables: { i: { eventId: id, eventType: 'iot.sensor', deviceId: 'trace-dev', timestamp: new Date().toISOString(), payload: { value: 1 } } },
            }),
          });
          expect(((await res.json()) as { errors?: unknown }).errors).toBeUndefined();
          published.push(id);
          return received.find((r) => published.includes(r));
        },
        { timeoutMs: 45_000, intervalMs: 500, message: 'an event delivered to the subscription' },
      );
      expect(eventId).toBeDefined();

      const spans = () => exporter.getFinishedSpans();
      const gateways = spans().filter((s) => s.name === 'graphql.mutation.TracedPublish');
      expect(gateways.length).toBeGreaterThan(0);
      for (const g of gateways) {
        expect(g.spanContext().traceId).toBe(CLIENT_TRACE);
        expect(g.parentSpanContext?.spanId).toBe(CLIENT_SPAN);
      }
      const gatewayIds = new Set(gateways.map((g) => g.spanContext().spanId));
      // a processing batch linked to one of the publishes, its bus publish, and the gateway's delivery
      const chain = await waitFor(
        () => {
          const all = spans();
          // the record's traceparent is the Kafka produce span (kafkajs instrumentation), a child of the mutation span
          const produceIds = new Set(all.filter((s) => s.parentSpanContext && gatewayIds.has(s.parentSpanContext.spanId)).map((s) => s.spanContext().spanId));
          for (const p of all.filter((s) => s.name.startsWith('process ') && s.links.some((l) => gatewayIds.has(l.context.spanId) || produceIds.has(l.context.spanId)))) {
            const pub = all.find((s) => s.name.startsWith('bus publish ') && s.parentSpanContext?.spanId === p.spanContext().spanId);
            if (!pub) continue;
            const deliver = all.find((s) => s.name.startsWith('bus deliver ') && s.parentSpanContext?.spanId === pub.spanContext().spanId);
            if (deliver) return { p, pub, deliver } as { p: ReadableSpan; pub: ReadableSpan; deliver: ReadableSpan };
          }
          return undefined;
        },
        { timeoutMs: 15_000, message: 'process → bus publish → bus deliver' },
      ).catch((e: unknown) => {
        console.log(spans().map((s) => `${s.name} ${s.spanContext().traceId.slice(0, 6)} ${s.spanContext().spanId} <- ${s.parentSpanContext?.spanId ?? '-'} links=${s.links.map((l) => l.context.spanId).join(',')}`).join('\n'));
        throw e;
      });
      expect(chain.p.links[0]!.context.traceId).toBe(CLIENT_TRACE);
      expect(chain.pub.spanContext().traceId).toBe(chain.p.spanContext().traceId);
      expect(chain.deliver.spanContext().traceId).toBe(chain.p.spanContext().traceId);
      expect(chain.pub.name).toContain('keyflow.events.');
    } finally {
      unsubscribe();
      await ws.dispose();
    }
  }, 90_000);
});
