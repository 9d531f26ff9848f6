/**
 * GraphQL spans from @envelop/opentelemetry (`graphql.query.<name>`, `graphql.mutation.<name>`,
 * `graphql.subscription.<name>`), children of the request's context — so of the client's
 * `traceparent` when it sent one (server.ts extracts it). The operation span is also made the
 * active span while the operation executes, so what resolvers do is its child: in particular the
 * `traceparent` header ingest writes on every record, which links the processor's batch span back
 * to the publishing request.
 *
 * A subscription message sent over SSE whose item came off the live bus in a traced delivery gets a
 * PRODUCER span `sse send`, child of that `bus deliver` span, when yoga takes the result for the
 * event stream (graphql-ws messages get `graphql-ws send`, in ws-server.ts, where the frame is
 * written).
 */
import { getCurrentOtelContext, useOpenTelemetry } from '@envelop/opentelemetry';
import { context, ROOT_CONTEXT, SpanKind, type Tracer, type TracerProvider, trace } from '@opentelemetry/api';
import type { Plugin } from 'graphql-yoga';
import { deliverySpanOf, SpanAttr } from '../../core/index.ts';

export interface TracingOptions {
  /** The node's tracer provider (passed in, never the global one). */
  tracerProvider: TracerProvider;
}

/** Runs execute/subscribe inside the operation span @envelop/opentelemetry started. */
const activateOperationSpan: Plugin = {
  onExecute({ setExecuteFn, executeFn }) {
    setExecuteFn((args) => context.with(getCurrentOtelContext(args.contextValue), () => executeFn(args)));
  },
  onSubscribe({ setSubscribeFn, subscribeFn }) {
    setSubscribeFn((args) => context.with(getCurrentOtelContext(args.contextValue), () => subscribeFn(args)));
  },
};

/** `sse send` spans (see the file's comment). */
function sseSendSpans(tracer: Tracer): Plugin {
  return {
    onSubscribe({ args }) {
      if ((args.contextValue as { transport?: string }).transport !== 'sse') return;
      return {
        onSubscribeResult() {
          return {
            onNext({ result }) {
              const parent = deliverySpanOf(result);
              if (parent === undefined) return;
              tracer.startSpan('sse send', { kind: SpanKind.PRODUCER, attributes: { [SpanAttr.subscriptionTransport]: 'sse' } }, trace.setSpanContext(ROOT_CONTEXT, parent)).end();
            },
          };
        },
      };
    },
  };
}

export function useTracing(options: TracingOptions): Plugin {
  return {
    onPluginInit({ addPlugin }) {
      addPlugin(sseSendSpans(options.tracerProvider.getTracer('keyflow')));
      // Documents go on the span (no variables: they hold partners' payloads); no per-resolver spans.
      addPlugin(useOpenTelemetry({ resolvers: false, variables: false, result: false, document: true }, options.tracerProvider, SpanKind.SERVER, {}, 'keyflow', 'graphql.') as Plugin);
      addPlugin(activateOperationSpan);
    },
  };
}
