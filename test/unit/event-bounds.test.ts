/**
 * The event bounds (src/model/event-bounds.ts, json-data.ts) and what the processor does with a
 * record that breaks them: far-future event times and out-of-range values written straight into
 * the log are dead-lettered, decided by the record's append time, so a victim sharing the
 * partition is unaffected — before and after a crash, whatever the processor's clock says.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecord, decodeRecordValue } from '../../src/actors/decode.ts';
import {
  DEFAULT_MAX_FUTURE_SKEW_MS,
  ErrorCode,
  MAX_ABS_VALUE,
  MAX_JSON_DEPTH,
  checkEventBounds,
  createEventTypeRegistry,
  decodeEnvelope,
  jsonDataProblem,
  KeyflowError,
} from '../../src/model/index.ts';
import type { EventInput } from '../../src/model/index.ts';
import { createPartitionDriver } from '../helpers/partition-driver.ts';
import type { PartitionDriver } from '../helpers/partition-driver.ts';
import { diffResults, referenceWindows } from '../helpers/reference-model.ts';

const T0 = Date.parse('2026-01-15T10:00:00.000Z');
const SEC = 1000;
const SKEW = DEFAULT_MAX_FUTURE_SKEW_MS;
const TOPIC = 't.iot';
/** One partition: attacker and victim always share it (and its watermark). */
const registry = () => createEventTypeRegistry([{ eventType: 'iot.sensor', topic: TOPIC, partitions: 1, valueField: 'value' }]);
const specs = ['tumbling-1m', 'sliding-2m-1m', 'session-5m'];
const te = new TextEncoder();
const LAST_INSTANT = Date.parse('9999-12-31T23:59:59.999Z');

function codeOf(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return e instanceof KeyflowError ? e.code : `not a KeyflowError: ${String(e)}`;
  }
}

