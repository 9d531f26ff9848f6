/**
 * The event envelope: what a client publishes, what a record's value holds on the log, and what
 * the actors consume. {@link eventEnvelopeSchema} is the one declaration of the shape (timestamp
 * as epoch ms, as everywhere inside the system); the client input and the record value are its
 * wire form (camelCase JSON, timestamp ISO-8601), {@link eventInputSchema}.
 */
import { z } from 'zod';
import { ErrorCode, KeyflowError } from './errors.ts';
import { field, fieldsOf } from './shape.ts';
import { isoTimestampProblem, parseIsoTimestamp } from './timestamp.ts';

/** An ISO-8601 date-time with an offset, every field in its range (see `timestamp.ts`). */
export const isoTimestamp = z.string().superRefine((s, ctx) => {
  const problem = isoTimestampProblem(s);
  if (problem !== undefined) ctx.addIssue({ code: 'custom', message: problem });
});

/** A validated event with its id assigned and its timestamp normalised to UTC milliseconds. */
export const eventEnvelopeSchema = z.object({
  eventId: field.id(),
  /** Event time, epoch milliseconds (UTC). */
  timestamp: field.epochMs(),
  eventType: field.as(z.string().min(1).max(100), 'string'),
  userId: field.as(z.string().min(1).max(256), 'string').nullable(),
  deviceId: field.as(z.string().min(1).max(256), 'string').nullable(),
  payload: field.json(),
  metadata: field.json().nullable(),
});

/** A validated event with its id assigned and its timestamp normalised to UTC milliseconds. */
export type EventEnvelope = Readonly<z.infer<typeof eventEnvelopeSchema>>;

/** The fields of {@link eventEnvelopeSchema}, in declaration order. */
export const EVENT_ENVELOPE_FIELDS = fieldsOf(eventEnvelopeSchema);

const envelope = eventEnvelopeSchema.shape;

/**
 * The envelope as a client sends it — mirrors the contract's `EventInput`: the same fields, with
 * the timestamp as ISO-8601, eventId optional (the server assigns one) and absent ids allowed.
 */
export const eventInputSchema = eventEnvelopeSchema.extend({
  eventId: envelope.eventId.optional(),
  timestamp: field.as(isoTimestamp, 'time'),
  userId: envelope.userId.unwrap().nullish(),
  deviceId: envelope.deviceId.unwrap().nullish(),
  metadata: envelope.metadata.unwrap().nullish(),
});
export type EventInput = z.input<typeof eventInputSchema>;

/** The fields of {@link eventInputSchema}, in declaration order. */
export const EVENT_INPUT_FIELDS = fieldsOf(eventInputSchema);

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
    timestamp: parseIsoTimestamp(v.timestamp),
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
  } satisfies Record<keyof EventEnvelope, unknown>);
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
