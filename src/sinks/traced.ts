/**
 * A span per sink write: `sink write <name>` (CLIENT), with the sink's name, the number of results
 * and the event types; an error marks the span and is rethrown unchanged. The processor writes at
 * checkpoint commit, outside the spans of the batches that emitted the finals: it runs the write in
 * the context those batches continue in (`continuing` in core/telemetry) — the batch's span as
 * parent when there is one, links to each batch's span (`withSpanLinks`) when there are several —
 * so the write belongs to the traces of the events it stores.
 */
import { context, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { spanLinksOf } from '../core/index.ts';
import type { WindowResult } from '../model/index.ts';
import type { Sink } from './port.ts';

export const SinkSpanAttr = {
  sink: 'keyflow.sink',
  results: 'keyflow.sink.result_count',
  eventTypes: 'keyflow.event_types',
} as const;

function eventTypes(results: readonly WindowResult[]): string[] {
  const seen = new Set<string>();
  for (const r of results) seen.add(r.eventType);
  return [...seen];
}

/** Wraps a sink so each `write` runs in its own span. */
export function tracedSink(sink: Sink, tracer: Tracer): Sink {
  return {
    name: sink.name,
    start: () => sink.start(),
    close: () => sink.close(),
    healthy: () => sink.healthy(),
    write(results) {
      const links = spanLinksOf(context.active());
      return tracer.startActiveSpan(
        `sink write ${sink.name}`,
        { kind: SpanKind.CLIENT, ...(links ? { links: [...links] } : {}), attributes: { [SinkSpanAttr.sink]: sink.name, [SinkSpanAttr.results]: results.length, [SinkSpanAttr.eventTypes]: eventTypes(results) } },
        async (span) => {
          try {
            await sink.write(results);
          } catch (e) {
            span.recordException(e instanceof Error ? e : String(e));
            span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
            throw e;
          } finally {
            span.end();
          }
        },
      );
    },
  };
}
