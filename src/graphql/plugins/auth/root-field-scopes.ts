/**
 * Which scopes an operation needs, from its root fields and their (coerced) arguments:
 * `publishEvent`/`publishEvents` need `publish:<eventType>` for every event type they carry, the
 * other reads `read` (`health`, `topics` and introspection: any authenticated caller),
 * `deadLetters` `read` and also `admin` when it selects the dead letter's payload
 * (`originalMessage`), every other mutation `admin`, subscriptions `subscribe`. A root field this
 * table does not know is held to the strictest scope of its operation type.
 */
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  getArgumentValues,
  getOperationAST,
  getVariableValues,
} from 'graphql';
import { Scope, publishScope } from './identity.ts';

export interface RequiredScope {
  /** `mutation.publishEvent` */
  readonly field: string;
  readonly scope: string;
}

const OPEN = new Set(['health', 'topics', '__typename', '__schema', '__type']);
/** Fields whose selection of a sensitive sub-field needs admin: the dead letter's payload. */
const ADMIN_SUBFIELDS: Record<string, string> = { deadLetters: 'originalMessage' };

function selects(set: SelectionSetNode | undefined, name: string, fragments: Map<string, FragmentDefinitionNode>, seen: Set<string>): boolean {
  if (!set) return false;
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) {
      if (s.name.value === name) return true;
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      if (selects(s.selectionSet, name, fragments, seen)) return true;
    } else if (!seen.has(s.name.value)) {
      seen.add(s.name.value);
      if (selects(fragments.get(s.name.value)?.selectionSet, name, fragments, seen)) return true;
    }
  }
  return false;
}

function eventTypesOf(field: string, args: Record<string, unknown>): string[] {
  const inputs = field === 'publishEvent' ? [args.input] : field === 'publishEvents' && Array.isArray(args.inputs) ? args.inputs : [];
  const types = new Set<string>();
  for (const i of inputs) {
    const t = (i as { eventType?: unknown } | null)?.eventType;
    types.add(typeof t === 'string' ? t : '');
  }
  return [...types];
}

function collectRootFields(set: SelectionSetNode, fragments: Map<string, FragmentDefinitionNode>, out: FieldNode[], seen: Set<string>): void {
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) out.push(s);
    else if (s.kind === Kind.INLINE_FRAGMENT) collectRootFields(s.selectionSet, fragments, out, seen);
    else if (!seen.has(s.name.value)) {
      seen.add(s.name.value);
      const f = fragments.get(s.name.value);
      if (f) collectRootFields(f.selectionSet, fragments, out, seen);
    }
  }
}

/**
 * The scopes the operation needs, or `undefined` when the document or its variables are invalid
 * (execution then fails on its own, before any resolver runs).
 */
export function requiredScopes(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variables: Record<string, unknown> | null | undefined,
): RequiredScope[] | undefined {
  const op: OperationDefinitionNode | null | undefined = getOperationAST(document, operationName ?? undefined);
  if (!op) return undefined;
  const root = op.operation === 'query' ? schema.getQueryType() : op.operation === 'mutation' ? schema.getMutationType() : schema.getSubscriptionType();
  if (!root) return undefined;
  const coerced = getVariableValues(schema, op.variableDefinitions ?? [], variables ?? {});
  if (coerced.errors) return undefined;
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const fields: FieldNode[] = [];
  collectRootFields(op.selectionSet, fragments, fields, new Set());

  const out: RequiredScope[] = [];
  for (const node of fields) {
    const name = node.name.value;
    const label = `${op.operation}.${name}`;
    if (op.operation === 'subscription') {
      out.push({ field: label, scope: Scope.subscribe });
    } else if (op.operation === 'query') {
      if (!OPEN.has(name)) out.push({ field: label, scope: Scope.read });
      const sensitive = ADMIN_SUBFIELDS[name];
      if (sensitive && selects(node.selectionSet, sensitive, fragments, new Set())) out.push({ field: `${label}.${sensitive}`, scope: Scope.admin });
    } else if (name === 'publishEvent' || name === 'publishEvents') {
      const def = root.getFields()[name];
      if (!def) return undefined;
      let args: Record<string, unknown>;
      try {
        args = getArgumentValues(def, node, coerced.coerced);
      } catch {
        return undefined;
      }
      for (const t of eventTypesOf(name, args)) out.push({ field: label, scope: publishScope(t) });
    } else if (name !== '__typename') {
      out.push({ field: label, scope: Scope.admin });
    }
  }
  return out;
}
