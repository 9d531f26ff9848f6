/**
 * Traces of one event, collected with an in-memory exporter on a whole embedded node: the
 * client's `traceparent` is the parent of the GraphQL span (@envelop/opentelemetry), the record the
 * mutation appends carries that span as its traceparent, and the processor's batch span links back
 * to it. Log lines written during a request carry its trace and request ids.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { context, propagation } from '@opentelemetry/api';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createClient } from 'graphql-ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type App, buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { createLogger } from '../../src/core/logger.ts';
import { createTracing } from '../../src/core/telemetry/tracing.ts';

const CLIENT_TRACE = '0af7651916cd43dd8448eb211c80319c';
const CLIENT_SPAN = 'b7ad6b7169203331';
const TOKEN = 'trace-test-token';

describe('one event, one trace', () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const lines: Record<string, unknown>[] = [];
  let dir: string;
  let app: App;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'keyflow-trace-'));
    const logger = createLogger({ level: 'info', destination: { write: (l: string) => void lines.push(JSON.parse(l) as Record<string, unknown>) } });
    const config = loadConfig({ KEYFLOW_DATA_DIR: dir, KEYFLOW_PORT: '0', KEYFLOW_HOST: '127.0.0.1', KEYFLOW_API_TOKENS: TOKEN, KEYFLOW_SINKS: 'none' });
    app = await buildApp(config, { logger, tracing });
    await app.start();
  });
  afterAll(async () => {
    await app.stop();
    await tracing.shutdown();
    // The provider registered the global context manager and propagator; other suites in this process set their own.
    context.disable();
    propagation.disable();
    await rm(dir, { recursive: true, force: true });
  });

  function post(body: unknown, headers: Record<string, string>) {
    return fetch(app.url.replace('localhost', '127.0.0.1'), {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  }

  it('client → gateway span → record traceparent → processing span link', async () => {
    const res = await post(
      { query: 'mutation Publish($i: EventInput!) { publishEvent(input: $i) { partition offset } }', variables: { i: { eventType: 'iot.sensor', deviceId: 'trace-dev', timestamp: '2026-01-15T10:00:00Z', payload: { value: 1 } } } },
      { authorization: `Bearer ${TOKEN}`, traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
    );
    const body = (await res.json()) as { data?: { publishEvent: { partition: number; offset: string } }; errors?: unknown };
    expect(body.errors).toBeUndefined();

    const gateway = exporter.getFinishedSpans().find((s) => s.name === 'graphql.mutation.Publish');
    expect(gateway).toBeDefined();
    expect(gateway!.spanContext().traceId).toBe(CLIENT_TRACE);
    expect(gateway!.parentSpanContext?.spanId).toBe(CLIENT_SPAN);

    const { partition, offset } = body.data!.publishEvent;
    const [record] = await app.log.read('events.iot.sensors', partition, Number(offset), Number(offset) + 1);
    expect(record!.headers.traceparent).toBe(`00-${CLIENT_TRACE}-${gateway!.spanContext().spanId}-01`);

    const linked = (s: ReadableSpan) => s.name === 'process events.iot.sensors' && s.links.some((l) => l.context.spanId === gateway!.spanContext().spanId);
    await expect.poll(() => exporter.getFinishedSpans().some(linked), { timeout: 10_000 }).toBe(true);
    const processing = exporter.getFinishedSpans().find(linked)!;
    expect(processing.links[0]!.context.traceId).toBe(CLIENT_TRACE);
  });

  it('over graphql-ws, the traceparent of connection_init (or of the operation) parents the operation span', async () => {
    const c = createClient({
      url: app.url.replace('http://localhost', 'ws://127.0.0.1'),
      webSocketImpl: WebSocket,
      retryAttempts: 0,
      lazy: true,
      connectionParams: { authorization: `Bearer ${TOKEN}`, traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01` },
    });
    const own = '1111111111111111';
    try {
      expect((await c.iterate({ query: 'query WsTopics { topics { name } }' }).next()).value.errors).toBeUndefined();
      expect(
        (await c.iterate({ query: 'query WsOwn { topics { name } }', extensions: { traceparent: `00-${'2'.repeat(32)}-${own}-01` } }).next()).value.errors,
      ).toBeUndefined();
    } finally {
      await c.dispose();
    }
    const ws = exporter.getFinishedSpans().find((s) => s.name === 'graphql.query.WsTopics');
    expect(ws?.spanContext().traceId).toBe(CLIENT_TRACE);
    expect(ws?.parentSpanContext?.spanId).toBe(CLIENT_SPAN);
    const wsOwn = exporter.getFinishedSpans().find((s) => s.name === 'graphql.query.WsOwn');
    expect(wsOwn?.parentSpanContext?.spanId).toBe(own);
  });

  it('a log line written during a request carries its trace id and request id', async () => {
    const res = await post({ query: '{ topics { name } }' }, { authorization: 'Bearer wrong', traceparent: `00-${CLIENT_TRACE}-${CLIENT_SPAN}-01`, 'x-request-id': 'req-trace-1' });
    expect(res.status).toBe(401);
    await expect
      .poll(() => lines.find((l) => l.event === 'audit.request_rejected' && l.request_id === 'req-trace-1'), { timeout: 5000 })
      .toMatchObject({ trace_id: CLIENT_TRACE, span_id: CLIENT_SPAN, code: 'UNAUTHENTICATED' });
  });
});
