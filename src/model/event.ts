/**
 * The event envelope: what a client publishes, what a record's value holds on the log, and what
 * the actors consume. Validation is zod; the wire form is camelCase JSON exactly as `EventInput`.
 */
import { z } from 'zod';
import { ErrorCode, KeyflowError } from './errors.ts';

/** ISO-8601 date-time with an explicit offset (`Z` or `±hh:mm`), any precision. */
const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

export const isoTimestamp = z
  .string()
  .regex(ISO_DATE_TIME, 'must be an ISO-8601 date-time with a time zone, e.g. 2024-01-15T10:30:00.000Z')
  .refine((s) => Number.isFinite(Date.parse(s)), 'is not a valid date-time');

const jsonObject = z.record(z.string(), z.unknown());

/** The envelope as a client sends it (eventId optional) — mirrors the contract's `EventInput`. */
export const eventInputSchema = z.object({
  eventId: z.string().min(1).max(256).optional(),
  timestamp: isoTimestamp,
  eventType: z.string().min(1).max(100),
  userId: z.string().min(1).max(256).nullish(),
  deviceId: z.string().min(1).max(256).nullish(),
  payload: jsonObject,
  metadata: jsonObject.nullish(),
});
export type EventInput = z.input<typeof eventInputSchema>;

/** A validated event with its id assigned and its timestamp normalised to UTC milliseconds. */
export interface EventEnvelope {
  readonly eventId: string;
  /** Event time, epoch milliseconds (UTC). */
  readonly timestamp: number;
  readonly eventType: string;
  readonly userId: string | null;
  readonly deviceId: string | null;
  readonly payload: Record<string, unknown>;
  readonly metadata: Record<string, unknown> | null;
}

/** The actor key and partition key: `deviceId ?? userId ?? eventId`. */
export function actorKey(e: Pick<EventEnvelope, 'deviceId' | 'userId' | 'eventId'>): string {
  return e.deviceId ?? e.userId ?? e.eventId;
}

export interface ValidationIssue {
  path: string;
  message: string;
}

function issuesOf(error: z.ZodError): ValidationIssue[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.') || '(root)', message: i.message }));
}

/**
 * Validates one input and returns the envelope, or throws SCHEMA_VALIDATION_FAILED listing
 * every problem. `newId` supplies an eventId when the input has none.
 */
export function parseEventInput(input: unknown, newId: () => string): EventEnvelope {
  const r = eventInputSchema.safeParse(input);
  if (!r.success) {
    const issues = issuesOf(r.error);
    throw new KeyflowError(
      ErrorCode.SCHEMA_VALIDATION_FAILED,
      `event is invalid: ${issues.map((i) => `${i.path} ${i.message}`).join('; ')}`,
      { details: { issues } },
    );
  }
  const v = r.data;
  return {
    eventId: v.eventId ?? newId(),
    timestamp: Date.parse(v.timestamp),
    eventType: v.eventType,
    userId: v.userId ?? null,
    deviceId: v.deviceId ?? null,
    payload: v.payload,
    metadata: v.metadata ?? null,
  };
}

/** The wire form written as a record's value: camelCase, timestamp as ISO-8601 UTC. */
export function encodeEnvelope(e: EventEnvelope): string {
  return JSON.stringify({
    eventId: e.eventId,
    timestamp: new Date(e.timestamp).toISOString(),
    eventType: e.eventType,
    userId: e.userId,
    deviceId: e.deviceId,
    payload: e.payload,
    metadata: e.metadata,
  });
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes a record value written by any producer. Throws DECODE_FAILED for bytes that are not
 * UTF-8 JSON and SCHEMA_VALIDATION_FAILED for JSON that is not a valid envelope with an eventId.
 */
export function decodeEnvelope(value: Uint8Array | string): EventEnvelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof value === 'string' ? value : decoder.decode(value));
  } catch (cause) {
    throw new KeyflowError(ErrorCode.DECODE_FAILED, 'record value is not UTF-8 JSON', { cause });
  }
  if (parsed === null || typeof parsed !== 'object' || typeof (parsed as { eventId?: unknown }).eventId !== 'string') {
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, 'record value is not an event envelope with an eventId');
  }
  return parseEventInput(parsed, () => '');
}
