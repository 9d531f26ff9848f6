/**
 * Event types (README, "Event types and topics"): which topic an event type goes to, how its
 * actor key is found, which payload field is its value, which windows it keeps and which JSON
 * Schema its payload follows. The three built-in types are the defaults; more are declared in
 * `KEYFLOW_EVENT_TYPES_FILE` or registered at run time (`registerEventType`), and a registered
 * type changes only within {@link checkCompatible}'s rules.
 */
import { z } from 'zod';
import { ErrorCode, KeyflowError } from './errors.ts';
import { type EnrichmentRule, enrichmentSchema } from './enrichment.ts';
import type { EventEnvelope, ValidationIssue } from './event.ts';

export interface EventTypeSpec {
  readonly eventType: string;
  readonly topic: string;
  readonly partitions: number;
  /** Payload field aggregated as sum/avg/min/max; null when the type has none (count and distinct users only). */
  readonly valueField: string | null;
  /**
   * Where the actor (and partition) key is read, in order of preference (`deviceId`, `userId`,
   * `payload.orderId`, `metadata.x.y`); the first that holds a non-empty string or a finite number
   * wins, else the eventId. Absent: `deviceId ?? userId ?? eventId`.
   */
  readonly keyPaths?: readonly string[];
  /** Window specs of this type (e.g. `tumbling-1m`); absent: `KEYFLOW_WINDOWS`. */
  readonly windows?: readonly string[];
  /** JSON Schema the payload must match; absent: any JSON object. */
  readonly schema?: Record<string, unknown>;
  /** How a new schema is checked against the registered one. @default 'BACKWARD' */
  readonly compatibility?: Compatibility;
  /** Version of the registration: 1 for the first, +1 for each accepted change. */
  readonly version?: number;
  readonly description?: string;
  /** Enrichment rules: the processor writes each event's processed record to `events.processed`. */
  readonly enrichment?: readonly EnrichmentRule[];
  /**
   * How payloads are written. `avro` / `protobuf`: a registered schema of {@link subject} (the API
   * takes the bytes and the schema id; raw records are in the Confluent wire format).
   * @default 'json'
   */
  readonly format?: PayloadFormat;
  /** Schema-registry subject of an Avro / Protobuf type. @default `<topic>-value` (the serializers' TopicNameStrategy) */
  readonly subject?: string;
  /** Avro / Protobuf: the payload field holding the event time (epoch ms, or an ISO-8601 string); absent: the record's timestamp. */
  readonly timestampField?: string;
  /**
   * The payload's problems against {@link schema}, compiled once when the type is registered
   * (attached by the type catalog); undefined when the payload is valid or there is no schema.
   */
  readonly checkPayload?: (payload: Record<string, unknown>) => ValidationIssue[] | undefined;
}

export type Compatibility = 'BACKWARD' | 'NONE';
export type PayloadFormat = 'json' | 'avro' | 'protobuf';

/** The schema-registry subject of a binary-format type (undefined for JSON types). */
export function subjectOf(spec: Pick<EventTypeSpec, 'format' | 'subject' | 'topic'>): string | undefined {
  if (spec.format === undefined || spec.format === 'json') return undefined;
  return spec.subject ?? `${spec.topic}-value`;
}

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
  /** Kafka: created with `cleanup.policy=compact` (only the last record per key is kept). */
  readonly compacted?: boolean;
}

export const DLQ_TOPIC = 'events.dlq';
/** Processed (enriched) records of the types that declare enrichment rules. */
export const PROCESSED_TOPIC = 'events.processed';
export const LATE_TOPIC = 'events.late';
export const AGGREGATED_TOPIC = 'events.aggregated';
/** Kafka: the compacted topic of event-type registrations (one record per type, keyed by its name). */
export const EVENT_TYPES_TOPIC = 'keyflow.event-types';

export const DEFAULT_EVENT_TYPES: readonly EventTypeSpec[] = [
  { eventType: 'iot.sensor', topic: 'events.iot.sensors', partitions: 12, valueField: 'value' },
  { eventType: 'clickstream', topic: 'events.clickstream', partitions: 24, valueField: null },
  { eventType: 'transaction', topic: 'events.transactions', partitions: 12, valueField: 'amount' },
];

