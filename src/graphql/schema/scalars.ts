/** DateTime (ISO-8601 at the edge, epoch ms inside: UTC ms out, any offset in) and JSON scalars. */
import { Kind, type ValueNode } from 'graphql';
import { ErrorCode, isoTimestampProblem, KeyflowError, MAX_JSON_DEPTH, parseIsoTimestamp } from '../../model/index.ts';
import { builder, type DateTimeOutput } from './builder.ts';

function invalidDateTime(value: unknown): KeyflowError {
  return new KeyflowError(
    ErrorCode.SCHEMA_VALIDATION_FAILED,
    `DateTime must be an ISO-8601 date-time with a time zone, e.g. 2024-01-15T10:30:00.000Z; got ${JSON.stringify(value)?.slice(0, 100)}`,
  );
}

/** Parses a DateTime input, an ISO-8601 string with an offset whose every field is in range, to epoch ms. */
export function parseDateTime(value: unknown): number {
  if (typeof value !== 'string') throw invalidDateTime(value);
  const ms = parseIsoTimestamp(value);
  if (Number.isNaN(ms)) {
    const problem = isoTimestampProblem(value);
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `DateTime ${JSON.stringify(value.slice(0, 40))} ${problem}`);
  }
  return ms;
}

/** Prints a DateTime output, epoch ms, as ISO-8601 UTC with milliseconds. */
export function serializeDateTime(value: DateTimeOutput): string {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new KeyflowError(ErrorCode.INTERNAL, `cannot serialize ${String(value)} as DateTime: expected epoch ms`);
  }
  return new Date(value).toISOString();
}

export const DateTime = builder.scalarType('DateTime', {
  description:
    "ISO-8601 date-time in UTC with millisecond precision, e.g. 2024-01-15T10:30:00.000Z. Inputs may carry any offset; outputs are always UTC 'Z'.",
  serialize: (v) => serializeDateTime(v as DateTimeOutput),
  parseValue: (v) => parseDateTime(v),
  parseLiteral: (ast: ValueNode) => parseDateTime(ast.kind === Kind.STRING ? ast.value : ast.kind),
});

export const JSONScalar = builder.scalarType('JSON', {
  description: 'Any JSON value.',
  serialize: (v) => v,
  parseValue: (v) => v,
  parseLiteral: (ast, variables) => jsonFromLiteral(ast, variables, 1),
});

/**
 * A JSON literal as a value, like graphql-js `valueFromASTUntyped` but keeping a `__proto__` field
 * as an own data property (an assignment would drop it silently), so the event rules refuse it by
 * its path; and refusing nesting past the JSON depth limit before the recursion can go deep.
 */
function jsonFromLiteral(ast: ValueNode, variables: Record<string, unknown> | null | undefined, depth: number): unknown {
  switch (ast.kind) {
    case Kind.NULL:
      return null;
    case Kind.INT:
      return Number.parseInt(ast.value, 10);
    case Kind.FLOAT:
      return Number.parseFloat(ast.value);
    case Kind.STRING:
    case Kind.ENUM:
    case Kind.BOOLEAN:
      return ast.value;
    case Kind.VARIABLE:
      return variables?.[ast.name.value];
  }
  if (depth > MAX_JSON_DEPTH) {
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `JSON value nests objects and arrays more than ${MAX_JSON_DEPTH} levels deep`);
  }
  if (ast.kind === Kind.LIST) return ast.values.map((v) => jsonFromLiteral(v, variables, depth + 1));
  const o: Record<string, unknown> = {};
  for (const f of ast.fields) {
    const v = jsonFromLiteral(f.value, variables, depth + 1);
    if (f.name.value === '__proto__') Object.defineProperty(o, '__proto__', { value: v, enumerable: true, writable: true, configurable: true });
    else o[f.name.value] = v;
  }
  return o;
}
