/**
 * Which scopes an operation needs, from its root fields and their arguments:
 * `publishEvent`/`publishEvents`/`publishEncodedEvent` need `publish:<eventType>` for every event type they carry, the
 * other reads `read` (`health`, `topics` and introspection: any authenticated caller),
 * `deadLetters` / `deadLettersPage` `read` and also `admin` when it selects the dead letter's payload
 * (`originalMessage`), every other mutation `admin`, subscriptions `subscribe`. A root field this
 * table does not know is held to the strictest scope of its operation type.
 */
import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  getOperationAST,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from 'graphql';
import { publishScope, Scope } from './identity.ts';

export interface RequiredScope {
  /** `mutation.publishEvent` */
  readonly field: string;
  readonly scope: string;
}

const OPEN = new Set(['health', 'topics', '__typename', '__schema', '__type']);
/** Fields whose selection of a sensitive sub-field needs admin: the dead letter's payload. */
const ADMIN_SUBFIELDS: Record<string, string> = { deadLetters: 'originalMessage', deadLettersPage: 'originalMessage' };

function selects(set: SelectionSetNode | undefined, name: string, fragments: Map<string, FragmentDefinitionNode>, seen: Set<string>): boolean {
  if (!set) return false;
  for (const s of set.selections) {
    if (s.kind === Kind.FIELD) {
      if (s.name.value === name) return true;
      // at any depth (deadLettersPage { nodes { originalMessage } })
      if (selects(s.selectionSet, name, fragments, seen)) return true;
    } else if (s.kind === Kind.INLINE_FRAGMENT) {
      if (selects(s.selectionSet, name, fragments, seen)) return true;
    } else if (!seen.has(s.name.value)) {
      seen.add(s.name.value);
      if (selects(fragments.get(s.name.value)?.selectionSet, name, fragments, seen)) return true;
    }
  }
  return false;
}

/**
 * The value of an argument as the client wrote it (variables substituted, defaults applied) —
 * not coerced: coercing a batch of events twice (here and in execution) cost as much as the rest
 * of the check (bench: `npm run bench -- --only auth`).
 */
function rawValue(node: ValueNode, vars: Record<string, unknown>, defaults: ReadonlyMap<string, ValueNode>): unknown {
  switch (node.kind) {
    case Kind.VARIABLE: {
      const name = node.name.value;
      if (name in vars) return vars[name];
      const d = defaults.get(name);
      return d ? rawValue(d, vars, defaults) : undefined;
    }
    case Kind.LIST:
      return node.values.map((v) => rawValue(v, vars, defaults));
    case Kind.OBJECT: {
      const out: Record<string, unknown> = {};
      for (const f of node.fields) out[f.name.value] = rawValue(f.value, vars, defaults);
      return out;
    }
    case Kind.NULL:
      return null;
    default:
      return node.value;
  }
}

/**
 * The event types a publish field carries, or undefined when one is not a string: String input
 * coercion accepts only strings, so execution would refuse that input before any resolver runs.
 * A single input where a list is expected counts as a list of one, as coercion makes it.
 */
function eventTypesOf(node: FieldNode, vars: Record<string, unknown>, defaults: ReadonlyMap<string, ValueNode>): string[] | undefined {
  const single = node.name.value === 'publishEvent' || node.name.value === 'publishEncodedEvent';
  const argName = single ? 'input' : 'inputs';
  const arg = node.arguments?.find((a) => a.name.value === argName);
  if (!arg) return undefined;
  const raw = rawValue(arg.value, vars, defaults);
  const inputs = single || !Array.isArray(raw) ? [raw] : raw;
  const types = new Set<string>();
  for (const i of inputs) {
    const t = (i as { eventType?: unknown } | null | undefined)?.eventType;
    if (typeof t !== 'string') return undefined;
    types.add(t);
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
 * The scopes the operation needs, or `undefined` when the document or its inputs are invalid
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
  const vars = variables ?? {};
  const defaults = new Map<string, ValueNode>();
  for (const v of op.variableDefinitions ?? []) if (v.defaultValue) defaults.set(v.variable.name.value, v.defaultValue);
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
    } else if (name === 'publishEvent' || name === 'publishEvents' || name === 'publishEncodedEvent') {
      const types = eventTypesOf(node, vars, defaults);
      if (!types) return undefined;
      for (const t of types) out.push({ field: label, scope: publishScope(t) });
    } else if (name !== '__typename') {
      out.push({ field: label, scope: Scope.admin });
    }
  }
  return out;
}
