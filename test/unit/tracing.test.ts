/**
 * Traces: a publishEvent runs inside a `graphql.execute` span, and the record it appends carries
 * that span's traceparent, so a processor's batch span can link back to the publishing request.
 */
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { context } from '@opentelemetry/api';
import { afterAll, describe, expect, it } from 'vitest';
import { useTracing } from '../../src/graphql/plugins/use-tracing.ts';
import { createHarness, type Harness } from '../helpers/graphql-harness.ts';

describe('tracing', () => {
  const exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const manager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(manager);
  let h: Harness | undefined;
  afterAll(async () => {
    await h?.close();
    context.disable();
    await provider.shutdown();
  });

  it('puts the operation span on the appended record as its traceparent', async () => {
    h = await createHarness({ plugins: [useTracing({ tracer: provider.getTracer('test') })] });
    const res = await h.gql(
      `mutation Publish { publishEvent(input: { eventType: "iot.sensor", deviceId: "d-1", timestamp: "2026-01-15T10:00:00Z", payload: { value: 1 } }) { topic } }`,
    );
    expect(res.body.errors).toBeUndefined();
    const spans = exporter.getFinishedSpans().filter((s) => s.name === 'graphql.execute Publish');
    expect(spans).toHaveLength(1);
    const span = spans[0]!.spanContext();
    const [record] = await h.records('events.iot.sensors');
    expect(record!.headers.traceparent).toBe(`00-${span.traceId}-${span.spanId}-01`);
  });
});
