/**
 * One OpenTelemetry span per GraphQL operation (`graphql.execute <operation>`), made the active
 * span while it executes, so what the resolvers do is its child — in particular the
 * `traceparent` header ingest writes on every record, which links the processor's batch span back
 * to the publishing request.
 */
import { type Tracer, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';
import type { DefinitionNode, OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';

export interface TracingOptions {
  /** Tracer from the node's provider (passed in, never the global one). */
  tracer: Tracer;
}

export function useTracing(options: TracingOptions): Plugin {
  const { tracer } = options;
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const operation = args.document.definitions.find((d: DefinitionNode): d is OperationDefinitionNode => d.kind === 'OperationDefinition');
      const name = args.operationName ?? operation?.name?.value ?? 'anonymous';
      const span = tracer.startSpan(`graphql.execute ${name}`, {
        kind: SpanKind.SERVER,
        attributes: { 'graphql.operation.name': name },
      });
      const ctx = trace.setSpan(context.active(), span);
      setExecuteFn((execArgs) => context.with(ctx, () => executeFn(execArgs)));
      return {
        onExecuteDone({ result }) {
          const errors = 'errors' in result ? result.errors : undefined;
          if (errors && errors.length > 0) span.setStatus({ code: SpanStatusCode.ERROR, message: errors[0]!.message });
          span.end();
        },
      };
    },
  };
}
