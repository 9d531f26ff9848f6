/**
 * Supervision of record processing: a small pluggable failure policy returning a decision, and
 * the exponential backoff with jitter between retries.
 */

import type { LogRecord } from '../../log/index.ts';
import { type DeadLetterMessage, ErrorCode, KeyflowError, originalMessageText, toError } from '../../model/index.ts';

/** What to do with a record whose processing failed. */
export type FailureDecision = 'retry' | 'dead-letter' | 'fail';

/** Where the failure happened: decoding the value, routing it to an event type, or in the actor. */
export type FailureStage = 'decode' | 'route' | 'process';

export interface ProcessingFailure {
  error: unknown;
  record: LogRecord;
  stage: FailureStage;
  /** Attempts made so far, 1 for the first failure. */
  attempt: number;
  /** The configured retries after the first attempt. */
  maxRetries: number;
}

/** Decides per failure; may be replaced by the caller (e.g. `fail` to stop a partition on any error). */
export type FailurePolicy = (failure: ProcessingFailure) => FailureDecision;

/**
 * The default: records that cannot be decoded, are schema-invalid or have an unknown event type
 * go straight to the DLQ (retrying cannot help); anything thrown while processing is retried
 * `maxRetries` times, then dead-lettered, so the partition never stalls on a poison pill.
 */
export const defaultFailurePolicy: FailurePolicy = (f) => {
  if (f.stage !== 'process') return 'dead-letter';
  if (f.error instanceof KeyflowError && f.error.code === ErrorCode.SCHEMA_VALIDATION_FAILED) return 'dead-letter';
  return f.attempt <= f.maxRetries ? 'retry' : 'dead-letter';
};

export interface RetryOptions {
  /** Retries after the first failed attempt before the record is dead-lettered (DLQ retryCount). @default 3 */
  maxRetries?: number;
  /** Delay before the first retry, ms; doubles each retry. @default 100 */
  baseDelayMs?: number;
  /** Upper bound of one delay before jitter, ms. @default 5000 */
  maxDelayMs?: number;
  /** Random extra delay as a fraction of the delay (0.1 = up to +10 %). @default 0.1 */
  jitter?: number;
  /** Source of randomness for the jitter, in [0, 1). @default Math.random */
  random?: () => number;
  /** How to wait; defaults to the host's clock `sleep`. Tests may record delays and resolve at once. */
  sleep?: (ms: number) => Promise<void>;
}

/** Delay before retry number `retry` (1-based): min(base · 2^(retry−1), max) plus up to `jitter` of it. */
export function backoffDelay(retry: number, o: Required<Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'jitter' | 'random'>>): number {
  const d = Math.min(o.baseDelayMs * 2 ** (retry - 1), o.maxDelayMs);
  return d + d * o.jitter * o.random();
}

/** The error type a dead letter names: the KeyflowError code, else the error's name. */
function errorTypeOf(e: unknown): string {
  return e instanceof KeyflowError ? e.code : e instanceof Error ? e.name : 'Error';
}

/** The dead-letter message of a record that failed (`events.dlq` format), with its source offset. */
export function deadLetterOf(record: LogRecord, error: unknown, retries: number, firstAt: number, now: number): DeadLetterMessage {
  const { text, encoding } = originalMessageText(record.value);
  return {
    originalMessage: text,
    originalEncoding: encoding,
    originalKey: record.key,
    errorType: errorTypeOf(error),
    errorMessage: toError(error).message,
    retryCount: retries,
    firstAttemptTime: new Date(firstAt).toISOString(),
    lastAttemptTime: new Date(now).toISOString(),
    sourceTopic: record.topic,
    sourcePartition: record.partition,
    sourceOffset: String(record.offset),
  };
}

/** The error that stops a partition at a record when the failure policy says `fail`. */
export function partitionStopped(record: LogRecord, error: unknown): KeyflowError {
  return new KeyflowError(
    ErrorCode.INTERNAL,
    `processing ${record.topic}/${record.partition}@${record.offset} failed and the failure policy says fail; the partition stops at this offset`,
    { cause: error },
  );
}