function nested(depth: number, leaf: unknown = 1): unknown {
  let v = leaf;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

function nestedText(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

function raw(fields: Record<string, unknown>, payloadText?: string): string {
  const text = JSON.stringify({ eventId: 'raw', eventType: 'iot.sensor', deviceId: 'attacker', payload: {}, ...fields });
  return payloadText === undefined ? text : text.replace('"payload":{}', `"payload":${payloadText}`);
}

describe('checkEventBounds', () => {
  /** The bounds of an iot.sensor record appended at T0 under the default skew, with overrides. */
  const check = (e: { timestamp: number; payload: Record<string, unknown> }, o: { maxFutureSkewMs?: number; valueField?: string | null } = {}) =>
    checkEventBounds(e, T0, o.maxFutureSkewMs ?? SKEW, o.valueField === undefined ? 'value' : o.valueField);
  it('accepts event times up to append time + skew, refuses later ones with TIMESTAMP_OUT_OF_RANGE and the path', () => {
    expect(codeOf(() => check({ timestamp: T0 + SKEW, payload: {} }))).toBeUndefined();
    expect(codeOf(() => check({ timestamp: -62167219200000, payload: {} }))).toBeUndefined();
    let err: KeyflowError | undefined;
    try {
      check({ timestamp: T0 + SKEW + 1, payload: {} });
    } catch (e) {
      err = e as KeyflowError;
    }
    expect(err?.code).toBe(ErrorCode.TIMESTAMP_OUT_OF_RANGE);
    expect(err?.retriable).toBe(false);
    expect(err?.details).toMatchObject({ issues: [{ path: 'timestamp' }], maxFutureSkewMs: SKEW });
    expect(codeOf(() => check({ timestamp: T0 + 1, payload: {} }, { maxFutureSkewMs: 0 }))).toBe(ErrorCode.TIMESTAMP_OUT_OF_RANGE);
  });

  it('bounds the value field to ±MAX_ABS_VALUE; other fields and non-numbers are not its business', () => {
    for (const v of [MAX_ABS_VALUE, -MAX_ABS_VALUE, 0, -0, 1.5, 'x', null, true, { n: 1e300 }]) {
      expect(codeOf(() => check({ timestamp: T0, payload: { value: v } })), String(v)).toBeUndefined();
    }
    for (const v of [MAX_ABS_VALUE + 1, -MAX_ABS_VALUE - 1, 1e308, -1e308, Number.POSITIVE_INFINITY, Number.NaN]) {
      expect(codeOf(() => check({ timestamp: T0, payload: { value: v } })), String(v)).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    }
    expect(codeOf(() => check({ timestamp: T0, payload: { amount: 1e308 } }))).toBeUndefined();
    expect(codeOf(() => check({ timestamp: T0, payload: { value: 1e308 } }, { valueField: null }))).toBeUndefined();
    try {
      check({ timestamp: T0, payload: { amount: 1e308 } }, { valueField: 'amount' });
    } catch (e) {
      expect((e as KeyflowError).details).toMatchObject({ issues: [{ path: 'payload.amount' }], maxAbsValue: MAX_ABS_VALUE });
    }
  });
});

describe('JSON data rules', () => {
  it(`accepts ${MAX_JSON_DEPTH} levels, refuses one more with the path, and checks 10,000 levels without overflowing`, () => {
    expect(jsonDataProblem(nested(MAX_JSON_DEPTH))).toBeUndefined();
    expect(jsonDataProblem(nested(MAX_JSON_DEPTH + 1))).toMatchObject({ path: Array(MAX_JSON_DEPTH).fill('a') });
    expect(jsonDataProblem(JSON.parse(nestedText(10_000)))?.message).toMatch(/more than 32 levels/);
    expect(jsonDataProblem([[[[]]]], 3)).toMatchObject({ path: [0, 0, 0] });
  });

  it('refuses __proto__ keys by path, keeps constructor and prototype, refuses non-finite numbers', () => {
    expect(jsonDataProblem(JSON.parse('{"a":[{"b":1},{"__proto__":{"x":1}}]}'))).toMatchObject({ path: ['a', 1, '__proto__'] });
    expect(jsonDataProblem(JSON.parse('{"__proto__":null}'))).toMatchObject({ path: ['__proto__'] });
    expect(jsonDataProblem({ constructor: 1, prototype: { constructor: 'x' }, toString: 2 })).toBeUndefined();
    expect(jsonDataProblem(JSON.parse('{"x":[1e400]}'))).toMatchObject({ path: ['x', 0], message: expect.stringMatching(/Infinity/) });
  });

  it('the decoders refuse what the rules refuse, with SCHEMA_VALIDATION_FAILED and the path, and keep constructor as data', () => {
    const at = new Date(T0).toISOString();
    for (const [payload, path] of [
      [nestedText(10_000), /event is invalid: payload\.a\.a\.a.* more than 32 levels/],
      ['{"__proto__":{"value":1}}', /event is invalid: payload\.__proto__ /],
      ['{"value":1e400}', /event is invalid: payload\.value is Infinity/],
    ] as const) {
      const bytes = te.encode(raw({ timestamp: at }, payload));
      expect(codeOf(() => decodeRecordValue(bytes))).toBe(ErrorCode.SCHEMA_VALIDATION_FAILED);
      expect(() => decodeEnvelope(bytes)).toThrow(path);
    }
    const kept = decodeRecordValue(te.encode(raw({ timestamp: at }, '{"constructor":{"prototype":1},"value":2}')));
    expect(Object.keys(kept.payload)).toEqual(['constructor', 'value']);
    expect(kept.payload.constructor).toEqual({ prototype: 1 });
    for (const ts of ['2026-02-30T00:00:00.000Z', '2026-01-01T24:00:00.000Z']) {
      expect(() => decodeRecordValue(te.encode(raw({ timestamp: ts })))).toThrow(/timestamp has (day|hour)/);
    }
  });

  it('decodeRecord compares with the record append time, not any clock', () => {
    const bytes = te.encode(raw({ timestamp: new Date(T0 + SKEW + 1).toISOString() }));
    const bounds = { maxFutureSkewMs: SKEW, valueFieldOf: () => 'value' };
    expect(codeOf(() => decodeRecord({ value: bytes, appendTime: T0 }, bounds))).toBe(ErrorCode.TIMESTAMP_OUT_OF_RANGE);
    expect(codeOf(() => decodeRecord({ value: bytes, appendTime: T0 + 1 }, bounds))).toBeUndefined();
    const big = te.encode(raw({ timestamp: new Date(T0).toISOString(), payload: { value: 1e308 } }));
    expect(codeOf(() => decodeRecord({ value: big, appendTime: T0 }, bounds))).toBe(ErrorCode.VALUE_OUT_OF_RANGE);
    // unknown event type: no value field to check; routing dead-letters it
    expect(codeOf(() => decodeRecord({ value: big, appendTime: T0 }, { ...bounds, valueFieldOf: () => undefined }))).toBeUndefined();
  });
});

/** A victim's stream: one event per step, a few keys, small values. */
const victimArb = fc.array(
  fc.record({ key: fc.constantFrom('victim-1', 'victim-2'), step: fc.integer({ min: 0, max: 40 * SEC }), value: fc.integer({ min: -1000, max: 1000 }) }),
  { minLength: 1, maxLength: 30 },
);

/** A hostile raw record, written straight into the log next to the victim's. */
const attackArb = fc.oneof(
  // far future: from just past the skew to the year 9999
  fc.integer({ min: SKEW + 1, max: LAST_INSTANT - T0 }).map((ahead) => ({ kind: 'future' as const, ahead, value: 1 })),
  fc.constantFrom(1e308, -1e308, MAX_ABS_VALUE * 2).map((value) => ({ kind: 'value' as const, ahead: 0, value })),
);

type Victim = { key: string; step: number; value: number };
type Attack = { kind: 'future' | 'value'; ahead: number; value: number };

function victimInputs(vs: Victim[]): EventInput[] {
  let t = T0;
  return vs.map((v, i) => {
    t += v.step;
    return { eventId: `v-${i}`, timestamp: new Date(t).toISOString(), eventType: 'iot.sensor', deviceId: v.key, payload: { value: v.value } };
  });
}

describe('hostile records on a victim partition', () => {
  // Feature: keyflow, Property 7: Invalid event filtering — out-of-bounds records are dead-lettered by their append time and change nothing else, across crashes
  it('far-future and out-of-range records go to the DLQ and the victim windows equal a run without them, with crashes and replays under any clock', async () => {
    await fc.assert(
      fc.asyncProperty(
        victimArb,
        fc.array(fc.record({ at: fc.nat(), attack: attackArb }), { minLength: 1, maxLength: 4 }),
        fc.array(fc.record({ at: fc.nat(), checkpoint: fc.boolean() }), { maxLength: 3 }),
        fc.integer({ min: 1, max: 8 }),
        async (victims, attacks, crashAt, batchSize) => {
          const inputs = victimInputs(victims);
          const d = createPartitionDriver({ registry: registry(), windows: specs, maxOutOfOrderMs: 10_000, batchSize, startTime: T0 });
          const slots = new Map<number, Attack[]>();
          for (const a of attacks) {
            const i = a.at % (inputs.length + 1);
            slots.set(i, [...(slots.get(i) ?? []), a.attack]);
          }
          const crashes = new Map(crashAt.map((c) => [c.at % (inputs.length + 1), c.checkpoint]));
          const attackOffsets: [string, string][] = [];
          let lastAppend = T0;
          for (let i = 0; i <= inputs.length; i++) {
            for (const a of slots.get(i) ?? []) {
              // appended right after the victim's latest event: that append time is the reference
              const ts = Math.min(lastAppend + a.ahead, LAST_INSTANT);
              const rec = d.appendRaw(TOPIC, 0, 'attacker', raw({ eventId: `a-${i}`, timestamp: new Date(ts).toISOString(), payload: { value: a.value } }), lastAppend);
              attackOffsets.push([String(rec.offset), a.kind === 'future' ? ErrorCode.TIMESTAMP_OUT_OF_RANGE : ErrorCode.VALUE_OUT_OF_RANGE]);
            }
            const crash = crashes.get(i);
            if (crash !== undefined) {
              await d.process();
              if (crash) d.checkpoint();
              d.crash();
              // processing time jumps a day ahead: what was not checkpointed is replayed under it,
              // and a decision by the processor's clock would now accept the nearer future records
              d.clock.advance(86_400_000);
            }
            if (i < inputs.length) lastAppend = (await d.feed([inputs[i]!]))[0]!.appendTime;
          }
          await d.process();
          // every hostile record dead-lettered with its reason (a replay may write a dead letter again)
          const dlq = new Map(d.deadLetters.map((m) => [m.sourceOffset, m.errorType]));
          expect([...dlq].sort()).toEqual([...attackOffsets].sort());
          const clean = createPartitionDriver({ registry: registry(), windows: specs, maxOutOfOrderMs: 10_000, startTime: T0 });
          await clean.feed(inputs);
          expect(d.late).toEqual([]);
          expect(d.host(TOPIC, 0).watermark).toBe(clean.host(TOPIC, 0).watermark);
          const held = await d.held();
          expect(diffResults(held, await clean.held())).toEqual([]);
          const ref = referenceWindows(
            inputs.map((e) => ({ eventType: e.eventType, key: e.deviceId!, timestamp: Date.parse(e.timestamp), userId: null, payload: e.payload })),
            { specs, valueField: () => 'value', maxOutOfOrderMs: 10_000, finalWatermark: d.host(TOPIC, 0).watermark },
          );
          expect(diffResults(held, ref.results)).toEqual([]);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a record within the skew of its append time is processed, even when replayed long after', async () => {
    const d = createPartitionDriver({ registry: registry(), windows: ['tumbling-1m'], maxOutOfOrderMs: 0, startTime: T0 });
    const ahead = T0 + SKEW; // exactly at the bound
    d.appendRaw(TOPIC, 0, 'k', raw({ eventId: 'edge', deviceId: 'k', timestamp: new Date(ahead).toISOString(), payload: { value: 5 } }), T0);
    await d.process();
    d.crash(); // no checkpoint: everything is replayed
    d.clock.advance(365 * 86_400_000);
    await d.process();
    expect(d.deadLetters).toEqual([]);
    const held = await d.host(TOPIC, 0).windows({ eventType: 'iot.sensor', key: 'k' });
    expect(held.map((r) => [r.windowStart, r.count, r.sum])).toEqual([[ahead, 1, 5]]);
  });
});

describe('aggregates stay finite and identical across restarts', () => {
  const extreme = fc.oneof(
    fc.constantFrom(MAX_ABS_VALUE, -MAX_ABS_VALUE, MAX_ABS_VALUE - 0.125, 0.1, -0, 1e-300),
    fc.double({ min: -MAX_ABS_VALUE, max: MAX_ABS_VALUE, noNaN: true }),
  );

  async function run(d: PartitionDriver, inputs: EventInput[], crashes: Set<number>): Promise<void> {
    for (let i = 0; i < inputs.length; i++) {
      await d.feed([inputs[i]!]);
      if (crashes.has(i)) {
        d.checkpoint();
        d.crash();
      }
    }
  }

  // Feature: keyflow, Property 6: Exactly-once offset semantics — sums of accepted values never overflow, and a restart never changes them
  it('sum, avg, min and max of values up to ±1e15 are finite and equal with and without crashes', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(extreme, fc.integer({ min: 0, max: 20 * SEC })), { minLength: 1, maxLength: 40 }), fc.array(fc.nat(), { maxLength: 4 }), async (items, crashAt) => {
        let t = T0;
        const inputs: EventInput[] = items.map(([value, step], i) => {
          t += step;
          return { eventId: `e${i}`, timestamp: new Date(t).toISOString(), eventType: 'iot.sensor', deviceId: 'k', payload: { value } };
        });
        const crashed = createPartitionDriver({ registry: registry(), windows: ['tumbling-1m', 'session-30m'], startTime: T0 });
        await run(crashed, inputs, new Set(crashAt.map((c) => c % inputs.length)));
        const clean = createPartitionDriver({ registry: registry(), windows: ['tumbling-1m', 'session-30m'], startTime: T0 });
        await run(clean, inputs, new Set());
        const held = await crashed.held();
        for (const r of held) for (const x of [r.sum, r.avg, r.min, r.max]) expect(x === null || Number.isFinite(x)).toBe(true);
        expect(held).toEqual(await clean.held());
        expect(crashed.deadLetters).toEqual([]);
      }),
      { numRuns: 100 },
    );
  });

  it('two raw records of 1e308 are dead-lettered instead of turning the sum into Infinity', async () => {
    const d = createPartitionDriver({ registry: registry(), windows: ['tumbling-1m'], startTime: T0 });
    for (const [i, value] of [1e308, 1e308, 7].entries()) {
      d.appendRaw(TOPIC, 0, 'k', raw({ eventId: `x${i}`, deviceId: 'k', timestamp: new Date(T0).toISOString(), payload: { value } }), T0);
    }
    await d.process();
    expect(d.deadLetters.map((m) => [m.sourceOffset, m.errorType])).toEqual([
      ['0', 'VALUE_OUT_OF_RANGE'],
      ['1', 'VALUE_OUT_OF_RANGE'],
    ]);
    const held = await d.host(TOPIC, 0).windows({ eventType: 'iot.sensor', key: 'k' });
    expect(held.map((r) => [r.count, r.sum, r.avg])).toEqual([[1, 7, 7]]);
  });
});

describe('old event times', () => {
  it('events from 1969 and year 0000 are windowed (then late) without breaking the partition', async () => {
    const d = createPartitionDriver({ registry: registry(), windows: ['tumbling-1m', 'sliding-2m-1m', 'session-5m'], maxOutOfOrderMs: 10_000, startTime: T0 });
    const ev = (id: string, iso: string, value = 1): EventInput => ({ eventId: id, timestamp: iso, eventType: 'iot.sensor', deviceId: 'old', payload: { value } });
    await d.feed([ev('y0', '0000-01-01T00:00:00.000Z'), ev('y1969', '1969-12-31T23:59:59.999Z'), ev('now', new Date(T0).toISOString()), ev('late', '0000-01-01T00:00:30.000Z')]);
    expect(d.deadLetters).toEqual([]);
    expect(d.late.map((r) => r.offset)).toEqual([3]);
    // the old windows were final at once, emitted, and are past the result retention (24 h behind the watermark)
    const finals = d.emitted.filter((r) => r.final && r.window === 'tumbling-1m').map((r) => [new Date(r.windowStart).toISOString(), r.count, r.sum]);
    expect(finals).toEqual([
      ['0000-01-01T00:00:00.000Z', 1, 1],
      ['1969-12-31T23:59:00.000Z', 1, 1],
    ]);
    const held = await d.held();
    expect(held.filter((r) => r.window === 'tumbling-1m').map((r) => [r.windowStart, r.count, r.final])).toEqual([[T0, 1, false]]);
    // a sliding window may start before year 0000: still a finite instant
    expect(d.emitted.every((r) => Number.isFinite(r.windowStart) && !Number.isNaN(new Date(r.windowStart).getTime()))).toBe(true);
    expect(d.emitted.some((r) => r.windowStart < Date.parse('0000-01-01T00:00:00.000Z'))).toBe(true);
    expect(d.host(TOPIC, 0).watermark).toBe(T0 - 10_000);
  });
});