/** Topics the platform writes besides the event topics. */
export const SYSTEM_TOPICS: readonly TopicSpec[] = [
  { name: DLQ_TOPIC, partitions: 6 },
  { name: AGGREGATED_TOPIC, partitions: 12 },
  { name: LATE_TOPIC, partitions: 6 },
  { name: PROCESSED_TOPIC, partitions: 12 },
];

/** Partitions of a registered type's topic when its definition names none. */
export const DEFAULT_TYPE_PARTITIONS = 6;

const EVENT_TYPE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$/;
const TOPIC_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,199}$/;
const PATH_SEGMENT = /^[A-Za-z_$][A-Za-z0-9_$-]{0,99}$/;

/** A key path: `deviceId`, `userId`, `eventId`, or `payload.…` / `metadata.…` (at most 8 segments). */
const keyPath = z.string().refine(
  (p) => {
    if (p === 'deviceId' || p === 'userId' || p === 'eventId') return true;
    const parts = p.split('.');
    return (parts[0] === 'payload' || parts[0] === 'metadata') && parts.length >= 2 && parts.length <= 8 && parts.slice(1).every((s) => PATH_SEGMENT.test(s) && s !== '__proto__');
  },
  { message: 'a key path is deviceId, userId, eventId, or payload.<field>[.<field>…] / metadata.<field>[.<field>…]' },
);

/** The value path: `payload.<field>` (one level: the window engine reads that field), or null. */
const valuePath = z
  .string()
  .refine((p) => /^payload\.[A-Za-z_$][A-Za-z0-9_$-]{0,99}$/.test(p) && p !== 'payload.__proto__', {
    message: 'the value path is payload.<field> (a top-level payload field), or null for count-only types',
  })
  .nullable();

/** A type as a user declares it (file or `registerEventType`). */
export const eventTypeDefinitionSchema = z
  .object({
    name: z.string().regex(EVENT_TYPE_NAME, 'an event type name is 1–100 characters of letters, digits, ".", "_", "-", starting with a letter or digit'),
    topic: z.string().regex(TOPIC_NAME, 'a topic name is 1–200 characters of letters, digits, ".", "_", "-"').optional(),
    partitions: z.number().int().min(1).max(1000).optional(),
    keyPaths: z.array(keyPath).min(1).max(8).optional(),
    valuePath: valuePath.optional(),
    windows: z.array(z.string().min(1).max(100)).min(1).max(20).optional(),
    schema: z.record(z.string(), z.unknown()).optional(),
    compatibility: z.enum(['BACKWARD', 'NONE']).optional(),
    description: z.string().max(1000).optional(),
    enrichment: enrichmentSchema.optional(),
    format: z.enum(['json', 'avro', 'protobuf']).optional(),
    subject: z.string().regex(/^[^\s/\\]{1,255}$/, 'a subject is 1–255 characters without spaces or slashes').optional(),
    timestampPath: z
      .string()
      .refine((p) => /^payload\.[A-Za-z_$][A-Za-z0-9_$]{0,99}$/.test(p) && p !== 'payload.__proto__', { message: 'the timestamp path is payload.<field> (a top-level payload field)' })
      .optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    const binary = d.format === 'avro' || d.format === 'protobuf';
    if (binary && d.schema) ctx.addIssue({ code: 'custom', path: ['schema'], message: `a ${d.format} type takes its schema from the schema registry (subject), not a JSON Schema` });
    if (!binary && d.subject !== undefined) ctx.addIssue({ code: 'custom', path: ['subject'], message: 'a subject is for avro / protobuf types' });
    if (!binary && d.timestampPath !== undefined) ctx.addIssue({ code: 'custom', path: ['timestampPath'], message: 'a timestamp path is for avro / protobuf types (JSON events carry their timestamp)' });
  });
export type EventTypeDefinition = z.infer<typeof eventTypeDefinitionSchema>;

const reservedTopics = new Set([...SYSTEM_TOPICS.map((t) => t.name), EVENT_TYPES_TOPIC]);

/**
 * The spec of a definition (defaults filled in: topic `events.<name>`, {@link DEFAULT_TYPE_PARTITIONS}
 * partitions, no value field). Throws SCHEMA_VALIDATION_FAILED with `details.issues` naming each field.
 */
