/**
 * Shapes of the messages on the live bus, shared by the publisher (the processor runtime) and the
 * subscriber (the GraphQL subscriptions). JSON-safe, because NATS carries them as JSON.
 *
 * One message per processed batch, not per item: per-item messages made publishing most of the
 * processor's work in distributed mode (about 8 NATS messages per event with the default windows).
 *
 * - `subjects.events(topic)` carries an {@link EventBatchMessage}: the processed records of one
 *   batch of one partition, in log order, published after they are read from the log.
 * - `subjects.windowResults(eventType, window)` carries a {@link WindowResultBatchMessage}: the
 *   results of that event type and window spec a batch (or tick) emitted, updates (final = false)
 *   and finals alike, in emission order. One subject per window: a gateway whose subscribers watch
 *   one window gets only that window's share (a fifth, with the default windows).
 *
 * A large batch is split into several messages of at most {@link MAX_BATCH_ITEMS} items (and, for
 * events, about {@link MAX_BATCH_BYTES} of record values), in order, so a message stays well below
 * NATS's default 1 MiB payload limit.
 *
 * Positions: an event carries its log offset; a result message carries the {@link ResultPosition}
 * of the partition when it was emitted. A new owner of a partition (after a crash, a rebalance or
 * a fencing) replays from its checkpoint and publishes again what the old owner had published;
 * subscribers drop whatever is at or below the last position they saw (see `live-feed.ts`).
 *
 * Nothing is built for a subject nobody listens to ({@link LiveBus.wants}).
 *
 * Subscribers validate with {@link parseEventBatch} / {@link parseWindowResultMessage}: a message
 * that is not a batch is dropped whole, an element that does not parse is dropped alone. A bus
 * message is untrusted input like any other — except the very object this module's publishers
 * built in this process (the in-process bus hands subscribers the publisher's object by
 * reference): its elements were built from typed, validated values, and are taken without being
 * validated again (events are copied to plain data, see `plainEventMessage`).
 */
import { z } from 'zod';
import type { LogRecord } from '../log/index.ts';
import { EVENT_ENVELOPE_FIELDS, type EventEnvelope, type FieldKind, jsonDataProblem, type WindowResult, WINDOW_RESULT_FIELDS, eventEnvelopeSchema } from '../model/index.ts';
import type { LiveBus } from './port.ts';
import { subjects } from './port.ts';

/** One record of an event topic, on `subjects.events(topic)`. */
export interface EventMessage {
  topic: string;
  partition: number;
  /** Log offset. */
  offset: number;
  /** The actor key (the record key). */
  key: string;
  /** The envelope as the actors decoded it (timestamp epoch ms), published by reference. */
  event: EventEnvelope;
}

/** One window result, an element of a {@link WindowResultBatchMessage}. */
export type WindowResultMessage = WindowResult;

/** What `subjects.events(topic)` carries: records of one partition, in log order. */
export interface EventBatchMessage {
  events: EventMessage[];
}

/**
 * Where in a partition's processing a set of results was emitted: after the records before
 * `offset`, at `watermark` (a tick advances the watermark without records), `part` of the
 * emission (one per window, more when one is large). Positions of one owner only grow; an emission at or below a position
 * already seen is a replay of the same log prefix, so its values are not newer than what was seen.
 */
export interface ResultPosition {
  topic: string;
  partition: number;
  /** The partition's next offset: every record below it is reflected. */
  offset: number;
  /** The partition watermark, epoch ms; null before the first event. */
  watermark: number | null;
  /**
   * Index of this message among those one emission was split into: by window (name order), then
   * in chunks of {@link MAX_BATCH_ITEMS}; counted over every window, also those not published.
   */
  part: number;
}

/** What `subjects.windowResults(eventType, window)` carries: results of that event type and window, in emission order. */
export interface WindowResultBatchMessage {
  results: WindowResultMessage[];
  /** Where they were emitted; absent: the message is never taken for a replay. */
  position?: ResultPosition;
}

