/**
 * The embedded equivalent of test/integration/distributed-trace.test.ts: one event's whole trace
 * chain on one embedded node (file log, in-process bus), spans collected with an in-memory
 * exporter. The client's `traceparent` parents the mutation span, which the appended record
 * carries; the processor's `process <topic>` span links to it; the in-process bus's `bus publish`
 * is a child of the batch span, its `bus deliver` to the gateway's live feed a child of the
 * publish, and the graphql-ws frame to the subscriber a `graphql-ws send` child of the delivery;
 * the finals the batch emitted are written to the sink at the next checkpoint in a `sink write`
 * span that is the batch span's child (or links to it when the write covers several batches).
 * Over SSE the message's `sse send` span is a child of the delivery too.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, propagation } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type App, buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createTracing } from '../../src/core/telemetry/tracing.ts';
import { describeSpans, findEventChain } from '../helpers/trace-chain.ts';
import { waitFor } from '../helpers/wait.ts';

const CLIENT_TRACE = '5bf92f3577b34da6a3ce929d0e0e4737';
const CLIENT_SPAN = '10f067aa0ba902b8';
const TOKEN = 'embedded-trace-token';

describe('embedded mode: client → gateway → log → processor → in-process bus → subscriber, and the sink write', () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  let dir: string;
  let app: App;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyflow-embedded-trace-'));
    const config = loadConfig({
      KEYFLOW_DATA_DIR: dir,
      KEYFLOW_PORT: '0',
      KEYFLOW_HOST: '127.0.0.1',
      KEYFLOW_API_TOKENS: TOKEN,
      // one-second windows closed by the next events: their finals reach the sink within the test
      KEYFLOW_SINKS: 'aggregated',
      KEYFLOW_WINDOWS: 'tumbling-1s',
      KEYFLOW_MAX_OUT_OF_ORDER_MS: '0',
      KEYFLOW_ALLOWED_LATENESS_MS: '0',
      KEYFLOW_CHECKPOINT_INTERVAL_MS: '200',
    });
    app = await buildApp(config, { logger: silentLogger(), tracing });
    await app.start();
  });
  afterAll(async () => {
    await app?.stop();
    await tracing.shutdown();
    // The provider registered the global context manager and propagator; other suites in this process set their own.
    context.disable();
    propagation.disable();
    await rm(dir, { recursive: true, force: true });
  });

  const url = () => app.url.replace('localhost', '127.0.0.1');
  async function publish(): Promise<void> {
    const res = await fetch(url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}`, traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
      body: JSON.stringify({
        query: 'mutation TracedPublish($i: EventInput!) { publishEvent(input: $i) { status } }',
        variables: { i: { eventId: `trace-${randomUUID()}`, eventType: 'iot.sensor', deviceId: 'trace-dev', timestamp: new Date().toISOString(), payload: { value: 1 } } },
      }),
    });
    expect(((await res.json()) as { errors?: unknown }).errors).toBeUndefined();
  }

  it('the spans of one event form one chain, through the sink write and the graphql-ws send', async () => {
    const ws = createClient({ url: url().replace('http://', 'ws://'), webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${TOKEN}` } });
    let received = 0;
    const unsubscribe = ws.subscribe<{ events: { eventId: string } }>(
      { query: 'subscription { events(topic: "events.iot.sensors") { eventId } }' },
      { next: () => void received++, error: () => {}, complete: () => {} },
    );
    try {
      // later events close the windows of the earlier ones; the finals are written at the checkpoint after
      const chain = await waitFor(
        async () => {
          await publish();
          return received > 0 ? findEventChain(exporter.getFinishedSpans(), CLIENT_TRACE) : undefined;
        },
        { timeoutMs: 20_000, intervalMs: 300, message: 'process → bus publish → bus deliver → graphql-ws send, and the sink write of its finals' },
      ).catch((e: unknown) => {
        console.log(describeSpans(exporter.getFinishedSpans()));
        throw e;
      });
      const mutation = exporter.getFinishedSpans().find((s) => s.name === 'graphql.mutation.TracedPublish');
      expect(mutation?.parentSpanContext?.spanId).toBe(CLIENT_SPAN);
      // embedded, the record's traceparent is the mutation span itself
      expect(chain.process.links.some((l) => l.context.traceId === CLIENT_TRACE)).toBe(true);
      const batchTrace = chain.process.spanContext().traceId;
      for (const s of [chain.publish, chain.deliver, chain.send]) expect(s.spanContext().traceId).toBe(batchTrace);
      expect(chain.publish.name).toBe('bus publish keyflow.events.events_iot_sensors');
      expect(chain.send.attributes['keyflow.subscription.transport']).toBe('ws');
      expect(chain.send.attributes['messaging.message.body.size']).toBeGreaterThan(0);
      expect(chain.sinkWrite.name).toBe('sink write log-topic:events.aggregated');
    } finally {
      unsubscribe();
      await ws.dispose();
    }
  }, 30_000);

  it('an SSE subscription message is sent in an `sse send` span, child of the bus delivery', async () => {
    const abort = new AbortController();
    const res = await fetch(url(), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${TOKEN}` },
      body: JSON.stringify({ query: 'subscription SseEvents { events(topic: "events.iot.sensors") { eventId } }' }),
      signal: abort.signal,
    });
    expect(res.status).toBe(200);
    const reader = res.body!.getReader();
    let text = '';
    void (async () => {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        text += new TextDecoder().decode(value);
      }
    })().catch(() => undefined);
    try {
      const send = await waitFor(
        async () => {
          await publish();
          if (!text.includes('eventId')) return undefined;
          const spans = exporter.getFinishedSpans();
          return spans.find((s) => s.name === 'sse send' && spans.some((d) => d.name.startsWith('bus deliver ') && d.spanContext().spanId === s.parentSpanContext?.spanId));
        },
        { timeoutMs: 15_000, intervalMs: 300, message: 'an sse send span under a bus deliver span' },
      );
      expect(send.attributes['keyflow.subscription.transport']).toBe('sse');
    } finally {
      abort.abort();
    }
  });
});