export function specFromDefinition(input: unknown, where = 'event type'): EventTypeSpec {
  const parsed = eventTypeDefinitionSchema.safeParse(input);
  if (!parsed.success) {
    const rules = (input as { enrichment?: unknown } | null)?.enrichment;
    const issues = parsed.error.issues.map((i) => {
      // a rule's problem names the rule
      const rule = i.path[0] === 'enrichment' && typeof i.path[1] === 'number' && Array.isArray(rules) ? (rules[i.path[1]] as { name?: unknown } | undefined)?.name : undefined;
      return { path: i.path.join('.') || '(root)', message: typeof rule === 'string' ? `rule '${rule}': ${i.message}` : i.message };
    });
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `${where}: invalid definition: ${issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`, {
      details: { issues },
    });
  }
  const d = parsed.data;
  const topic = d.topic ?? `events.${d.name}`;
  if (reservedTopics.has(topic)) {
    throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `${where} '${d.name}': topic '${topic}' is reserved for keyflow itself`, {
      details: { issues: [{ path: 'topic', message: 'reserved topic' }] },
    });
  }
  return {
    eventType: d.name,
    topic,
    partitions: d.partitions ?? DEFAULT_TYPE_PARTITIONS,
    valueField: d.valuePath ? d.valuePath.slice('payload.'.length) : null,
    ...(d.keyPaths ? { keyPaths: d.keyPaths } : {}),
    ...(d.windows ? { windows: d.windows } : {}),
    ...(d.schema ? { schema: d.schema } : {}),
    ...(d.compatibility ? { compatibility: d.compatibility } : {}),
    ...(d.description !== undefined ? { description: d.description } : {}),
    ...(d.enrichment ? { enrichment: d.enrichment } : {}),
    ...(d.format && d.format !== 'json' ? { format: d.format } : {}),
    ...(d.subject !== undefined ? { subject: d.subject } : {}),
    ...(d.timestampPath ? { timestampField: d.timestampPath.slice('payload.'.length) } : {}),
  };
}

/** The definition a spec was made from (what is stored and shown). */
export function definitionOf(spec: EventTypeSpec): EventTypeDefinition {
  return {
    name: spec.eventType,
    topic: spec.topic,
    partitions: spec.partitions,
    valuePath: spec.valueField === null ? null : `payload.${spec.valueField}`,
    ...(spec.keyPaths ? { keyPaths: [...spec.keyPaths] } : {}),
    ...(spec.windows ? { windows: [...spec.windows] } : {}),
    ...(spec.schema ? { schema: spec.schema } : {}),
    ...(spec.compatibility ? { compatibility: spec.compatibility } : {}),
    ...(spec.description !== undefined ? { description: spec.description } : {}),
    ...(spec.enrichment ? { enrichment: [...spec.enrichment] } : {}),
    ...(spec.format && spec.format !== 'json' ? { format: spec.format } : {}),
    ...(spec.subject !== undefined ? { subject: spec.subject } : {}),
    ...(spec.timestampField !== undefined ? { timestampPath: `payload.${spec.timestampField}` } : {}),
  };
}

function readPath(e: EventEnvelope, path: string): unknown {
  if (path === 'deviceId') return e.deviceId;
  if (path === 'userId') return e.userId;
  if (path === 'eventId') return e.eventId;
  const parts = path.split('.');
  let v: unknown = parts[0] === 'payload' ? e.payload : e.metadata;
  for (let i = 1; i < parts.length; i++) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = Object.hasOwn(v, parts[i]!) ? (v as Record<string, unknown>)[parts[i]!] : undefined;
  }
  return v;
}

/** The longest actor key, characters (as an id field). */
const MAX_KEY_CHARS = 256;

/**
 * The actor and partition key of an event of this type: the first of the type's key paths that
 * holds a non-empty string (≤ 256 characters) or a finite number, else the eventId.
 * Without key paths: `deviceId ?? userId ?? eventId`.
 */
export function keyFor(spec: Pick<EventTypeSpec, 'keyPaths'> | undefined, e: EventEnvelope): string {
  const paths = spec?.keyPaths;
  if (paths === undefined) return e.deviceId ?? e.userId ?? e.eventId;
  for (const p of paths) {
    const v = readPath(e, p);
    if (typeof v === 'string' && v.length > 0 && v.length <= MAX_KEY_CHARS) return v;
    if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  }
  return e.eventId;
}

