/**
 * GraphQL spans from @envelop/opentelemetry (`graphql.query.<name>`, `graphql.mutation.<name>`,
 * `graphql.subscription.<name>`), children of the request's context — so of the client's
 * `traceparent` when it sent one (server.ts extracts it). The operation span is also made the
 * active span while the operation executes, so what resolvers do is its child: in particular the
 * `traceparent` header ingest writes on every record, which links the processor's batch span back
 * to the publishing request.
 */
import { getCurrentOtelContext, useOpenTelemetry } from '@envelop/opentelemetry';
import { context, SpanKind, type TracerProvider } from '@opentelemetry/api';
import type { Plugin } from 'graphql-yoga';

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

export function useTracing(options: TracingOptions): Plugin {
  return {
    onPluginInit({ addPlugin }) {
      // Documents go on the span (no variables: they hold partners' payloads); no per-resolver spans.
      addPlugin(useOpenTelemetry({ resolvers: false, variables: false, result: false, document: true }, options.tracerProvider, SpanKind.SERVER, {}, 'keyflow', 'graphql.') as Plugin);
      addPlugin(activateOperationSpan);
    },
  };
}
