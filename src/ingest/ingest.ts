/**
 * Ingest: validates events, routes them to their topic and partition, and appends them to the log,
 * idempotently by eventId. Used by the publishEvent / publishEvents mutations (and any other
 * producer in the process that wants the same rules).
 */
import { Buffer } from 'node:buffer';
import { isSpanContextValid, context as otelContext, trace } from '@opentelemetry/api';
import { type Clock, systemClock } from '../core/index.ts';
import type { EventLog, Headers, ProduceRecord } from '../log/index.ts';
import type { EventTypeRegistry, EventTypeSpec } from '../model/index.ts';
import { checkEventBounds, checkPayloadSchema, DEFAULT_MAX_FUTURE_SKEW_MS, ErrorCode, EVENT_INPUT_FIELDS, type EventEnvelope, encodeEnvelope, isKeyflowError, KeyflowError, keyFor, parseEventInput, partitionForKey, type ValidationIssue } from '../model/index.ts';
import type { ClaimLocation, Dedupe, StoredReceipt } from './dedupe/port.ts';
import { createGroupCommit } from './group-commit.ts';

export type ReceiptStatus = 'ACCEPTED' | 'DUPLICATE';

/** The contract's EventReceipt; `offset` is a JS number here, a decimal string on the wire. */
export interface EventReceipt {
  status: ReceiptStatus;
  eventId: string;
  topic: string;
  partition: number;
  offset: number;
  /** The event's own timestamp, epoch ms. */
  timestamp: number;
}

/** One invalid input of a batch, as listed in `details.errors`. */
export interface InputError {
  index: number;
  code: ErrorCode;
  message: string;
  /** For SCHEMA_VALIDATION_FAILED: each problem with its field path, e.g. `{ path: 'payload', message: … }`. */
  issues?: ValidationIssue[];
}

/** Who publishes, recorded on every record of the call. */
export interface PublishOptions {
  /** The partner's identity (a JWT's `sub`); written as the record header {@link PUBLISHER_HEADER}. */
  publisher?: string | undefined;
}

/** Record header naming the identity that published the event. */
export const PUBLISHER_HEADER = 'keyflow-publisher';

export interface Ingest {
  /** Publishes one event. Throws KeyflowError: the input's own code (details.errors names index 0), BROKER_UNAVAILABLE. */
  publish(input: unknown, options?: PublishOptions): Promise<EventReceipt>;
  /**
   * Publishes a batch, all or nothing at validation: when any input is invalid nothing is
   * appended and the error's `details.errors` lists every invalid index. The error's code is the
   * invalid inputs' code when they all share one, else SCHEMA_VALIDATION_FAILED. A batch larger
   * than `maxBatch` fails with BATCH_TOO_LARGE. Receipts are in input order.
   */
  publishBatch(inputs: readonly unknown[], options?: PublishOptions): Promise<EventReceipt[]>;
}

export interface IngestOptions {
  log: EventLog;
  registry: EventTypeRegistry;
  dedupe: Dedupe;
  limits: {
    /** Largest encoded record value, bytes. */
    maxEventBytes: number;
    /** Most events in one batch. */
    maxBatch: number;
    /** How far an event's time may lie after the time of the publish, ms (TIMESTAMP_OUT_OF_RANGE beyond). @default DEFAULT_MAX_FUTURE_SKEW_MS (300000) */
    maxFutureSkewMs?: number;
  };
  /** Assigns an eventId when the input has none. @default crypto.randomUUID */
  newId?: () => string;
  /** Drives retry backoff and the in-flight wait. @default systemClock */
  clock?: Clock;
  /** Append attempts for a retriable broker error before BROKER_UNAVAILABLE. @default 3 */
  appendAttempts?: number;
  /** First retry delay, ms; doubles each attempt. @default 250 */
  retryBaseDelayMs?: number;
  /** Upper bound on the time spent retrying one append, ms. @default 5_000 */
  retryMaxTotalMs?: number;
  /** How long to wait for another in-flight publish of the same eventId, ms. @default 10_000 */
  inFlightWaitMs?: number;
}

