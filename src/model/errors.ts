/**
 * Every error keyflow raises on purpose is a {@link KeyflowError} with a stable `code`.
 * Retry logic reads `retriable`, never messages; the GraphQL layer maps `code` to
 * `extensions.code` and masks everything else as INTERNAL.
 */

/** The stable codes of the GraphQL contract plus internal ones that never reach a client as-is. */
export const ErrorCode = {
  SCHEMA_VALIDATION_FAILED: 'SCHEMA_VALIDATION_FAILED',
  /** The event time lies further after the append time than the configured skew allows. */
  TIMESTAMP_OUT_OF_RANGE: 'TIMESTAMP_OUT_OF_RANGE',
  /** The event type's value field holds a number outside the accepted range. */
  VALUE_OUT_OF_RANGE: 'VALUE_OUT_OF_RANGE',
  UNKNOWN_EVENT_TYPE: 'UNKNOWN_EVENT_TYPE',
  /** A change to a registered event type that its compatibility rules refuse (the field is in `details.field`). */
  EVENT_TYPE_INCOMPATIBLE: 'EVENT_TYPE_INCOMPATIBLE',
  /** An Avro / Protobuf payload names a schema id no registered schema has. */
  UNKNOWN_SCHEMA: 'UNKNOWN_SCHEMA',
  /** A new schema version that the subject's compatibility rule refuses (why in `details.reason`). */
  SCHEMA_INCOMPATIBLE: 'SCHEMA_INCOMPATIBLE',
  UNKNOWN_TOPIC: 'UNKNOWN_TOPIC',
  UNKNOWN_WINDOW: 'UNKNOWN_WINDOW',
  PAYLOAD_TOO_LARGE: 'PAYLOAD_TOO_LARGE',
  BATCH_TOO_LARGE: 'BATCH_TOO_LARGE',
  QUERY_TOO_COMPLEX: 'QUERY_TOO_COMPLEX',
  RATE_LIMITED: 'RATE_LIMITED',
  UNAUTHENTICATED: 'UNAUTHENTICATED',
  FORBIDDEN: 'FORBIDDEN',
  BROKER_UNAVAILABLE: 'BROKER_UNAVAILABLE',
  INTERNAL: 'INTERNAL',
  /** A subscription's or page's `after` cursor is not one keyflow issued for this topic / event type. */
  INVALID_CURSOR: 'INVALID_CURSOR',
  /** A resume cursor points below what the log still retains: the events after it are gone. */
  CURSOR_EXPIRED: 'CURSOR_EXPIRED',
  // internal codes (mapped to a contract code at the API edge)
  BAD_USER_INPUT: 'BAD_USER_INPUT',
  INVALID_CONFIG: 'INVALID_CONFIG',
  FENCED: 'FENCED',
  CORRUPT_RECORD: 'CORRUPT_RECORD',
  DECODE_FAILED: 'DECODE_FAILED',
  CHECKPOINT_FAILED: 'CHECKPOINT_FAILED',
  STORE_UNAVAILABLE: 'STORE_UNAVAILABLE',
  SINK_FAILED: 'SINK_FAILED',
  NOT_OWNER: 'NOT_OWNER',
  TIMEOUT: 'TIMEOUT',
  /** The Kafka brokers refused keyflow's SASL credentials or TLS certificate (or keyflow did not trust theirs); not retriable. */
  BROKER_AUTH_FAILED: 'BROKER_AUTH_FAILED',
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export interface KeyflowErrorOptions {
  /** Whether the same operation may succeed when tried again. @default false */
  retriable?: boolean;
  cause?: unknown;
  /** Structured detail safe to show a client (e.g. the invalid indexes of a batch). */
  details?: Record<string, unknown>;
}

/** The root of every error keyflow raises on purpose. */
export class KeyflowError extends Error {
  readonly code: ErrorCode;
  readonly retriable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, options: KeyflowErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'KeyflowError';
    this.code = code;
    this.retriable = options.retriable ?? false;
    this.details = options.details;
  }
}

export function isKeyflowError(e: unknown): e is KeyflowError {
  return e instanceof KeyflowError;
}

export function hasCode(e: unknown, code: ErrorCode): e is KeyflowError {
  return e instanceof KeyflowError && e.code === code;
}

/** A checkpoint write from an owner whose epoch is no longer current: it must stop processing the partition. */
export class FencedError extends KeyflowError {
  constructor(topic: string, partition: number, epoch: number, current: number | null) {
    super(
      ErrorCode.FENCED,
      `checkpoint for ${topic}/${partition} rejected: epoch ${epoch} is stale (current ${current ?? 'unknown'}); this node no longer owns the partition and stops processing it`,
      { details: { topic, partition, epoch, current } },
    );
    this.name = 'FencedError';
  }
}

export function isFenced(e: unknown): e is FencedError {
  return hasCode(e, ErrorCode.FENCED);
}

/** Returns the error as an Error, wrapping anything thrown that is not one. */
export function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}
