/** Counts GraphQL operations and their duration by root field and outcome, on a registry that is passed in. */
import { Kind, type OperationDefinitionNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Counter, Histogram } from 'prom-client';

export interface MetricsPluginOptions {
  /** Labels: operation, status (`ok` or `error`). */
  requests: Counter<'operation' | 'status'>;
  /** Seconds; label: operation. */
  duration: Histogram<'operation'>;
  /** @default performance.now */
  now?: () => number;
}

/** `query.latestEvents`: the operation type and first root field, bounded by the schema (not client-chosen names). */
function operationLabel(doc: { definitions: readonly { kind: string }[] }, operationName: string | null | undefined): string {
  const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  const op = ops.find((o) => !operationName || o.name?.value === operationName) ?? ops[0];
  if (!op) return 'unknown';
  const first = op.selectionSet.selections.find((s) => s.kind === Kind.FIELD);
  return `${op.operation}.${first && first.kind === Kind.FIELD ? first.name.value : 'unknown'}`;
}

export function useMetrics(options: MetricsPluginOptions): Plugin {
  const now = options.now ?? (() => performance.now());
  return {
    onExecute({ args }) {
      const started = now();
      const label = operationLabel(args.document, args.operationName);
      return {
        onExecuteDone({ result }) {
          const failed = 'errors' in result && Array.isArray(result.errors) && result.errors.length > 0;
          options.requests.inc({ operation: label, status: failed ? 'error' : 'ok' });
          options.duration.observe({ operation: label }, (now() - started) / 1000);
        },
      };
    },
  };
}