interface Prepared {
  envelope: EventEnvelope;
  spec: EventTypeSpec;
  key: string;
  partition: number;
  /** The record value, the event's JSON; encoded to bytes once, by the log (straight into its frame / produce buffer). */
  value: string;
}


const INPUT_FIELDS: ReadonlySet<string> = new Set(EVENT_INPUT_FIELDS.map((f) => f.name));

/**
 * The input as the event rules read it, held to what GraphQL's EventInput type allows (ingest
 * also gets client inputs as sent, see src/graphql/plugins/use-raw-event-inputs.ts): a field
 * EventInput does not have is refused by its path; `eventId: null` means absent.
 */
function inputShape(input: unknown): unknown {
  if (input === null || typeof input !== 'object' || Array.isArray(input)) return input;
  const o = input as Record<string, unknown>;
  let unknown: ValidationIssue[] | undefined;
  for (const k of Object.keys(o)) {
    if (!INPUT_FIELDS.has(k)) (unknown ??= []).push({ path: k, message: 'is not a field of EventInput' });
  }
  if (unknown) {
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `event is invalid: ${unknown.map((i) => `${i.path} ${i.message}`).join('; ')}`, {
      details: { issues: unknown },
    });
  }
  return o.eventId === null ? { ...o, eventId: undefined } : o;
}

/**
 * @example
 * const ingest = createIngest({ log, registry, dedupe: createMemoryDedupe({ maxEntries: 100_000, ttlMs: 3_600_000 }), limits: { maxEventBytes: 65_536, maxBatch: 1000 } });
 * const receipt = await ingest.publish({ eventType: 'iot.sensor', timestamp: '2024-01-15T10:30:00Z', deviceId: 'd1', payload: { value: 1 } });
 */
