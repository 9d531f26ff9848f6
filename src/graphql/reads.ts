/** Reads for the query resolvers: the newest records of a topic, merged across partitions. */
import type { EventLog, LogRecord } from '../log/index.ts';
import { actorKey, DLQ_TOPIC, deadLetterSchema, decodeEnvelope, ErrorCode, type EventTypeRegistry, KeyflowError, LATE_TOPIC } from '../model/index.ts';
import type { DeadLetterView, EventView } from './schema/types.ts';

/** Bounds of every `limit` argument. */
export const MIN_LIMIT = 1;
export const MAX_LIMIT = 1000;

export function checkLimit(limit: number | null | undefined, fallback: number): number {
  const n = limit ?? fallback;
  if (!Number.isInteger(n) || n < MIN_LIMIT || n > MAX_LIMIT) {
    throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `limit must be between ${MIN_LIMIT} and ${MAX_LIMIT}; got ${n}`, {
      details: { argument: 'limit', min: MIN_LIMIT, max: MAX_LIMIT, value: n },
    });
  }
  return n;
}

/** The last `perPartition` records of every partition of a topic (each partition's in offset order). */
async function tail(log: EventLog, topic: string, perPartition: number): Promise<LogRecord[]> {
  const [begin, end] = await Promise.all([log.beginOffsets(topic), log.endOffsets(topic)]);
  const parts = await Promise.all(
    end.map((next, partition) => {
      const from = Math.max(begin[partition] ?? 0, next - perPartition);
      return next > from ? log.read(topic, partition, from, next - from) : Promise.resolve([]);
    }),
  );
  return parts.flat();
}

export function toEventView(r: LogRecord): EventView | null {
  try {
    const e = decodeEnvelope(r.value);
    return { ...e, key: r.key ?? actorKey(e), topic: r.topic, partition: r.partition, offset: r.offset };
  } catch {
    // Not an event (a foreign producer's bad record): the processor dead-letters it; the API skips it.
    return null;
  }
}

/** Throws UNKNOWN_TOPIC unless the topic is an event topic of the registry or the late events' topic (events.late). */
export function requireEventTopic(registry: EventTypeRegistry, topic: string): void {
  if (!registry.byTopic(topic) && topic !== LATE_TOPIC) {
    throw new KeyflowError(
      ErrorCode.UNKNOWN_TOPIC,
      `unknown topic '${topic}'; event topics: ${registry
        .all()
        .map((t) => t.topic)
        .join(', ')}, ${LATE_TOPIC}`,
      { details: { topic } },
    );
  }
}

/**
 * The newest `limit` events of an event topic: the last `limit` appended (merged across
 * partitions by append time), ordered newest event time first. Reading the tail of each partition
 * keeps the cost bounded by `limit × partitions` records whatever the topic's size; the last
 * appended events overall are always within those tails. Records of one append call may share
 * an append time; such ties are broken by offset, then partition.
 */
export async function latestEvents(log: EventLog, registry: EventTypeRegistry, topic: string, limit: number): Promise<EventView[]> {
  requireEventTopic(registry, topic);
  if ((await log.partitions(topic)) === undefined) return [];
  const records = await tail(log, topic, limit);
  records.sort(newestAppendedFirst);
  const events: EventView[] = [];
  const appendTime = new Map<EventView, number>();
  for (const r of records) {
    if (events.length >= limit) break;
    const e = toEventView(r);
    if (e) {
      events.push(e);
      appendTime.set(e, r.appendTime);
    }
  }
  events.sort((a, b) => b.timestamp - a.timestamp || appendTime.get(b)! - appendTime.get(a)! || b.offset - a.offset);
  return events;
}

function newestAppendedFirst(a: LogRecord, b: LogRecord): number {
  return b.appendTime - a.appendTime || b.offset - a.offset || a.partition - b.partition;
}

/** The newest `limit` dead letters (by append time), parsed from the dead-letter topic. */
export async function deadLetters(log: EventLog, limit: number): Promise<DeadLetterView[]> {
  if ((await log.partitions(DLQ_TOPIC)) === undefined) return [];
  const records = await tail(log, DLQ_TOPIC, limit);
  records.sort(newestAppendedFirst);
  const out: DeadLetterView[] = [];
  for (const r of records) {
    if (out.length >= limit) break;
    const d = toDeadLetterView(r);
    if (d) out.push(d);
  }
  return out;
}

const decoder = new TextDecoder();

/** A dead-letter record as the API shows it; null when the record is not one. */
export function toDeadLetterView(r: LogRecord): DeadLetterView | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(decoder.decode(r.value));
  } catch {
    return null;
  }
  const d = deadLetterSchema.safeParse(parsed);
  if (!d.success) return null;
  // The record value's ISO-8601 times become epoch ms here, where they leave the log.
  const firstAttemptTime = Date.parse(d.data.firstAttemptTime);
  const lastAttemptTime = Date.parse(d.data.lastAttemptTime);
  if (!Number.isFinite(firstAttemptTime) || !Number.isFinite(lastAttemptTime)) return null;
  return { ...d.data, firstAttemptTime, lastAttemptTime, id: `${DLQ_TOPIC}/${r.partition}/${r.offset}` };
}
