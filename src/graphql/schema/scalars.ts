/** DateTime (ISO-8601 at the edge, epoch ms inside: UTC ms out, any offset in) and JSON scalars. */
import { Kind, type ValueNode, valueFromASTUntyped } from 'graphql';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import { isoTimestamp } from '../../model/index.ts';
import { type DateTimeOutput, builder } from './builder.ts';

function invalidDateTime(value: unknown): KeyflowError {
  return new KeyflowError(
    ErrorCode.SCHEMA_VALIDATION_FAILED,
    `DateTime must be an ISO-8601 date-time with a time zone, e.g. 2024-01-15T10:30:00.000Z; got ${JSON.stringify(value)?.slice(0, 100)}`,
  );
}

/** Parses a DateTime input, an ISO-8601 string with an offset, to epoch ms. */
export function parseDateTime(value: unknown): number {
  if (typeof value !== 'string' || !isoTimestamp.safeParse(value).success) throw invalidDateTime(value);
  return Date.parse(value);
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
  parseLiteral: (ast, variables) => valueFromASTUntyped(ast, variables),
});
