/**
 * One event, one trace, in distributed mode (Kafka, Redis, NATS), spans collected with an
 * in-memory exporter on a node running both roles: the client's `traceparent` parents the GraphQL
 * mutation span, whose child is the Kafka produce span (kafkajs instrumentation); the processor's
 * `process <topic>` span links to that (the record's traceparent);
 * its publish of the processed event on NATS is a `bus publish` child of that span, the
 * gateway's delivery to the `events` subscription a `bus deliver` child of the publish, and the
 * graphql-ws frame to the subscriber a `graphql-ws send` child of the delivery, in the same trace —
 * the subscriber gets the event. The final window result that batch emitted is written to the sink
 * at the next checkpoint in a `sink write` span that is the batch span's child, or links to it.
 * (The embedded equivalent is test/unit/embedded-trace.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type App, buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createTracing } from '../../src/core/telemetry/tracing.ts';
import { freePort } from '../helpers/e2e.ts';
import { deleteTopicsWithPrefix } from '../helpers/kafka.ts';
import { describeSpans, findEventChain } from '../helpers/trace-chain.ts';
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
      // one-second windows closed by the next events: their finals reach the sink within the test
      KEYFLOW_SINKS: 'aggregated',
      KEYFLOW_WINDOWS: 'tumbling-1s',
      KEYFLOW_MAX_OUT_OF_ORDER_MS: '0',
      KEYFLOW_ALLOWED_LATENESS_MS: '0',
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
      const publish = async () => {
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
      };
      const eventId = await waitFor(
        async () => {
          await publish();
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
      // later events close the windows of the earlier ones: keep publishing until a batch's whole
      // chain is there (its finals are written at the checkpoint after it)
      const chain = await waitFor(
        async () => {
          await publish();
          return findEventChain(spans(), CLIENT_TRACE);
        },
        { timeoutMs: 30_000, intervalMs: 300, message: 'process → bus publish → bus deliver → graphql-ws send, and the sink write of its finals' },
      ).catch((e: unknown) => {
        console.log(describeSpans(spans()));
        throw e;
      });
      // the record's traceparent is the Kafka produce span (kafkajs instrumentation), a child of the mutation span
      expect(chain.process.links.some((l) => l.context.traceId === CLIENT_TRACE)).toBe(true);
      const batchTrace = chain.process.spanContext().traceId;
      for (const s of [chain.publish, chain.deliver, chain.send]) expect(s.spanContext().traceId).toBe(batchTrace);
      expect(chain.publish.name).toContain('keyflow.events.');
      expect(chain.sinkWrite.name).toBe('sink write log-topic:events.aggregated');
    } finally {
      unsubscribe();
      await ws.dispose();
    }
  }, 90_000);
});
