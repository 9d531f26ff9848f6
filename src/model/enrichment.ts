/**
 * Enrichment rules, declared per event type (the seeds' `001_…` transformer, made declarative):
 * derived date fields, categories by thresholds, flags, range anomalies, per-key z-score anomalies
 * and lookups in a static table. {@link enrichEvent} is a pure function of the event, where its
 * record sits, the rules and — for z-score rules only — the running statistics of the event's key
 * before it ({@link EnrichmentState}, part of the partition's checkpoint): a replay from a
 * checkpoint produces the same processed records, `recordId` included.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { EventEnvelope } from './event.ts';

const name = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a rule name is a field name: letters, digits, _');
const path = z
  .string()
  .regex(/^(payload|metadata)(\.[A-Za-z_$][A-Za-z0-9_$-]{0,99}){1,8}$/, 'a path is payload.<field>[.<field>…] or metadata.<field>…')
  .refine((p) => !p.split('.').includes('__proto__'), '__proto__ cannot be read');

export const enrichmentRuleSchema = z.discriminatedUnion('rule', [
  /** `enriched.<name>` = { date: YYYY-MM-DD, hour, dayOfWeek (0 = Sunday), month, year } of the event time (UTC). */
  z.object({ rule: z.literal('date'), name }).strict(),
  /** The label of the first threshold the number at `path` is below (`upTo`, exclusive), else `otherwise`; absent when no number. */
  z
    .object({
      rule: z.literal('category'),
      name,
      path,
      thresholds: z.array(z.object({ upTo: z.number().finite(), label: z.string().min(1).max(100) }).strict()).min(1).max(50),
      otherwise: z.string().min(1).max(100),
    })
    .strict()
    .refine((r) => r.thresholds.every((t, i) => i === 0 || t.upTo > r.thresholds[i - 1]!.upTo), { message: 'thresholds must be in ascending upTo order', path: ['thresholds'] }),
  /** true when the number at `path` is above `above` (and/or below `below`), false for another number; absent when no number. */
  z
    .object({ rule: z.literal('flag'), name, path, above: z.number().finite().optional(), below: z.number().finite().optional() })
    .strict()
    .refine((r) => r.above !== undefined || r.below !== undefined, { message: 'a flag needs above and/or below' }),
  /** true when the number at `path` lies outside [min, max] (an anomaly), false inside; absent when no number. */
  z
    .object({ rule: z.literal('anomaly'), name, path, min: z.number().finite(), max: z.number().finite() })
    .strict()
    .refine((r) => r.min <= r.max, { message: 'min must not be above max' }),
  /**
   * Per-key z-score: true when |value − mean| / stddev of the key's earlier values exceeds
   * `threshold` (default 3), once the key has `minCount` earlier values (default 10); absent before.
   * Running mean and variance per key (Welford), kept in the partition's checkpoint.
   */
  z
    .object({
      rule: z.literal('zscore'),
      name,
      path,
      threshold: z.number().finite().positive().optional(),
      minCount: z.number().int().min(2).max(1_000_000).optional(),
    })
    .strict(),
  /** `table[String(value at path)]`, else `default` (absent when neither). */
  z
    .object({ rule: z.literal('lookup'), name, path, table: z.record(z.string(), z.json()), default: z.json().optional() })
    .strict()
    .refine((r) => Object.keys(r.table).length <= 100_000, { message: 'a lookup table has at most 100,000 entries' }),
]);
export type EnrichmentRule = z.infer<typeof enrichmentRuleSchema>;

export const enrichmentSchema = z
  .array(enrichmentRuleSchema)
  .max(50)
  .refine((rules) => new Set(rules.map((r) => r.name)).size === rules.length, { message: 'two rules have the same name' });

/** Where the event's record sits (the processed record's `metadata.source`). */
export interface RecordPosition {
  topic: string;
  partition: number;
  offset: number;
  /** The record's append time, epoch ms: the processed record's `processedAt` (so a replay gives the same). */
  appendTime: number;
}

export interface ProcessedRecord {
  recordId: string;
  /** The event as it was published (wire form). */
  original: Record<string, unknown>;
  enriched: Record<string, unknown>;
  processedAt: string;
  metadata: { source: string; stage: 'processed'; version: number };
}

function numberAt(e: EventEnvelope, p: string): number | undefined {
  const parts = p.split('.');
  let v: unknown = parts[0] === 'payload' ? e.payload : e.metadata;
  for (let i = 1; i < parts.length; i++) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = Object.hasOwn(v, parts[i]!) ? (v as Record<string, unknown>)[parts[i]!] : undefined;
  }
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined;
}

function valueAt(e: EventEnvelope, p: string): unknown {
  const parts = p.split('.');
  let v: unknown = parts[0] === 'payload' ? e.payload : e.metadata;
  for (let i = 1; i < parts.length; i++) {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
    v = Object.hasOwn(v, parts[i]!) ? (v as Record<string, unknown>)[parts[i]!] : undefined;
  }
  return v;
}

