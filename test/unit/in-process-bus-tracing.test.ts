/**
 * Spans of the in-process bus (embedded mode), as the NATS bus has them: a publish inside an active
 * span becomes a PRODUCER span `bus publish <subject>`, and each subscriber's handler runs inside a
 * CONSUMER span `bus deliver <subject>`, child of it, in the same trace; without an active span,
 * without a tracer, or with nobody subscribed, no span is made and delivery is unchanged. And
 * `continuing`, the context a later piece of work (the sink write) runs in for the spans it
 * continues: the span as parent when there is one, links to each when there are several.
 */
import { context, propagation, ROOT_CONTEXT, type SpanContext, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createInProcessBus } from '../../src/bus/in-process/in-process-bus.ts';
import { continuing, createTracing, spanLinksOf } from '../../src/core/telemetry/tracing.ts';

describe('in-process bus spans', () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  beforeEach(() => exporter.reset());
  afterAll(async () => {
    await tracing.shutdown();
    context.disable();
    propagation.disable();
  });

  it('a publish inside a span: bus publish, and bus deliver per subscriber as its child, handlers run inside it', () => {
    const bus = createInProcessBus({ tracer: tracing.tracer });
    const seen: (string | undefined)[] = [];
    bus.subscribe('keyflow.events.a', () => seen.push(trace.getActiveSpan()?.spanContext().spanId));
    bus.subscribe('keyflow.events.*', () => seen.push(trace.getActiveSpan()?.spanContext().spanId));
    tracing.tracer.startActiveSpan('process a', (span) => {
      bus.publish('keyflow.events.a', { n: 1 });
      span.end();
    });
    const spans = exporter.getFinishedSpans();
    const process = spans.find((s) => s.name === 'process a')!;
    const publish = spans.find((s) => s.name === 'bus publish keyflow.events.a')!;
    expect(publish.parentSpanContext?.spanId).toBe(process.spanContext().spanId);
    const delivers = spans.filter((s) => s.name === 'bus deliver keyflow.events.a');
    expect(delivers).toHaveLength(2);
    for (const d of delivers) {
      expect(d.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
      expect(d.spanContext().traceId).toBe(process.spanContext().traceId);
    }
    expect(seen.sort()).toEqual(delivers.map((d) => d.spanContext().spanId).sort());
  });

  it('no span outside an active span, without a tracer, or with nobody subscribed; delivery unchanged', () => {
    const traced = createInProcessBus({ tracer: tracing.tracer });
    const plain = createInProcessBus();
    const got: unknown[] = [];
    traced.subscribe('s', (m) => got.push(m));
    plain.subscribe('s', (m) => got.push(m));
    traced.publish('s', 1);
    tracing.tracer.startActiveSpan('outer', (span) => {
      plain.publish('s', 2);
      traced.publish('nobody', 3);
      span.end();
    });
    expect(got).toEqual([1, 2]);
    expect(exporter.getFinishedSpans().map((s) => s.name)).toEqual(['outer']);
  });

  it('a throwing subscriber marks its deliver span and the others still get the message', () => {
    const warnings: string[] = [];
    const bus = createInProcessBus({ tracer: tracing.tracer, logger: { warn: (_o, msg) => warnings.push(msg) } });
    const got: unknown[] = [];
    bus.subscribe('s', () => {
      throw new Error('boom');
    });
    bus.subscribe('s', (m) => got.push(m));
    tracing.tracer.startActiveSpan('outer', (span) => {
      bus.publish('s', 'x');
      span.end();
    });
    expect(got).toEqual(['x']);
    expect(warnings).toHaveLength(1);
    expect(exporter.getFinishedSpans().filter((s) => s.name === 'bus deliver s' && s.status.code === 2)).toHaveLength(1);
  });
});

describe('continuing', () => {
  const sc = (n: number): SpanContext => ({ traceId: n.toString(16).padStart(32, 'a'), spanId: n.toString(16).padStart(16, 'b'), traceFlags: 1 });

  it('nothing: the root context', () => {
    expect(continuing([])).toBe(ROOT_CONTEXT);
  });

  it('one span (however often listed): it is the parent, no links', () => {
    const ctx = continuing([sc(1), sc(1)]);
    expect(trace.getSpanContext(ctx)?.spanId).toBe(sc(1).spanId);
    expect(spanLinksOf(ctx)).toBeUndefined();
  });

  it('several: links to each once, in order, at most maxLinks; no parent', () => {
    const ctx = continuing([sc(1), sc(2), sc(1), sc(3), sc(4)], 3);
    expect(trace.getSpanContext(ctx)).toBeUndefined();
    expect(spanLinksOf(ctx)?.map((l) => l.context.spanId)).toEqual([sc(1).spanId, sc(2).spanId, sc(3).spanId]);
  });
});
