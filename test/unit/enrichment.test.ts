/**
 * Enrichment rules: each rule kind against hand-computed values, rule errors that name the rule,
 * and a property test that enrichment is a pure function of the record and the rules (the rules
 * as stored — through JSON — and a replay give identical processed records and recordIds).
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeEnrichmentState, type EnrichmentRule, type EnrichmentState, encodeEnrichmentState, enrichEvent, enrichedFields, enrichmentSchema } from '../../src/model/enrichment.ts';
import type { EventEnvelope } from '../../src/model/event.ts';
import { definitionOf, specFromDefinition } from '../../src/model/event-types.ts';
import { KeyflowError } from '../../src/model/errors.ts';
import { readDefinitionsFile } from '../../src/types/index.ts';
import { tempDir } from '../helpers/wait.ts';

const RULES: EnrichmentRule[] = [
  { rule: 'date', name: 'day' },
  { rule: 'category', name: 'size', path: 'payload.amount', thresholds: [{ upTo: 10, label: 'micro' }, { upTo: 100, label: 'small' }, { upTo: 1000, label: 'medium' }], otherwise: 'large' },
  { rule: 'category', name: 'range', path: 'payload.value', thresholds: [{ upTo: 0, label: 'negative' }, { upTo: 10, label: 'low' }, { upTo: 50, label: 'normal' }], otherwise: 'high' },
  { rule: 'flag', name: 'highValue', path: 'payload.amount', above: 1000 },
  { rule: 'anomaly', name: 'outOfRange', path: 'payload.value', min: -20, max: 60 },
  { rule: 'lookup', name: 'region', path: 'metadata.country', table: { DE: 'EU', FR: 'EU', US: 'NA' }, default: 'other' },
];

const event = (payload: Record<string, unknown>, metadata: Record<string, unknown> | null = null): EventEnvelope => ({
  eventId: 'e-1',
  timestamp: Date.parse('2026-01-15T10:30:00Z'),
  eventType: 'txn',
  userId: 'u',
  deviceId: null,
  payload,
  metadata,
});
const at = { topic: 'events.txn', partition: 3, offset: 42, appendTime: Date.parse('2026-01-15T10:30:01Z') };

describe('enrichment rules', () => {
  it('derives dates, categories, flags, anomalies and lookups', () => {
    const p = enrichEvent(event({ amount: 1500, value: 70 }, { country: 'DE' }), RULES, at, 2);
    expect(p.enriched).toEqual({
      day: { date: '2026-01-15', hour: 10, dayOfWeek: 4, month: 1, year: 2026 },
      size: 'large',
      range: 'high',
      highValue: true,
      outOfRange: true,
      region: 'EU',
    });
    expect(p).toMatchObject({ processedAt: '2026-01-15T10:30:01.000Z', metadata: { source: 'events.txn/3/42', stage: 'processed', version: 2 } });
    expect(p.original).toMatchObject({ eventId: 'e-1', payload: { amount: 1500, value: 70 }, timestamp: '2026-01-15T10:30:00.000Z' });
    expect(p.recordId).toMatch(/^[0-9a-f]{64}$/);
    expect(enrichEvent(event({ amount: 5, value: -1 }), RULES, at, 2).enriched).toEqual({
      day: expect.any(Object),
      size: 'micro',
      range: 'negative',
      highValue: false,
      outOfRange: false,
      region: 'other',
    });
    // no number: no category, flag or anomaly (never a guess)
    expect(Object.keys(enrichEvent(event({ amount: 'x' }), RULES, at, 2).enriched).sort()).toEqual(['day', 'region']);
  });

  it('zscore flags a value far from its key\'s earlier values once the key has minCount of them (Welford, per key)', () => {
    const rules: EnrichmentRule[] = [{ rule: 'zscore', name: 'odd', path: 'payload.value', threshold: 2, minCount: 3 }];
    const state: EnrichmentState = new Map();
    const z = (key: string, value: number) => enrichedFields(event({ value }), rules, { key, state }).odd;
    expect([z('a', 10), z('a', 12), z('a', 11)]).toEqual([undefined, undefined, undefined]); // fewer than 3 earlier values
    expect(z('b', 500)).toBeUndefined(); // another key has its own statistics
    expect(z('a', 11.5)).toBe(false); // mean 11, stddev 1: z = 0.5
    expect(z('a', 30)).toBe(true); // far away
    expect(state.get('odd\u001fa')?.n).toBe(5);
    // without per-key state (no key known) the rule adds nothing
    expect(enrichedFields(event({ value: 1 }), rules)).toEqual({});
  });

  it('refuses bad rules at registration with SCHEMA_VALIDATION_FAILED naming the rule', () => {
    const bad = [
      { rule: 'category', name: 'size', path: 'payload.amount', thresholds: [{ upTo: 100, label: 'b' }, { upTo: 10, label: 'a' }], otherwise: 'c' },
      { rule: 'flag', name: 'hv', path: 'payload.amount' },
      { rule: 'anomaly', name: 'odd', path: 'payload.__proto__', min: 0, max: 1 },
    ];
    try {
      specFromDefinition({ name: 't', enrichment: bad });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(KeyflowError);
      const issues = (e as KeyflowError).details!.issues as { path: string; message: string }[];
      expect(issues.map((i) => i.message)).toEqual([expect.stringContaining("rule 'size'"), expect.stringContaining("rule 'hv'"), expect.stringContaining("rule 'odd'")]);
      expect(issues[0]!.path).toBe('enrichment.0.thresholds');
    }
    expect(enrichmentSchema.safeParse([{ rule: 'date', name: 'd' }, { rule: 'date', name: 'd' }]).success).toBe(false);
  });

  it('a lookup table may come from a file next to KEYFLOW_EVENT_TYPES_FILE; a missing one names the rule', async () => {
    const tmp = await tempDir();
    try {
      await writeFile(join(tmp.dir, 'regions.yaml'), 'DE: EU\nUS: NA\n');
      const f = join(tmp.dir, 'types.yaml');
      await writeFile(f, 'eventTypes:\n  - name: t\n    enrichment:\n      - { rule: lookup, name: region, path: metadata.country, tableFile: regions.yaml }\n');
      expect(readDefinitionsFile(f)[0]!.enrichment).toEqual([{ rule: 'lookup', name: 'region', path: 'metadata.country', table: { DE: 'EU', US: 'NA' } }]);
      await writeFile(f, 'eventTypes:\n  - name: t\n    enrichment:\n      - { rule: lookup, name: region, path: metadata.country, tableFile: nope.yaml }\n');
      expect(() => readDefinitionsFile(f)).toThrow(/rule 'region': cannot read its table nope\.yaml/);
    } finally {
      await tmp.remove();
    }
  });

  const num = fc.oneof(fc.integer({ min: -2000, max: 2000 }), fc.double({ min: -2000, max: 2000, noNaN: true }));
  const field = fc.constantFrom('a', 'b', 'c');
  const path = field.map((f) => `payload.${f}`);
  const ruleArb: fc.Arbitrary<unknown> = fc.oneof(
    fc.constant({ rule: 'date' }),
    fc.record({ path, thresholds: fc.uniqueArray(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 4 }) }).map(({ path: p, thresholds }) => ({
      rule: 'category',
      path: p,
      thresholds: [...thresholds].sort((x, y) => x - y).map((upTo, i) => ({ upTo, label: `l${i}` })),
      otherwise: 'top',
    })),
    fc.record({ path, above: num }).map((r) => ({ rule: 'flag', ...r })),
    fc.record({ path, lo: num, hi: num }).map(({ path: p, lo, hi }) => ({ rule: 'anomaly', path: p, min: Math.min(lo, hi), max: Math.max(lo, hi) })),
    fc.record({ path, threshold: fc.option(fc.double({ min: 0.1, max: 5, noNaN: true }), { nil: undefined }), minCount: fc.option(fc.integer({ min: 2, max: 5 }), { nil: undefined }) }).map(({ path: p, threshold, minCount }) => ({
      rule: 'zscore',
      path: p,
      ...(threshold !== undefined ? { threshold } : {}),
      ...(minCount !== undefined ? { minCount } : {}),
    })),
    fc.record({ path, table: fc.dictionary(fc.string({ maxLength: 3 }), fc.oneof(fc.string({ maxLength: 4 }), fc.integer())), def: fc.option(fc.string({ maxLength: 3 }), { nil: undefined }) }).map(({ path: p, table, def }) => ({
      rule: 'lookup',
      path: p,
      table,
      ...(def !== undefined ? { default: def } : {}),
    })),
  );
  const rulesArb = fc.array(ruleArb, { maxLength: 6 }).map((rs) => rs.map((r, i) => ({ ...(r as object), name: `r${i}` })));
  const eventArb = fc.record({
    eventId: fc.string({ minLength: 1, maxLength: 8 }),
    timestamp: fc.integer({ min: 0, max: 4_102_444_800_000 }),
    payload: fc.dictionary(field, fc.oneof(num, fc.string({ maxLength: 3 }), fc.constant(null)), { maxKeys: 3 }),
  });

  it('property: enrichment is a pure function of the record and the rules (stored rules, replays: identical records and recordIds)', () => {
    fc.assert(
      fc.property(rulesArb, fc.array(eventArb, { minLength: 1, maxLength: 10 }), fc.nat(), (rawRules, events, cutSeed) => {
        const spec = specFromDefinition({ name: 'p', enrichment: rawRules });
        // the rules as a node reads them back from the store
        const stored = specFromDefinition(JSON.parse(JSON.stringify(definitionOf(spec))));
        const records = events.map((e, i) => ({ e: { ...e, eventType: 'p', userId: null, deviceId: null, metadata: null } as EventEnvelope, at: { ...at, offset: i, appendTime: e.timestamp + 1 } }));
        // z-score rules keep per-key statistics: two keys, the state carried along in record order
        const keyed = (i: number, state: EnrichmentState) => ({ key: `k${i % 2}`, state });
        const run = (rules: readonly EnrichmentRule[], from: number, state: EnrichmentState) =>
          records.slice(from).map((r, j) => enrichEvent(structuredClone(r.e), rules, r.at, 1, keyed(from + j, state)));
        const first = run(spec.enrichment!, 0, new Map());
        expect(JSON.stringify(run(stored.enrichment!, 0, new Map()))).toBe(JSON.stringify(first));
        // a crash after `cut` records: the state saved with that checkpoint (as JSON), a replay from there
        const cut = cutSeed % (records.length + 1);
        const partial: EnrichmentState = new Map();
        for (const [i, r] of records.slice(0, cut).entries()) enrichEvent(r.e, spec.enrichment!, r.at, 1, keyed(i, partial));
        const saved = decodeEnrichmentState(JSON.parse(JSON.stringify(encodeEnrichmentState(partial))));
        expect(JSON.stringify(run(stored.enrichment!, cut, saved))).toBe(JSON.stringify(first.slice(cut)));
        // the id is the event's, not the position's: the same event elsewhere (a redrive) keeps it
        expect(records.map((r) => enrichEvent(r.e, stored.enrichment!, { ...r.at, offset: r.at.offset + 1000 }, 1).recordId)).toEqual(first.map((p) => p.recordId));
        // different events, different ids
        const distinct = new Set(records.map((r) => `${r.e.eventId}\n${r.e.timestamp}`)).size;
        expect(new Set(first.map((p) => p.recordId)).size).toBe(distinct);
      }),
      { numRuns: 200 },
    );
  });
});