/** Throws SCHEMA_VALIDATION_FAILED (issues with `payload.…` paths) when the payload breaks the type's JSON Schema. */
export function checkPayloadSchema(e: Pick<EventEnvelope, 'payload' | 'eventType'>, spec: Pick<EventTypeSpec, 'checkPayload'> | undefined): void {
  const problems = spec?.checkPayload?.(e.payload);
  if (problems === undefined || problems.length === 0) return;
  throw new KeyflowError(
    ErrorCode.SCHEMA_VALIDATION_FAILED,
    `payload does not match the schema of '${e.eventType}': ${problems.map((p) => `${p.path}: ${p.message}`).join('; ')}`,
    { details: { issues: problems } },
  );
}

/**
 * Whether `next` may replace the registered `prev` (same name). Immutable: topic, partitions, key
 * paths, value path and windows (changing them would move keys to other partitions or mix
 * different sums in the same windows). The schema may change: with compatibility BACKWARD (the
 * default) only in ways that accept every payload the previous one accepted
 * ({@link schemaBackwardProblem}); with NONE freely. Throws EVENT_TYPE_INCOMPATIBLE naming the field.
 */
export function checkCompatible(prev: EventTypeSpec, next: EventTypeSpec): void {
  const fail = (field: string, why: string) => {
    throw new KeyflowError(ErrorCode.EVENT_TYPE_INCOMPATIBLE, `event type '${prev.eventType}' cannot change: ${field} ${why}`, {
      details: { eventType: prev.eventType, field, reason: why },
    });
  };
  const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
  if (prev.topic !== next.topic) fail('topic', `is '${prev.topic}' (asked: '${next.topic}'); register a new type instead`);
  if (prev.partitions !== next.partitions) fail('partitions', `is ${prev.partitions} (asked: ${next.partitions}): keys would move to other partitions`);
  if (!same(prev.keyPaths ?? null, next.keyPaths ?? null)) fail('keyPaths', 'cannot change: keys would move to other actors and partitions');
  if (prev.valueField !== next.valueField) fail('valuePath', 'cannot change: windows would mix sums of different fields');
  if (!same(prev.windows ?? null, next.windows ?? null)) fail('windows', 'cannot change for a registered type');
  if ((prev.format ?? 'json') !== (next.format ?? 'json')) fail('format', `is ${prev.format ?? 'json'} (asked: ${next.format ?? 'json'}): records already written could no longer be read`);
  if (subjectOf(prev) !== subjectOf(next)) fail('subject', 'cannot change: the schemas of records already written are versions of the registered subject');
  if (prev.timestampField !== next.timestampField) fail('timestampPath', 'cannot change: replaying records would give them other event times');
  const mode = next.compatibility ?? prev.compatibility ?? 'BACKWARD';
  if (mode === 'BACKWARD' && !same(prev.schema ?? null, next.schema ?? null)) {
    const problem = schemaBackwardProblem(prev.schema, next.schema);
    if (problem !== undefined) fail('schema', `is not backward compatible: ${problem}`);
  }
}

type Json = Record<string, unknown>;

function typesOf(s: Json): Set<string> | undefined {
  const t = s.type;
  if (t === undefined) return undefined;
  const set = new Set(Array.isArray(t) ? (t as string[]) : [t as string]);
  if (set.has('number')) set.add('integer');
  return set;
}

/**
 * Why the JSON Schema `next` might refuse a payload `prev` accepted, or undefined when it cannot.
 * Decided structurally on object schemas (`type`, `properties`, `required`, `additionalProperties`,
 * recursively); any other keyword that differs is refused as unprovable ("change it with
 * compatibility NONE").
 */