/** -1, 0 or 1 as `a` is before, at or after `b` (offset, then watermark, then part). */
export function comparePositions(a: ResultPosition, b: ResultPosition): number {
  if (a.offset !== b.offset) return a.offset < b.offset ? -1 : 1;
  const wa = a.watermark ?? Number.NEGATIVE_INFINITY;
  const wb = b.watermark ?? Number.NEGATIVE_INFINITY;
  if (wa !== wb) return wa < wb ? -1 : 1;
  return a.part === b.part ? 0 : a.part < b.part ? -1 : 1;
}

/**
 * The messages {@link publishEventBatch} and {@link publishWindowResults} built in this process:
 * the parsers take these as they are. A message that crossed a process (NATS: decoded from JSON) or
 * was built elsewhere is never one of them.
 */
const ownMessages = new WeakSet<object>();

/** Most items in one bus message; larger batches are split, in order. */
export const MAX_BATCH_ITEMS = 256;
/** Record value bytes after which an event batch message is cut (an estimate of its JSON size). */
export const MAX_BATCH_BYTES = 256 * 1024;

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
    event: e,
  };
}

/**
 * Publishes the processed records of one batch of one partition on `subjects.events(topic)`: one
 * message, or a few in order when the batch is large.
 */
export function publishEventBatch(bus: LiveBus, topic: string, items: readonly { event: EventEnvelope; record: LogRecord }[]): void {
  const subject = subjects.events(topic);
  if (!bus.wants(subject)) return;
  let events: EventMessage[] = [];
  let bytes = 0;
  for (let i = 0; i < items.length; i++) {
    const { event, record } = items[i]!;
    const size = record.value.byteLength;
    if (events.length > 0 && (events.length >= MAX_BATCH_ITEMS || bytes + size > MAX_BATCH_BYTES)) {
      publishOwn(bus, subject, { events } satisfies EventBatchMessage);
      events = [];
      bytes = 0;
    }
    events.push(eventMessage(record, record.key ?? event.eventId, event));
    bytes += size;
  }
  if (events.length > 0) publishOwn(bus, subject, { events } satisfies EventBatchMessage);
}

function publishOwn(bus: LiveBus, subject: string, message: EventBatchMessage | WindowResultBatchMessage): void {
  ownMessages.add(message);
  bus.publish(subject, message);
}

/** Where a partition stands when it emits results: {@link ResultPosition} without the part. */
export type EmitPosition = Omit<ResultPosition, 'part'>;

/**
 * Publishes the window results one batch (or tick) of one partition emitted: one message per event
 * type and window on `subjects.windowResults(eventType, window)` (split in order when large), each
 * one's results in emission order, each message with its position when `at` is given. The results are published by
 * reference, not copied: nobody may mutate them afterwards.
 */
export function publishWindowResults(bus: LiveBus, results: readonly WindowResult[], at?: EmitPosition): void {
  const n = results.length;
  if (n === 0) return;
  // A batch is nearly always of one event type: publish it without grouping when it is.
  const first = results[0]!.eventType;
  let single = true;
  for (let i = 1; i < n; i++) {
    if (results[i]!.eventType !== first) {
      single = false;
      break;
    }
  }
  if (single) {
    publishResultsOfType(bus, first, results, at);
    return;
  }
  const byType = new Map<string, WindowResult[]>();
  for (let i = 0; i < n; i++) {
    const r = results[i]!;
    let group = byType.get(r.eventType);
    if (group === undefined) {
      group = [];
      byType.set(r.eventType, group);
    }
    group.push(r);
  }
  for (const [eventType, group] of byType) publishResultsOfType(bus, eventType, group, at);
}

/**
 * One type's results, a message (or a few, when large) per window on that window's subject, in
 * window name order. The parts are numbered across the whole emission — every window's messages,
 * also those nobody wants and so never built — so the positions of one partition's messages only
 * grow whichever windows a subscriber receives, and a replay of the same emission numbers them the
 * same whoever listens then.
 */
