/**
 * Finds, among collected spans, the whole trace chain of one event past the gateway: a processing
 * batch `process <topic>` linked to a span of the client's trace (the mutation or its Kafka produce
 * span), its `bus publish` of the event, the gateway's `bus deliver`, the send of the subscription
 * message to the client (`graphql-ws send`), and the `sink write` of the finals that batch emitted
 * (child of the batch span, or linked to it when the write covers several batches).
 */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

export interface EventChain {
  process: ReadableSpan;
  publish: ReadableSpan;
  deliver: ReadableSpan;
  send: ReadableSpan;
  sinkWrite: ReadableSpan;
}

export function findEventChain(spans: readonly ReadableSpan[], clientTrace: string): EventChain | undefined {
  const inClientTrace = new Set(spans.filter((s) => s.spanContext().traceId === clientTrace).map((s) => s.spanContext().spanId));
  const children = new Map<string, ReadableSpan[]>();
  for (const s of spans) {
    const parent = s.parentSpanContext?.spanId;
    if (parent !== undefined) children.set(parent, [...(children.get(parent) ?? []), s]);
  }
  const childrenOf = (s: ReadableSpan, prefix: string) => (children.get(s.spanContext().spanId) ?? []).filter((c) => c.name.startsWith(prefix));
  for (const process of spans) {
    if (!process.name.startsWith('process ') || !process.links.some((l) => inClientTrace.has(l.context.spanId))) continue;
    const id = process.spanContext().spanId;
    const sinkWrite = spans.find((s) => s.name.startsWith('sink write ') && (s.parentSpanContext?.spanId === id || s.links.some((l) => l.context.spanId === id)));
    if (sinkWrite === undefined) continue;
    for (const publish of childrenOf(process, 'bus publish ')) {
      if (!publish.name.includes('keyflow.events.')) continue;
      for (const deliver of childrenOf(publish, 'bus deliver ')) {
        const [send] = childrenOf(deliver, 'graphql-ws send');
        if (send) return { process, publish, deliver, send, sinkWrite };
      }
    }
  }
  return undefined;
}

/** One line per span, for a failure message. */
export function describeSpans(spans: readonly ReadableSpan[]): string {
  return spans
    .map((s) => `${s.name} ${s.spanContext().traceId.slice(0, 6)} ${s.spanContext().spanId} <- ${s.parentSpanContext?.spanId ?? '-'} links=${s.links.map((l) => l.context.spanId).join(',')}`)
    .join('\n');
}
