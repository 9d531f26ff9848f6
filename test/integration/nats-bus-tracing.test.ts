/**
 * NATS bus trace propagation on a real NATS server, spans collected with an in-memory exporter: a
 * publish inside an active span (the processor's `process <topic>`) becomes a PRODUCER span whose
 * trace context travels in the message headers; every subscribing bus (gateway) runs its handler
 * inside a CONSUMER span `bus deliver <subject>`, child of it, in the same trace. Without an active
 * span or without a tracer nothing extra is sent and delivery is unchanged.
 */
import { randomUUID } from 'node:crypto';
import { context, propagation, trace } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { afterAll, describe, expect, it } from 'vitest';
import { createNatsBus } from '../../src/bus/nats/nats-bus.ts';
import type { LiveBus } from '../../src/bus/port.ts';
import { createTracing } from '../../src/core/telemetry/tracing.ts';
import { requireNats } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const { url } = requireNats();
const prefix = `kftr-${randomUUID().slice(0, 8)}`;

describe('NATS bus: trace context in message headers', () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const buses: LiveBus[] = [];
  afterAll(async () => {
    await Promise.allSettled(buses.map((b) => b.close()));
    await tracing.shutdown();
    context.disable();
    propagation.disable();
  });

  async function bus(traced: boolean): Promise<LiveBus> {
    const b = createNatsBus({ servers: url, prefix, interest: false, ...(traced ? { tracer: tracing.tracer } : {}) });
    buses.push(b);
    await b.start();
    return b;
  }

  /** Subscribes, then publishes probes until the subscription is live on the server. */
  async function subscribed(publisher: LiveBus, subscriber: LiveBus, subject: string): Promise<{ got: unknown[]; activeTraces: (string | undefined)[] }> {
    const got: unknown[] = [];
    const activeTraces: (string | undefined)[] = [];
    let probed = false;
    subscriber.subscribe(subject, (m) => {
      // probes still in flight after the subscription went live are ignored
      if (m === 'probe') {
        probed = true;
        return;
      }
      got.push(m);
      activeTraces.push(trace.getActiveSpan()?.spanContext().traceId);
    });
    await waitFor(
      () => {
        publisher.publish(subject, 'probe');
        return probed;
      },
      { intervalMs: 20, message: 'subscription live' },
    );
    return { got, activeTraces };
  }

  it('processor span → bus publish (PRODUCER) → bus deliver (CONSUMER) on each gateway, one trace', async () => {
    const processor = await bus(true);
    const gatewayA = await bus(true);
    const gatewayB = await bus(true);
    const subject = `keyflow.events.trace-${randomUUID().slice(0, 6)}`;
    const a = await subscribed(processor, gatewayA, subject);
    const b = await subscribed(processor, gatewayB, subject);
    exporter.reset();

    let traceId = '';
    let processSpanId = '';
    tracing.tracer.startActiveSpan('process events.iot.sensors', (span) => {
      traceId = span.spanContext().traceId;
      processSpanId = span.spanContext().spanId;
      processor.publish(subject, { events: [{ eventId: 'e1' }] });
      span.end();
    });
    await waitFor(() => a.got.length === 1 && b.got.length === 1, { message: 'both gateways got the message' });
    expect(a.got[0]).toEqual({ events: [{ eventId: 'e1' }] });
    // the handler ran inside the delivery span, in the processor's trace
    expect(a.activeTraces).toEqual([traceId]);
    expect(b.activeTraces).toEqual([traceId]);

    await waitFor(() => exporter.getFinishedSpans().filter((s) => s.name === `bus deliver ${subject}`).length === 2, { message: 'two delivery spans' });
    const spans = exporter.getFinishedSpans();
    const publish = spans.find((s) => s.name === `bus publish ${subject}`)!;
    expect(publish.parentSpanContext?.spanId).toBe(processSpanId);
    expect(publish.spanContext().traceId).toBe(traceId);
    const deliveries = spans.filter((s) => s.name === `bus deliver ${subject}`);
    for (const d of deliveries) {
      expect(d.spanContext().traceId).toBe(traceId);
      expect(d.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
      expect(d.attributes['messaging.destination.name']).toBe(`${prefix}.${subject}`);
    }
  });

  it('no active span: no headers, no spans, delivery unchanged; an untraced subscriber still gets traced messages', async () => {
    const processor = await bus(true);
    const plain = await bus(false);
    const subject = `keyflow.windows.trace-${randomUUID().slice(0, 6)}`;
    const p = await subscribed(processor, plain, subject);
    exporter.reset();
    processor.publish(subject, { n: 1 });
    tracing.tracer.startActiveSpan('process x', (span) => {
      processor.publish(subject, { n: 2 });
      span.end();
    });
    await waitFor(() => p.got.length === 2, { message: 'both messages delivered' });
    expect(p.got).toEqual([{ n: 1 }, { n: 2 }]);
    // the untraced bus opens no span; only the publish inside the active span made one
    expect(exporter.getFinishedSpans().map((s) => s.name).sort()).toEqual([`bus publish ${subject}`, 'process x']);
  });
});