export function schemaBackwardProblem(prev: Json | undefined, next: Json | undefined, at = 'payload'): string | undefined {
  if (next === undefined) return undefined; // no schema accepts everything
  if (prev === undefined) return `${at}: a schema was added where there was none (payloads accepted before may not match)`;
  const known = new Set(['type', 'properties', 'required', 'additionalProperties', 'description', 'title', '$schema', '$id', 'examples', 'default']);
  const pt = typesOf(prev);
  const nt = typesOf(next);
  if (nt !== undefined) {
    if (pt === undefined) return `${at}: a type was added`;
    for (const t of pt) if (!nt.has(t)) return `${at}: type '${t}' is no longer allowed`;
  }
  const keys = new Set([...Object.keys(prev), ...Object.keys(next)]);
  for (const k of keys) {
    if (known.has(k)) continue;
    if (JSON.stringify(prev[k]) !== JSON.stringify(next[k])) return `${at}: '${k}' changed, which cannot be checked for backward compatibility (use compatibility NONE to change it)`;
  }
  const preq = new Set((prev.required as string[] | undefined) ?? []);
  for (const r of (next.required as string[] | undefined) ?? []) if (!preq.has(r)) return `${at}.${r}: newly required`;
  const pprops = (prev.properties as Record<string, Json> | undefined) ?? {};
  const nprops = (next.properties as Record<string, Json> | undefined) ?? {};
  const nAdd = next.additionalProperties;
  const pAdd = prev.additionalProperties;
  if (nAdd === false) {
    if (pAdd !== false) return `${at}: additionalProperties became false`;
    for (const p of Object.keys(pprops)) if (!(p in nprops)) return `${at}.${p}: removed while additionalProperties is false`;
  } else if (typeof nAdd === 'object' && nAdd !== null && JSON.stringify(nAdd) !== JSON.stringify(pAdd)) {
    return `${at}: additionalProperties changed`;
  }
  for (const [p, ns] of Object.entries(nprops)) {
    const ps = pprops[p];
    // a property new to the schema: payloads accepted before may hold anything there (unless additionalProperties was false)
    if (ps === undefined) {
      if (pAdd === false) continue;
      if (typeof pAdd === 'object' && pAdd !== null) {
        const problem = schemaBackwardProblem(pAdd as Json, ns, `${at}.${p}`);
        if (problem) return problem;
        continue;
      }
      if (Object.keys(ns).some((k) => !['description', 'title', 'examples', 'default'].includes(k))) return `${at}.${p}: a constrained property was added (payloads accepted before may hold anything there)`;
      continue;
    }
    const problem = schemaBackwardProblem(ps, ns, `${at}.${p}`);
    if (problem) return problem;
  }
  return undefined;
}

/** Looks event types up by name and by topic; types can be added or changed while it is in use. */
export interface EventTypeRegistry {
  /** The spec for a type, or undefined when unknown. */
  resolve(eventType: string): EventTypeSpec | undefined;
  byTopic(topic: string): EventTypeSpec | undefined;
  all(): readonly EventTypeSpec[];
  /**
   * Adds a type or replaces one (after {@link checkCompatible}; throws EVENT_TYPE_INCOMPATIBLE).
   * A topic belongs to one type. Returns whether anything changed; listeners hear of each change.
   */
  register(spec: EventTypeSpec): boolean;
  /** Called after each change, with the new spec. Returns the unsubscribe. */
  onChange(listener: (spec: EventTypeSpec, previous: EventTypeSpec | undefined) => void): () => void;
}

/** The comparable content of a spec (without the compiled checker and version). */
function contentOf(spec: EventTypeSpec): string {
  return JSON.stringify(definitionOf(spec));
}

export function createEventTypeRegistry(types: readonly EventTypeSpec[] = DEFAULT_EVENT_TYPES): EventTypeRegistry {
  const byType = new Map(types.map((t) => [t.eventType, t]));
  const byTopic = new Map(types.map((t) => [t.topic, t]));
  const listeners = new Set<(spec: EventTypeSpec, previous: EventTypeSpec | undefined) => void>();
  return {
    resolve: (eventType) => byType.get(eventType),
    byTopic: (topic) => byTopic.get(topic),
    all: () => [...byType.values()],
    register(spec) {
      const prev = byType.get(spec.eventType);
      if (prev && contentOf(prev) === contentOf(spec) && prev.checkPayload === spec.checkPayload) return false;
      if (prev) checkCompatible(prev, spec);
      const owner = byTopic.get(spec.topic);
      if (owner && owner.eventType !== spec.eventType) {
        throw new KeyflowError(ErrorCode.EVENT_TYPE_INCOMPATIBLE, `topic '${spec.topic}' already belongs to event type '${owner.eventType}'`, {
          details: { eventType: spec.eventType, field: 'topic', reason: 'taken' },
        });
      }
      byType.set(spec.eventType, spec);
      byTopic.set(spec.topic, spec);
      for (const l of listeners) l(spec, prev);
      return true;
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
