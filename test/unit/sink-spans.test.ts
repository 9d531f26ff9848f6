/**
 * A span per sink write (tracedSink), collected with an in-memory exporter: a child of the span
 * active when the processor writes, named after the sink, with the result count and event types;
 * a failing write marks its span ERROR and rethrows the sink's own error. Uses the real data-lake
 * sink.
 */
import { context, propagation, SpanStatusCode } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { createTracing } from '../../src/core/telemetry/tracing.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import { createDataLakeSink, type Sink, SinkSpanAttr, tracedSink } from '../../src/sinks/index.ts';
import { finalResult } from '../contract/sink.contract.ts';
import { tempDir } from '../helpers/wait.ts';

describe('sink write spans', () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  afterAll(async () => {
    await tracing.shutdown();
    context.disable();
    propagation.disable();
  });

  it('each write is a child span of the active one, with the sink name, result count and event types', async () => {
    const tmp = await tempDir('keyflow-lake-spans-');
    try {
      const sink = tracedSink(createDataLakeSink({ dir: tmp.dir, fsync: false }), tracing.tracer);
      await sink.start();
      const t = Date.UTC(2024, 0, 15, 10, 0);
      await tracing.tracer.startActiveSpan('commit', async (parent) => {
        await sink.write([finalResult('iot.sensor', 'd1', t), finalResult('transaction', 'u1', t), finalResult('iot.sensor', 'd2', t)]);
        parent.end();
      });
      await sink.close();
      const parent = exporter.getFinishedSpans().find((s) => s.name === 'commit')!;
      const write = exporter.getFinishedSpans().find((s) => s.name === 'sink write data-lake')!;
      expect(write).toBeDefined();
      expect(write.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
      expect(write.spanContext().traceId).toBe(parent.spanContext().traceId);
      expect(write.attributes[SinkSpanAttr.sink]).toBe('data-lake');
      expect(write.attributes[SinkSpanAttr.results]).toBe(3);
      expect(write.attributes[SinkSpanAttr.eventTypes]).toEqual(['iot.sensor', 'transaction']);
      expect(write.status.code).not.toBe(SpanStatusCode.ERROR);
      // the results really reached the lake through the wrapper
      const lake = createDataLakeSink({ dir: tmp.dir, fsync: false });
      await lake.start();
      expect((await lake.read()).map((r) => r.key).sort()).toEqual(['d1', 'd2', 'u1']);
      await lake.close();
    } finally {
      await tmp.remove();
    }
  });

  it('a failing write marks its span ERROR and rethrows the same error', async () => {
    const failure = new KeyflowError(ErrorCode.SINK_FAILED, 'warehouse down', { retriable: true });
    const broken: Sink = {
      name: 'broken',
      start: async () => {},
      close: async () => {},
      healthy: async () => ({ connected: false }),
      write: async () => {
        throw failure;
      },
    };
    await expect(tracedSink(broken, tracing.tracer).write([finalResult('iot.sensor', 'd1', 0)])).rejects.toBe(failure);
    const span = exporter.getFinishedSpans().find((s) => s.name === 'sink write broken')!;
    expect(span.status).toMatchObject({ code: SpanStatusCode.ERROR, message: 'warehouse down' });
    expect(span.events.some((e) => e.name === 'exception')).toBe(true);
  });
});
