/**
 * OpenTelemetry tracing. With an OTLP endpoint (or exporters passed in, as tests do), spans go out
 * in batches; without either the tracer is the API's no-op and costs nothing. The provider is
 * created here and passed in — components take the tracer or provider they are given. Registering
 * it installs the async context manager (child spans find their parent across awaits) and the W3C
 * trace-context propagator (an incoming `traceparent` becomes the parent of the request's spans);
 * the Kafka, Redis and PostgreSQL clients get spans of their own (client-spans.ts).
 *
 * The request id travels in the same context ({@link withRequestContext}), so every log line
 * written while a request is handled carries `trace_id`, `span_id` and `request_id` (logger.ts).
 */
import { type Context, isSpanContextValid, type Link, ROOT_CONTEXT, type SpanContext, type Tracer, type TracerProvider, context, createContextKey, propagation, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { instrumentClients } from './client-spans.ts';

export interface Tracing {
  readonly tracer: Tracer;
  /** The provider behind `tracer` (plugins that make their own tracers take it). */
  readonly provider: TracerProvider;
  readonly enabled: boolean;
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** OTLP/HTTP base endpoint, e.g. http://localhost:4318; undefined (and no spanProcessors) disables tracing. */
  endpoint?: string | undefined;
  /** @default 'keyflow' */
  serviceName?: string;
  /** Span processors to use besides (or, without an endpoint, instead of) the OTLP exporter: tests pass an in-memory one. */
  spanProcessors?: SpanProcessor[];
}

export function createTracing(options: TracingOptions): Tracing {
  const processors = [...(options.spanProcessors ?? [])];
  if (options.endpoint) processors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.endpoint.replace(/\/$/, '')}/v1/traces` })));
  if (processors.length === 0) {
    return { tracer: trace.getTracer('keyflow'), provider: trace.getTracerProvider(), enabled: false, shutdown: async () => {} };
  }
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName ?? 'keyflow' }),
    spanProcessors: processors,
  });
  // Sets up the async context manager and the W3C propagator (the tracer itself is passed around).
  provider.register();
  instrumentClients(provider);
  return { tracer: provider.getTracer('keyflow'), provider, enabled: true, shutdown: () => provider.shutdown() };
}

const REQUEST_ID = createContextKey('keyflow.request_id');

/** The trace context a request's headers carry (`traceparent`, `tracestate`), on top of the root context. */
export function extractTraceContext(headers: Record<string, string | string[] | undefined>): Context {
  return propagation.extract(ROOT_CONTEXT, headers);
}

/** `parent` with this request id: spans started in it are its children, log lines carry the id. */
export function withRequestContextValue(parent: Context, requestId: string): Context {
  return parent.setValue(REQUEST_ID, requestId);
}

/** Runs `fn` in {@link withRequestContextValue}(parent, requestId). */
export function withRequestContext<T>(parent: Context, requestId: string, fn: () => T): T {
  return context.with(withRequestContextValue(parent, requestId), fn);
}

/** `trace_id`, `span_id` and `request_id` of the active context, for log lines (empty outside a request or span). */
export function logCorrelation(): Record<string, string> {
  const active = context.active();
  const out: Record<string, string> = {};
  const sc = trace.getSpanContext(active);
  if (sc && sc.traceId !== '00000000000000000000000000000000') {
    out.trace_id = sc.traceId;
    out.span_id = sc.spanId;
  }
  const requestId = active.getValue(REQUEST_ID);
  if (typeof requestId === 'string') out.request_id = requestId;
  return out;
}

const SPAN_LINKS = createContextKey('keyflow.span_links');

/**
 * `parent` carrying span links for the next span that asks for them: work done later on behalf of
 * several traces (a sink write at checkpoint commit covers the finals of several batches) starts
 * its span linked to each of them. See {@link spanLinksOf}.
 */
export function withSpanLinks(parent: Context, links: readonly Link[]): Context {
  return parent.setValue(SPAN_LINKS, links);
}

/** The links {@link withSpanLinks} put in `ctx` (undefined when none). */
export function spanLinksOf(ctx: Context): readonly Link[] | undefined {
  return ctx.getValue(SPAN_LINKS) as readonly Link[] | undefined;
}

/**
 * The context to run work in that continues the given spans: the span itself as parent when there
 * is one, links to each (at most `maxLinks`, the first ones) when there are several, the root
 * context when there are none. Duplicates count once.
 */
export function continuing(spans: readonly SpanContext[], maxLinks = 128): Context {
  if (spans.length === 0) return ROOT_CONTEXT;
  const first = spans[0]!;
  const distinct: SpanContext[] = [first];
  const seen = new Set<string>([first.spanId]);
  for (let i = 1; i < spans.length && distinct.length < maxLinks; i++) {
    const s = spans[i]!;
    if (seen.has(s.spanId)) continue;
    seen.add(s.spanId);
    distinct.push(s);
  }
  if (distinct.length === 1) return trace.setSpanContext(ROOT_CONTEXT, first);
  return withSpanLinks(ROOT_CONTEXT, distinct.map((context) => ({ context })));
}

/** The active span's context when it is a valid (sampled or not) span, else undefined. Cheap: no allocation. */
export function activeSpanContext(): SpanContext | undefined {
  const sc = trace.getSpanContext(context.active());
  return sc !== undefined && isSpanContextValid(sc) ? sc : undefined;
}

/**
 * Delivery marks: the span a live item (an event message, a subscription's execution result) was
 * delivered under on this node, so the span of its later send to a subscriber (graphql-ws, SSE)
 * continues the trace. Kept beside the item, weakly: nothing to clean up. Marked only while
 * tracing, so an untraced node pays one boolean test per item.
 */
const deliveries = new WeakMap<object, SpanContext>();
let anyDelivery = false;

export function markDelivery(item: object, span: SpanContext): void {
  anyDelivery = true;
  deliveries.set(item, span);
}

export function deliverySpanOf(item: unknown): SpanContext | undefined {
  return anyDelivery && typeof item === 'object' && item !== null ? deliveries.get(item) : undefined;
}