/** Running statistics of one key's values under one z-score rule (Welford). */
export interface KeyStats {
  n: number;
  mean: number;
  /** Sum of squared differences from the mean. */
  m2: number;
}

/** Per-(rule, key) statistics of the z-score rules of one partition, by `<rule>\u001f<key>`. */
export type EnrichmentState = Map<string, KeyStats>;

const STAT_SEP = '\u001f';

/** The state as JSON data (JSON keeps every double exactly, so a restored state decides the same). */
export function encodeEnrichmentState(state: EnrichmentState): [string, number, number, number][] {
  return [...state].map(([id, s]) => [id, s.n, s.mean, s.m2]);
}

export function decodeEnrichmentState(data: unknown): EnrichmentState {
  const out: EnrichmentState = new Map();
  if (!Array.isArray(data)) return out;
  for (const row of data) {
    if (Array.isArray(row) && typeof row[0] === 'string' && row.slice(1, 4).every((x) => typeof x === 'number')) {
      out.set(row[0], { n: row[1] as number, mean: row[2] as number, m2: row[3] as number });
    }
  }
  return out;
}

/** Whether a rule set keeps per-key state (has a z-score rule). */
export function needsEnrichmentState(rules: readonly EnrichmentRule[] | undefined): boolean {
  return rules?.some((r) => r.rule === 'zscore') ?? false;
}

function zscore(r: Extract<EnrichmentRule, { rule: 'zscore' }>, v: number, key: string, state: EnrichmentState): boolean | undefined {
  const id = `${r.name}${STAT_SEP}${key}`;
  const s = state.get(id) ?? { n: 0, mean: 0, m2: 0 };
  let flagged: boolean | undefined;
  if (s.n >= (r.minCount ?? 10)) {
    const std = Math.sqrt(s.m2 / (s.n - 1));
    flagged = std > 0 ? Math.abs(v - s.mean) / std > (r.threshold ?? 3) : v !== s.mean;
  }
  const n = s.n + 1;
  const delta = v - s.mean;
  const mean = s.mean + delta / n;
  state.set(id, { n, mean, m2: s.m2 + delta * (v - mean) });
  return flagged;
}

/**
 * The `enriched` object of an event under the rules: pure, except that z-score rules read and
 * advance `keyed.state` for the event's key (absent: z-score rules add nothing).
 */
export function enrichedFields(e: EventEnvelope, rules: readonly EnrichmentRule[], keyed?: { key: string; state: EnrichmentState }): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const r of rules) {
    switch (r.rule) {
      case 'date': {
        const d = new Date(e.timestamp);
        out[r.name] = { date: d.toISOString().slice(0, 10), hour: d.getUTCHours(), dayOfWeek: d.getUTCDay(), month: d.getUTCMonth() + 1, year: d.getUTCFullYear() };
        break;
      }
      case 'category': {
        const v = numberAt(e, r.path);
        if (v !== undefined) out[r.name] = r.thresholds.find((t) => v < t.upTo)?.label ?? r.otherwise;
        break;
      }
      case 'flag': {
        const v = numberAt(e, r.path);
        if (v !== undefined) out[r.name] = (r.above !== undefined && v > r.above) || (r.below !== undefined && v < r.below);
        break;
      }
      case 'anomaly': {
        const v = numberAt(e, r.path);
        if (v !== undefined) out[r.name] = v < r.min || v > r.max;
        break;
      }
      case 'zscore': {
        const v = numberAt(e, r.path);
        if (v === undefined || !keyed) break;
        const flagged = zscore(r, v, keyed.key, keyed.state);
        if (flagged !== undefined) out[r.name] = flagged;
        break;
      }
      case 'lookup': {
        const v = valueAt(e, r.path);
        const k = typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean' ? String(v) : undefined;
        const hit = k !== undefined && Object.hasOwn(r.table, k) ? r.table[k] : r.default;
        if (hit !== undefined) out[r.name] = hit;
        break;
      }
    }
  }
  return out;
}

/**
 * The processed record of an event (pure): the original, `enriched`, a deterministic `recordId`
 * (SHA-256 of the event type, eventId and event time: the same event gives the same id wherever it
 * is replayed or redriven), `processedAt` (the record's append time) and metadata.
 */
export function enrichEvent(e: EventEnvelope, rules: readonly EnrichmentRule[], at: RecordPosition, version: number, keyed?: { key: string; state: EnrichmentState }): ProcessedRecord {
  const recordId = createHash('sha256').update(`${e.eventType}\n${e.eventId}\n${e.timestamp}`).digest('hex');
  const original: Record<string, unknown> = {
    eventId: e.eventId,
    eventType: e.eventType,
    timestamp: new Date(e.timestamp).toISOString(),
    userId: e.userId,
    deviceId: e.deviceId,
    payload: e.payload,
    metadata: e.metadata,
  };
  return {
    recordId,
    original,
    enriched: enrichedFields(e, rules, keyed),
    processedAt: new Date(at.appendTime).toISOString(),
    metadata: { source: `${at.topic}/${at.partition}/${at.offset}`, stage: 'processed', version },
  };
}
