/**
 * Fast path for batches passed as variables: a mutation's `[EventInput!]!` variable reaches the
 * `publishEvents` resolver as the client sent it, not through GraphQL's per-field input coercion.
 * Ingest validates every event anyway (the same rules, field by field, with each invalid index
 * and its code in `details.errors`), so coercing 500 × 7 fields first only doubled the work and
 * the garbage (profile: BENCHMARKS.md, issue 8 part 2).
 *
 * How: after the plugins that read the variables (auth scopes see the events as sent), execution
 * gets the variable as an empty list and the context gets the raw list under the variable's name
 * ({@link RAW_EVENT_INPUTS}); the resolver takes it from there when its argument is that
 * variable. What coercion checked and ingest did not (unknown fields, `eventId: null`) ingest
 * checks too (src/ingest/ingest.ts). A value that is not a list keeps the ordinary path.
 */
import { getOperationAST, Kind, type OperationDefinitionNode, type TypeNode } from 'graphql';
import type { Plugin } from 'graphql-yoga';

/** Context key of the raw `[EventInput!]!` variables of the operation, by variable name. */
export const RAW_EVENT_INPUTS = 'rawEventInputs';

export type RawEventInputs = ReadonlyMap<string, readonly unknown[]>;

/** `[EventInput!]!` or `[EventInput!]`: a list of non-null EventInput. */
function isEventInputList(type: TypeNode): boolean {
  const list = type.kind === Kind.NON_NULL_TYPE ? type.type : type;
  if (list.kind !== Kind.LIST_TYPE) return false;
  const item = list.type;
  return item.kind === Kind.NON_NULL_TYPE && item.type.kind === Kind.NAMED_TYPE && item.type.name.value === 'EventInput';
}

function rawInputs(op: OperationDefinitionNode, vars: Record<string, unknown>): Map<string, unknown[]> | undefined {
  let raw: Map<string, unknown[]> | undefined;
  for (const d of op.variableDefinitions ?? []) {
    if (!isEventInputList(d.type)) continue;
    const name = d.variable.name.value;
    const v = vars[name];
    if (Array.isArray(v)) (raw ??= new Map()).set(name, v);
  }
  return raw;
}

export function useRawEventInputs(): Plugin {
  return {
    onExecute({ args, executeFn, setExecuteFn }) {
      const vars = args.variableValues;
      if (!vars) return;
      const op = getOperationAST(args.document, args.operationName);
      if (op?.operation !== 'mutation' || !op.variableDefinitions?.length) return;
      const raw = rawInputs(op, vars as Record<string, unknown>);
      if (!raw) return;
      const swapped: Record<string, unknown> = { ...vars };
      for (const name of raw.keys()) swapped[name] = [];
      setExecuteFn((a) => {
        const ctx = a.contextValue as Record<string, unknown>;
        ctx[RAW_EVENT_INPUTS] = raw;
        return executeFn({ ...a, variableValues: swapped });
      });
    },
  };
}