export function createIngest(options: IngestOptions): Ingest {
  const { log, registry, dedupe, limits } = options;
  const newId = options.newId ?? (() => globalThis.crypto.randomUUID());
  const clock = options.clock ?? systemClock;
  const appendAttempts = options.appendAttempts ?? 3;
  const retryBaseDelayMs = options.retryBaseDelayMs ?? 250;
  const retryMaxTotalMs = options.retryMaxTotalMs ?? 5_000;
  const inFlightWaitMs = options.inFlightWaitMs ?? 10_000;
  const maxFutureSkewMs = limits.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS;
  // Topics this instance has made sure exist; ensureTopics is idempotent, this only saves round trips.
  const ensured = new Set<string>();
  // Concurrent publishes to one topic share log appends (group commit).
  const appender = createGroupCommit(log);

  function prepare(input: unknown): Prepared {
    const envelope = parseEventInput(inputShape(input), newId);
    const spec = registry.resolve(envelope.eventType);
    if (!spec) {
      throw new KeyflowError(
        ErrorCode.UNKNOWN_EVENT_TYPE,
        `unknown eventType '${envelope.eventType}'; known: ${registry
          .all()
          .map((t) => t.eventType)
          .join(', ')}`,
        { details: { eventType: envelope.eventType } },
      );
    }
    // the processor checks the same bounds against the record's append time, which is later than now
    checkEventBounds(envelope, clock.now(), maxFutureSkewMs, spec.valueField);
    checkPayloadSchema(envelope, spec);
    const value = encodeEnvelope(envelope);
    const bytes = Buffer.byteLength(value, 'utf8');
    if (bytes > limits.maxEventBytes) {
      throw new KeyflowError(
        ErrorCode.PAYLOAD_TOO_LARGE,
        `event is ${bytes} bytes encoded, more than the limit of ${limits.maxEventBytes}`,
        { details: { bytes, maxEventBytes: limits.maxEventBytes } },
      );
    }
    const key = keyFor(spec, envelope);
    return { envelope, spec, key, partition: partitionForKey(key, spec.partitions), value };
  }

  function validateAll(inputs: readonly unknown[]): Prepared[] {
    if (inputs.length > limits.maxBatch) {
      throw new KeyflowError(
        ErrorCode.BATCH_TOO_LARGE,
        `batch of ${inputs.length} events is larger than the limit of ${limits.maxBatch}; split it`,
        { details: { size: inputs.length, maxBatch: limits.maxBatch } },
      );
    }
    const prepared: Prepared[] = [];
    const errors: InputError[] = [];
    for (let i = 0; i < inputs.length; i++) {
      try {
        prepared.push(prepare(inputs[i]));
      } catch (e) {
        if (!isKeyflowError(e)) throw e;
        const issues = e.details?.issues;
        errors.push({ index: i, code: e.code, message: e.message, ...(Array.isArray(issues) ? { issues } : {}) });
      }
    }
    if (errors.length > 0) {
      const first = errors[0]!;
      const shared = errors.every((x) => x.code === first.code) ? first.code : ErrorCode.SCHEMA_VALIDATION_FAILED;
      const message =
        inputs.length === 1
          ? first.message
          : `${errors.length} of ${inputs.length} events are invalid (indexes ${errors.map((x) => x.index).join(', ')}); nothing was published: ${describeErrors(errors)}`;
      throw new KeyflowError(shared, message, { details: { errors } });
    }
    return prepared;
  }

  async function appendWithRetry(topic: string, records: ProduceRecord[]) {
    const started = clock.now();
    for (let attempt = 1; ; attempt++) {
      try {
        return await appender.append(topic, records);
      } catch (e) {
        if (!isKeyflowError(e) || !e.retriable) throw e;
        const delay = retryBaseDelayMs * 2 ** (attempt - 1);
        if (attempt >= appendAttempts || clock.now() - started + delay > retryMaxTotalMs) {
          throw new KeyflowError(
            ErrorCode.BROKER_UNAVAILABLE,
            `the event log did not accept the events after ${attempt} attempts; nothing of this call was appended to ${topic}, retry later`,
            { retriable: true, cause: e, details: { topic, attempts: attempt } },
          );
        }
        await clock.sleep(delay);
      }
    }
  }

  async function ensureTopic(spec: EventTypeSpec): Promise<void> {
    if (ensured.has(spec.topic)) return;
    await log.ensureTopics([{ name: spec.topic, partitions: spec.partitions }]);
    ensured.add(spec.topic);
  }

  /**
   * Claims every distinct eventId of the batch, concurrently (one round trip's latency for a
   * Redis dedupe). When one is pending elsewhere, this round's claims are released before
   * waiting, so two overlapping batches never hold-and-wait on each other; the jittered wait
   * keeps them from colliding again.
   */
  async function claimAll(ids: string[], where: (id: string) => ClaimLocation): Promise<{ claimed: string[]; done: Map<string, StoredReceipt> }> {
    const done = new Map<string, StoredReceipt>();
    const started = clock.now();
    let wait = 5;
    for (;;) {
      const todo = ids.filter((id) => !done.has(id));
      const results = await Promise.all(todo.map((id) => dedupe.claim(id, where(id))));
      const claimed: string[] = [];
      let pending: string | null = null;
      results.forEach((r, i) => {
        const id = todo[i]!;
        if (r.status === 'claimed') claimed.push(id);
        else if (r.status === 'done') done.set(id, r.receipt);
        else pending ??= id;
      });
      if (pending === null) return { claimed, done };
      await Promise.all(claimed.map((id) => dedupe.release(id)));
      if (clock.now() - started >= inFlightWaitMs) {
        throw new KeyflowError(
          ErrorCode.BROKER_UNAVAILABLE,
          `an earlier publish of eventId '${pending}' is still in flight after ${inFlightWaitMs} ms; retry later`,
          { retriable: true, details: { eventId: pending } },
        );
      }
      await clock.sleep(Math.round(wait * (0.5 + Math.random())));
      wait = Math.min(wait * 2, 200);
    }
  }

  function traceparent(): string {
    const sc = trace.getSpanContext(otelContext.active());
    if (sc && isSpanContextValid(sc)) {
      return `00-${sc.traceId}-${sc.spanId}-${(sc.traceFlags & 0xff).toString(16).padStart(2, '0')}`;
    }
    return `00-${randomHex(16)}-${randomHex(8)}-00`;
  }

  async function publishBatch(inputs: readonly unknown[], options?: PublishOptions): Promise<EventReceipt[]> {
    const prepared = validateAll(inputs);
    if (prepared.length === 0) return [];
    // Taken before the first await: the caller's span is the parent of every record of the call.
    const headers: Headers = { 'content-type': 'application/json', traceparent: traceparent() };
    if (options?.publisher) headers[PUBLISHER_HEADER] = options.publisher;
    // The first occurrence of an eventId in the batch publishes; later ones answer DUPLICATE.
    const firstIndex = new Map<string, number>();
    for (let i = 0; i < prepared.length; i++) {
      const id = prepared[i]!.envelope.eventId;
      if (!firstIndex.has(id)) firstIndex.set(id, i);
    }
    // each claim names where its append goes, so a stale claim (this gateway died) can be looked up in the log
    const { claimed, done } = await claimAll([...firstIndex.keys()], (id) => {
      const p = prepared[firstIndex.get(id)!]!;
      return { topic: p.spec.topic, partition: p.partition };
    });
    const claimedSet = new Set(claimed);
    const appended = new Map<string, StoredReceipt>();

    const byTopic = new Map<string, Prepared[]>();
    for (const [id, i] of firstIndex) {
      if (!claimedSet.has(id)) continue;
      const p = prepared[i]!;
      const group = byTopic.get(p.spec.topic);
      if (group) group.push(p);
      else byTopic.set(p.spec.topic, [p]);
    }
    try {
      for (const [topic, group] of byTopic) {
        await ensureTopic(group[0]!.spec);
        const results = await appendWithRetry(
          topic,
          group.map((p) => ({ key: p.key, value: p.value, headers, partition: p.partition })),
        );
        for (let j = 0; j < group.length; j++) {
          const p = group[j]!;
          const r = results[j]!;
          appended.set(p.envelope.eventId, { topic: r.topic, partition: r.partition, offset: r.offset, timestamp: p.envelope.timestamp });
        }
        // Stored right after each topic's append, so a concurrent duplicate waits on a short pending window.
        await Promise.all(group.map((p) => dedupe.complete(p.envelope.eventId, appended.get(p.envelope.eventId)!)));
      }
    } finally {
      // Claims of events that did not get appended are given back so a retry can publish them;
      // the ones already appended keep their receipt and a retry answers DUPLICATE for them.
      const unfinished = claimed.filter((id) => !appended.has(id));
      await Promise.all(unfinished.map((id) => dedupe.release(id)));
    }

    return prepared.map((p, i): EventReceipt => {
      const id = p.envelope.eventId;
      const own = firstIndex.get(id) === i ? appended.get(id) : undefined;
      const r = own ?? appended.get(id) ?? done.get(id);
      if (!r) throw new KeyflowError(ErrorCode.INTERNAL, `no receipt for eventId '${id}'`);
      return { status: own ? 'ACCEPTED' : 'DUPLICATE', eventId: id, ...r };
    });
  }

  return {
    async publish(input, options) {
      const [receipt] = await publishBatch([input], options);
      return receipt!;
    },
    publishBatch,
  };
}

/** The first few problems of a batch by their input path, e.g. `inputs[1].timestamp: must be …`. */
function describeErrors(errors: readonly InputError[]): string {
  const parts: string[] = [];
  for (const e of errors) {
    if (e.issues?.length) for (const i of e.issues) parts.push(`inputs[${e.index}].${i.path} ${i.message}`);
    else parts.push(`inputs[${e.index}]: ${e.message}`);
    if (parts.length >= 5) break;
  }
  const shown = parts.slice(0, 5).join('; ');
  return parts.length > 5 || errors.length > 5 ? `${shown}; … (details.errors lists all)` : shown;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
// Random bytes drawn in blocks: one getRandomValues per 8 KiB instead of two per publish (profile: 3.5 % of the gateway's CPU).
const randomPool = new Uint8Array(8192);
let randomAt = randomPool.length;

function randomHex(bytes: number): string {
  if (randomAt + bytes > randomPool.length) {
    globalThis.crypto.getRandomValues(randomPool);
    randomAt = 0;
  }
  let s = '';
  for (let i = 0; i < bytes; i++) s += HEX[randomPool[randomAt++]!];
  return s;
}
