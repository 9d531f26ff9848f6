/**
 * Shapes of the messages on the live bus, shared by the publisher (the processor runtime) and the
 * subscriber (the GraphQL subscriptions). JSON-safe, because NATS carries them as JSON.
 *
 * - `subjects.events(topic)` carries an {@link EventMessage} for every record of the topic, in
 *   log order per partition, published after the record is read from the log.
 * - `subjects.windowResults(eventType)` carries a {@link WindowResult} (times as epoch ms) for
 *   every emitted window result, updates (final = false) and finals alike.
 *
 * Subscribers validate with {@link parseEventMessage} / {@link parseWindowResultMessage} and drop
 * what does not parse: a bus message is untrusted input like any other.
 */
import { z } from 'zod';
import type { EventEnvelope } from '../model/event.ts';
import type { WindowResult } from '../windows/types.ts';

/** The event as on the log (the record value's JSON form: camelCase, timestamp ISO-8601 UTC). */
export interface EventMessageBody {
  eventId: string;
  /** ISO-8601 UTC, e.g. 2024-01-15T10:30:00.000Z. */
  timestamp: string;
  eventType: string;
  userId: string | null;
  deviceId: string | null;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown> | null;
}

/** One record of an event topic, on `subjects.events(topic)`. */
export interface EventMessage {
  topic: string;
  partition: number;
  /** Log offset. */
  offset: number;
  /** The actor key (the record key). */
  key: string;
  event: EventMessageBody;
}

/** One window result, on `subjects.windowResults(eventType)`. */
export type WindowResultMessage = WindowResult;

/** Builds the bus message for a record the publisher has decoded. */
export function eventMessage(
  record: { topic: string; partition: number; offset: number },
  key: string,
  e: EventEnvelope,
): EventMessage {
  return {
    topic: record.topic,
    partition: record.partition,
    offset: record.offset,
    key,
    event: {
      eventId: e.eventId,
      timestamp: new Date(e.timestamp).toISOString(),
      eventType: e.eventType,
      userId: e.userId,
      deviceId: e.deviceId,
      payload: e.payload,
      metadata: e.metadata,
    },
  };
}

const jsonObject = z.record(z.string(), z.unknown());

const eventMessageSchema = z.object({
  topic: z.string(),
  partition: z.number().int().min(0),
  offset: z.number().int().min(0),
  key: z.string(),
  event: z.object({
    eventId: z.string(),
    timestamp: z.string(),
    eventType: z.string(),
    userId: z.string().nullable(),
    deviceId: z.string().nullable(),
    payload: jsonObject,
    metadata: jsonObject.nullable(),
  }),
});

const nullableNumber = z.number().nullable();
const windowResultSchema = z.object({
  eventType: z.string(),
  key: z.string(),
  window: z.string(),
  windowStart: z.number(),
  windowEnd: z.number(),
  count: z.number().int(),
  valueCount: z.number().int(),
  sum: nullableNumber,
  avg: nullableNumber,
  min: nullableNumber,
  max: nullableNumber,
  distinctUsers: z.number().int(),
  final: z.boolean(),
  revision: z.number().int(),
});

/** The message as an {@link EventMessage}, or null when it is not one. */
export function parseEventMessage(message: unknown): EventMessage | null {
  const r = eventMessageSchema.safeParse(message);
  return r.success ? r.data : null;
}

/** The message as a {@link WindowResult}, or null when it is not one. */
export function parseWindowResultMessage(message: unknown): WindowResultMessage | null {
  const r = windowResultSchema.safeParse(message);
  return r.success ? r.data : null;
}
