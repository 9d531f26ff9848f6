/**
 * The one place where any error becomes a contract error: `extensions { code, requestId,
 * timestamp, details? }` with a code from the contract's list. Used for HTTP (useErrorCodes) and
 * for WebSocket operations alike.
 *
 * Mapping:
 * - KeyflowError: its code, mapped to a contract code when internal (BAD_USER_INPUT and
 *   DECODE_FAILED → SCHEMA_VALIDATION_FAILED; TIMEOUT, NOT_OWNER, STORE_UNAVAILABLE →
 *   BROKER_UNAVAILABLE; the rest → INTERNAL), with its `details`.
 * - graphql-armor rejections → QUERY_TOO_COMPLEX.
 * - GraphQL request errors (syntax, validation, variable coercion, malformed HTTP body) →
 *   SCHEMA_VALIDATION_FAILED: the request does not match the schema.
 * - Anything else → INTERNAL with a generic message (logged with its stack, never sent).
 */
import { GraphQLError } from 'graphql';
import type { Logger } from '../core/index.ts';
import { ErrorCode, isKeyflowError } from '../model/index.ts';

/** The codes a client can see. */
export const CONTRACT_CODES = [
  ErrorCode.SCHEMA_VALIDATION_FAILED,
  ErrorCode.TIMESTAMP_OUT_OF_RANGE,
  ErrorCode.VALUE_OUT_OF_RANGE,
  ErrorCode.UNKNOWN_EVENT_TYPE,
  ErrorCode.EVENT_TYPE_INCOMPATIBLE,
  ErrorCode.UNKNOWN_SCHEMA,
  ErrorCode.SCHEMA_INCOMPATIBLE,
  ErrorCode.UNKNOWN_TOPIC,
  ErrorCode.UNKNOWN_WINDOW,
  ErrorCode.PAYLOAD_TOO_LARGE,
  ErrorCode.BATCH_TOO_LARGE,
  ErrorCode.QUERY_TOO_COMPLEX,
  ErrorCode.RATE_LIMITED,
  ErrorCode.UNAUTHENTICATED,
  ErrorCode.FORBIDDEN,
  ErrorCode.BROKER_UNAVAILABLE,
  ErrorCode.INTERNAL,
  ErrorCode.INVALID_CURSOR,
  ErrorCode.CURSOR_EXPIRED,
] as const;
export type ContractCode = (typeof CONTRACT_CODES)[number];

const contractCodes: ReadonlySet<string> = new Set(CONTRACT_CODES);

const INTERNAL_TO_CONTRACT: Partial<Record<ErrorCode, ContractCode>> = {
  [ErrorCode.BAD_USER_INPUT]: ErrorCode.SCHEMA_VALIDATION_FAILED,
  [ErrorCode.DECODE_FAILED]: ErrorCode.SCHEMA_VALIDATION_FAILED,
  [ErrorCode.TIMEOUT]: ErrorCode.BROKER_UNAVAILABLE,
  [ErrorCode.NOT_OWNER]: ErrorCode.BROKER_UNAVAILABLE,
  [ErrorCode.STORE_UNAVAILABLE]: ErrorCode.BROKER_UNAVAILABLE,
  [ErrorCode.BROKER_AUTH_FAILED]: ErrorCode.BROKER_UNAVAILABLE,
};

/** The contract code a KeyflowError code is shown as. */
export function contractCode(code: ErrorCode): ContractCode {
  if (contractCodes.has(code)) return code as ContractCode;
  return INTERNAL_TO_CONTRACT[code] ?? ErrorCode.INTERNAL;
}

/** HTTP status of a request error (a response without data) with this code. */
const HTTP_STATUS: Partial<Record<ContractCode, number>> = {
  [ErrorCode.UNAUTHENTICATED]: 401,
  [ErrorCode.FORBIDDEN]: 403,
  [ErrorCode.PAYLOAD_TOO_LARGE]: 413,
  [ErrorCode.RATE_LIMITED]: 429,
  [ErrorCode.BROKER_UNAVAILABLE]: 503,
  [ErrorCode.INTERNAL]: 500,
};