function publishResultsOfType(bus: LiveBus, eventType: string, results: readonly WindowResult[], at: EmitPosition | undefined): void {
  // Mostly nobody watches (a processor without live subscribers): find that out without grouping.
  // Each window is asked once; the answers are reused below.
  const wants = new Map<string, boolean>();
  let any = false;
  for (let i = 0; i < results.length && !any; i++) {
    const window = results[i]!.window;
    if (wants.has(window)) continue;
    any = bus.wants(windowSubject(eventType, window));
    wants.set(window, any);
  }
  if (!any) return;
  // Nearly always a few windows (5 by default) interleaved key by key: group in one pass.
  const byWindow = new Map<string, WindowResult[]>();
  for (let i = 0; i < results.length; i++) {
    const r = results[i]!;
    const group = byWindow.get(r.window);
    if (group === undefined) byWindow.set(r.window, [r]);
    else group.push(r);
  }
  const windows = byWindow.size === 1 ? [...byWindow.keys()] : [...byWindow.keys()].sort();
  let part = 0;
  for (const window of windows) {
    const group = byWindow.get(window)!;
    const subject = windowSubject(eventType, window);
    if (!(wants.get(window) ?? bus.wants(subject))) {
      part += Math.ceil(group.length / MAX_BATCH_ITEMS);
      continue;
    }
    for (let i = 0; i < group.length; i += MAX_BATCH_ITEMS, part++) {
      const chunk = group.length <= MAX_BATCH_ITEMS ? group : group.slice(i, i + MAX_BATCH_ITEMS);
      const message: WindowResultBatchMessage = { results: chunk };
      if (at !== undefined) message.position = { topic: at.topic, partition: at.partition, offset: at.offset, watermark: at.watermark, part };
      publishOwn(bus, subject, message);
    }
  }
}

/** `subjects.windowResults(eventType, window)`, remembered: published per batch and window. */
const windowSubjects = new Map<string, string>();
function windowSubject(eventType: string, window: string): string {
  const k = `${eventType}\u0000${window}`;
  let s = windowSubjects.get(k);
  if (s === undefined) {
    if (windowSubjects.size >= 10_000) windowSubjects.clear();
    s = subjects.windowResults(eventType, window);
    windowSubjects.set(k, s);
  }
  return s;
}

/** The shape of an {@link EventMessage}; {@link checkEventMessage} applies its rules without zod. */
export const eventMessageSchema = z.object({
  topic: z.string(),
  partition: z.number().int().min(0),
  offset: z.number().int().min(0),
  key: z.string(),
  event: eventEnvelopeSchema,
});

/** The elements of an {@link EventBatchMessage} that parse, in order; null when the message is not one. */
export function parseEventBatch(message: unknown): EventMessage[] | null {
  if (isOwn(message)) return (message as EventBatchMessage).events.map(plainEventMessage);
  return parseElements(message, 'events', checkEventMessage);
}

/**
 * An event message as `eventMessageSchema` accepts it (the same rules: every field present, of its
 * kind and bounds, payload and metadata JSON objects under `json-data.ts`'s rules; other keys
 * dropped), checked without zod, for the reason {@link checkWindowResult} is: a gateway with a
 * whole-topic `events` subscription checks every event of the topic, and zod's parse and copy of
 * each (message and envelope) was most of what the gateway did with it after `JSON.parse`. A
 * well-formed message is returned as it is; one with other keys, as a copy without them.
 * `test/unit/bus-messages.test.ts` checks it agrees with the schema on random input.
 */
export function checkEventMessage(v: unknown): EventMessage | null {
  if (!isRecord(v)) return null;
  const o = v as Record<string, unknown>;
  if (typeof o.topic !== 'string' || !isIndex(o.partition) || !isIndex(o.offset) || typeof o.key !== 'string') return null;
  const event = checkEnvelope(o.event);
  if (event === null) return null;
  if (event === o.event && Object.keys(o).length === 5) return o as unknown as EventMessage;
  return { topic: o.topic, partition: o.partition as number, offset: o.offset as number, key: o.key, event };
}

function checkEnvelope(v: unknown): EventEnvelope | null {
  if (!isRecord(v)) return null;
  const e = v as Record<string, unknown>;
  if (
    !boundedString(e.eventId, 256) ||
    !Number.isSafeInteger(e.timestamp) ||
    !boundedString(e.eventType, 100) ||
    !(e.userId === null || boundedString(e.userId, 256)) ||
    !(e.deviceId === null || boundedString(e.deviceId, 256)) ||
    !jsonObject(e.payload) ||
    !(e.metadata === null || jsonObject(e.metadata))
  ) {
    return null;
  }
  if (Object.keys(e).length === ENVELOPE_KEYS.length) return e as unknown as EventEnvelope;
  const copy: Record<string, unknown> = {};
  for (const k of ENVELOPE_KEYS) copy[k] = e[k];
  return copy as unknown as EventEnvelope;
}

const ENVELOPE_KEYS = ['eventId', 'timestamp', 'eventType', 'userId', 'deviceId', 'payload', 'metadata'] as const;
{
  const schema = EVENT_ENVELOPE_FIELDS.map((f) => f.name).join();
  // a field added to the envelope and not to the check would be dropped from every live event: fail at start
  if (schema !== ENVELOPE_KEYS.join()) throw new Error(`checkEventMessage is out of date with eventEnvelopeSchema: ${schema} vs ${ENVELOPE_KEYS.join()}`);
}