export function httpStatusFor(code: ContractCode): number {
  return HTTP_STATUS[code] ?? 400;
}

// graphql-armor rejections are plain GraphQLErrors; use-query-limits marks them here.
const complexityErrors = new WeakSet<object>();

/** Marks an error as a query-limit rejection (QUERY_TOO_COMPLEX). */
export function markComplexityError(e: object): void {
  complexityErrors.add(e);
}

/** Longest error message a client gets back, characters; longer ones (echoing huge input) are cut. */
export const MAX_MESSAGE_CHARS = 1024;
/** Longest string inside `extensions.details`, characters. */
export const MAX_DETAIL_CHARS = 256;

/** The string cut to `max` characters, saying how much was left out. */
export function truncateEcho(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}… (${s.length - max} more characters)`;
}

function truncateDetails(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return truncateEcho(v, MAX_DETAIL_CHARS);
  if (depth > 6 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => truncateDetails(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = truncateDetails(x, depth + 1);
  return out;
}

export const INTERNAL_MESSAGE = 'Internal error; the request id identifies it in the server log.';

export interface ContractErrorExtensions {
  code: ContractCode;
  requestId: string;
  /** ISO-8601 UTC. */
  timestamp: string;
  details?: Record<string, unknown>;
  [key: string]: unknown;
}

/**
 * The error as a contract error. Idempotent: an error already in contract form keeps its code
 * and details (and gets this requestId when it has none).
 */
export function toContractError(error: unknown, requestId: string, logger?: Logger, now: number = Date.now()): GraphQLError {
  const gqlError = error instanceof GraphQLError ? error : null;
  let original: unknown = gqlError ? gqlError.originalError : error;
  while (original instanceof GraphQLError && original.originalError) original = original.originalError;

  let code: ContractCode;
  let message: string;
  let details: Record<string, unknown> | undefined;
  const ext = (original instanceof GraphQLError ? original.extensions : gqlError?.extensions) ?? {};

  if (isKeyflowError(original)) {
    code = contractCode(original.code);
    message = gqlError?.message ?? original.message;
    details = original.details;
  } else if ((gqlError && complexityErrors.has(gqlError)) || (original instanceof Object && complexityErrors.has(original))) {
    code = ErrorCode.QUERY_TOO_COMPLEX;
    message = (gqlError ?? (original as Error)).message.replace(/^Syntax Error: /, '');
  } else if (typeof ext.code === 'string' && contractCodes.has(ext.code)) {
    code = ext.code as ContractCode;
    message = gqlError?.message ?? String(original);
    details = ext.details as Record<string, unknown> | undefined;
  } else if (gqlError && (original === undefined || original instanceof GraphQLError)) {
    // yoga's own request errors (body too large, malformed JSON, …) carry only an HTTP status.
    code = (ext.http as { status?: number } | undefined)?.status === 413 ? ErrorCode.PAYLOAD_TOO_LARGE : ErrorCode.SCHEMA_VALIDATION_FAILED;
    message = gqlError.message;
  } else {
    code = ErrorCode.INTERNAL;
    message = INTERNAL_MESSAGE;
  }
  if (code === ErrorCode.INTERNAL) {
    message = INTERNAL_MESSAGE;
    logger?.error({ err: original ?? error, requestId }, 'internal error in a GraphQL operation');
  }

  const extensions: ContractErrorExtensions = {
    code,
    requestId: typeof ext.requestId === 'string' ? ext.requestId : requestId,
    timestamp: typeof ext.timestamp === 'string' ? ext.timestamp : new Date(now).toISOString(),
  };
  if (details !== undefined) extensions.details = truncateDetails(details) as Record<string, unknown>;
  message = truncateEcho(message, MAX_MESSAGE_CHARS);
  // Yoga reads (and strips from the response) `http` to pick the status code.
  if (ext.http !== undefined) extensions.http = ext.http;
  return new GraphQLError(message, {
    nodes: gqlError?.nodes ?? null,
    source: gqlError?.source ?? null,
    positions: gqlError?.positions ?? null,
    path: gqlError?.path ?? null,
    extensions,
  });
}