function isRecord(v: unknown): boolean {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndex(x: unknown): boolean {
  return Number.isSafeInteger(x) && (x as number) >= 0;
}

function boundedString(x: unknown, max: number): boolean {
  return typeof x === 'string' && x.length >= 1 && x.length <= max;
}

function jsonObject(x: unknown): boolean {
  return isRecord(x) && jsonDataProblem(x) === undefined;
}

/**
 * An event of an own message as plain data: the publisher's envelope may be the processor's
 * lazily decoded record (`ScannedEvent`: getters over the log's read buffer), which a subscriber
 * must neither spread nor keep (a slow subscriber's buffer would pin read buffers).
 */
function plainEventMessage(m: EventMessage): EventMessage {
  const e = m.event;
  return {
    topic: m.topic,
    partition: m.partition,
    offset: m.offset,
    key: m.key,
    event: { eventId: e.eventId, timestamp: e.timestamp, eventType: e.eventType, userId: e.userId, deviceId: e.deviceId, payload: e.payload, metadata: e.metadata },
  };
}

function isOwn(message: unknown): boolean {
  return typeof message === 'object' && message !== null && ownMessages.has(message);
}

/** The elements of a {@link WindowResultBatchMessage} that parse, in order; null when the message is not one. */
export function parseWindowResultBatch(message: unknown): WindowResultMessage[] | null {
  if (isOwn(message)) return (message as WindowResultBatchMessage).results;
  return parseElements(message, 'results', checkWindowResult);
}

/**
 * A window result as `windowResultSchema` accepts it (the same rules: every field present, of its
 * kind, null only where nullable, integers safe, numbers finite; other keys dropped), checked
 * without zod: a gateway checks every result of every key on the bus, and zod's parse and copy of
 * each was a visible share of its CPU and garbage. A well-formed result (JSON.parse's object with
 * exactly the fields) is returned as it is; one with other keys, as a copy without them.
 * `test/unit/bus-messages.test.ts` checks it agrees with the schema on random input.
 */
export function checkWindowResult(v: unknown): WindowResult | null {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return null;
  const o = v as Record<string, unknown>;
  // one property read each, in the schema's order (WINDOW_RESULT_KEYS, checked below at load)
  if (
    typeof o.eventType !== 'string' ||
    typeof o.key !== 'string' ||
    typeof o.window !== 'string' ||
    !Number.isSafeInteger(o.windowStart) ||
    !Number.isSafeInteger(o.windowEnd) ||
    !Number.isSafeInteger(o.count) ||
    !Number.isSafeInteger(o.valueCount) ||
    !finiteOrNull(o.sum) ||
    !finiteOrNull(o.avg) ||
    !finiteOrNull(o.min) ||
    !finiteOrNull(o.max) ||
    !Number.isSafeInteger(o.distinctUsers) ||
    typeof o.final !== 'boolean' ||
    !Number.isSafeInteger(o.revision)
  ) {
    return null;
  }
  if (Object.keys(o).length === CHECKED_KEYS.length) return o as unknown as WindowResult;
  const copy: Record<string, unknown> = {};
  for (const k of CHECKED_KEYS) copy[k] = o[k];
  return copy as unknown as WindowResult;
}

function finiteOrNull(x: unknown): boolean {
  return x === null || (typeof x === 'number' && Number.isFinite(x));
}

/** The fields {@link checkWindowResult} checks, by kind; it must be every field of the schema. */
const CHECKED: Record<string, FieldKind | `${FieldKind}?`> = {
  eventType: 'string',
  key: 'string',
  window: 'string',
  windowStart: 'time',
  windowEnd: 'time',
  count: 'int',
  valueCount: 'int',
  sum: 'float?',
  avg: 'float?',
  min: 'float?',
  max: 'float?',
  distinctUsers: 'int',
  final: 'boolean',
  revision: 'int',
};
const CHECKED_KEYS = Object.keys(CHECKED);
{
  const schema = WINDOW_RESULT_FIELDS.map((f) => `${f.name}:${f.kind}${f.nullable ? '?' : ''}${f.optional ? '!' : ''}`).join();
  const checked = CHECKED_KEYS.map((k) => `${k}:${CHECKED[k]}`).join();
  // a field added to the schema and not to the check would let malformed results through: fail at start
  if (schema !== checked) throw new Error(`checkWindowResult is out of date with windowResultSchema: ${schema} vs ${checked}`);
}


const positionSchema = z.object({
  topic: z.string(),
  partition: z.number().int().min(0),
  offset: z.number().int().min(0),
  watermark: z.number().nullable(),
  part: z.number().int().min(0),
});

/**
 * A {@link WindowResultBatchMessage}: the results that parse, in order, and its position (undefined
 * when absent or malformed: such a message is never taken for a replay); null when it is not one.
 */
export function parseWindowResultBatchMessage(message: unknown): Required<WindowResultBatchMessage> | { results: WindowResultMessage[]; position: undefined } | null {
  if (isOwn(message)) {
    const m = message as WindowResultBatchMessage;
    return { results: m.results, position: m.position };
  }
  const results = parseWindowResultBatch(message);
  if (results === null) return null;
  const p = positionSchema.safeParse((message as Record<string, unknown>).position);
  return { results, position: p.success ? p.data : undefined };
}

/** The elements of `message[field]` that `parse` accepts (a zod schema or a check), in order; null when that is not an array. */
function parseElements<T>(message: unknown, field: string, parse: z.ZodType<T> | ((item: unknown) => T | null)): T[] | null {
  if (typeof message !== 'object' || message === null || Array.isArray(message)) return null;
  const items = (message as Record<string, unknown>)[field];
  if (!Array.isArray(items)) return null;
  const out: T[] = [];
  for (let i = 0; i < items.length; i++) {
    if (typeof parse === 'function') {
      const r = parse(items[i]);
      if (r !== null) out.push(r);
      continue;
    }
    const r = parse.safeParse(items[i]);
    if (r.success) out.push(r.data);
  }
  return out;
}

/** One element as an {@link EventMessage}, or null when it is not one. */
export function parseEventMessage(message: unknown): EventMessage | null {
  return checkEventMessage(message);
}

/** One element as a {@link WindowResult}, or null when it is not one. */
export function parseWindowResultMessage(message: unknown): WindowResultMessage | null {
  return checkWindowResult(message);
}
