/**
 * The processor's byte-level record scan (src/actors/record-scan.ts) against the general decoder:
 * whatever the scan accepts decodes to the same event (fields, payload, metadata, value), and the
 * records keyflow itself writes are all accepted.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeRecord, decodeRecordValue } from '../../src/actors/decode.ts';
import { ScannedEvent, scanRecord } from '../../src/actors/record-scan.ts';
import { encodeEnvelope } from '../../src/model/index.ts';

const te = new TextEncoder();
const valueFieldOf = (t: string) => (t === 'iot.sensor' ? 'value' : t === 'page.view' ? null : t === 'tx' ? 'amount' : undefined);

/** Raw JSON texts JSON.stringify cannot write, spliced in for the «marker» strings. */
const RAW: Record<string, string> = {
  deep32: `${'{"a":'.repeat(32)}1${'}'.repeat(32)}`,
  deep33: `${'{"a":'.repeat(33)}1${'}'.repeat(33)}`,
  deep5000: `${'['.repeat(5000)}${']'.repeat(5000)}`,
  proto: '{"__proto__":{"x":1},"value":2}',
  escapedProto: '{"\\u005f_proto__":1,"value":2}',
  nestedProto: '{"a":[{"b":1},{"__proto__":1}]}',
  inf: '{"value":1e400}',
  infDeep: '{"a":[1,-1e999]}',
  dupValue: '{"value":1,"value":2}',
  dupOther: '{"x":1,"x":"y","value":3}',
  trailing: '{"value":1,}',
  trailingArr: '{"a":[1,2,],"value":1}',
  leadingZero: '{"value":012}',
  bigInt: `{"value":${'9'.repeat(320)}}`,
  exp: '{"value":1.5e3,"b":-0.0,"c":2E-2}',
  escapes: '{"s":"a\\"b\\\\c\\/\\b\\f\\n\\r\\t\\u00e9","value":4}',
  badEscape: '{"s":"\\x41","value":4}',
  emptyNested: '{"a":{},"b":[],"c":[{},[]],"value":5}',
  literals: '{"a":true,"b":false,"c":null,"value":6}',
  badLiteral: '{"a":tru,"value":6}',
  ws: ' { "value" : 7 , "a" : [ 1 , { } ] } ',
  nonAscii: '{"s":"héllo","value":8}',
  valueString: '{"value":"9"}',
  valueNested: '{"x":{"value":1},"value":10}',
};

function splice(text: string): string {
  return text.replace(/"«([A-Za-z0-9]+)»"/g, (_m, what: string) => RAW[what]!);
}

const rawArb = fc.constantFrom(...Object.keys(RAW).map((k) => `«${k}»`));
const str = fc.oneof(fc.string({ maxLength: 6 }), fc.string({ unit: 'binary', maxLength: 6 }), fc.constantFrom('a"b', 'a\\b', 'é', '\u2028'));

const fields = {
    eventId: fc.oneof({ weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 8 }) }, str, fc.integer(), fc.string({ minLength: 255, maxLength: 258 })),
    timestamp: fc.oneof(
      { weight: 6, arbitrary: fc.date({ noInvalidDate: true, min: new Date('1900-01-01'), max: new Date('2200-01-01') }).map((d) => d.toISOString()) },
      fc.constantFrom('2026-01-15T10:00Z', '2026-01-15T10:00:00+01:00', '2026-02-30T00:00:00.000Z', 'x', '2026-01-01T10:00:00.123456Z'),
      fc.integer(),
    ),
    eventType: fc.oneof({ weight: 6, arbitrary: fc.constantFrom('iot.sensor', 'page.view', 'tx', 'other', '') }, str, fc.string({ minLength: 99, maxLength: 102 })),
    userId: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(null, 'u1', 'user-22') }, fc.constant(''), str, fc.integer()),
    deviceId: fc.oneof(fc.constant(null), str, fc.constant('dev-1')),
    payload: fc.oneof(
      {
        weight: 4,
        arbitrary: fc.dictionary(
          fc.oneof(fc.constantFrom('value', 'amount', '__keyflowPoison'), fc.string({ maxLength: 3 })),
          fc.oneof(fc.double(), fc.integer(), fc.jsonValue({ maxDepth: 2, stringUnit: 'grapheme-ascii' }), fc.jsonValue({ maxDepth: 2 })),
        ),
      },
      { weight: 1, arbitrary: fc.constantFrom([], null, 'p', 1) },
      { weight: 2, arbitrary: rawArb },
    ),
    metadata: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, fc.dictionary(fc.string({ maxLength: 3 }), fc.jsonValue({ maxDepth: 1 })), fc.constant([1]), rawArb),
    extra: fc.oneof(fc.integer(), fc.jsonValue({ maxDepth: 2 }), rawArb),
};
/** Any subset of the fields, or (mostly) the required ones and any others. */
const envelopeArb = fc.oneof(
  { weight: 1, arbitrary: fc.record(fields, { requiredKeys: [] }) },
  { weight: 3, arbitrary: fc.record(fields, { requiredKeys: ['eventId', 'timestamp', 'eventType', 'payload'] }) },
);

const layoutArb = fc.record({ indent: fc.constantFrom(undefined, 1, '\t', '  '), order: fc.nat() });

function encode(env: Record<string, unknown>, layout: { indent: string | number | undefined; order: number }): Uint8Array {
  const keys = Object.keys(env);
  // a rotation of the field order
  const k = keys.length === 0 ? 0 : layout.order % keys.length;
  const ordered: Record<string, unknown> = {};
  for (const key of [...keys.slice(k), ...keys.slice(0, k)]) ordered[key] = env[key];
  return te.encode(splice(JSON.stringify(ordered, null, layout.indent)));
}

function outcome(f: () => unknown): unknown {
  try {
    const v = f();
    return { ok: v instanceof ScannedEvent ? v.toJSON() : v };
  } catch (e) {
    return { err: (e as Error).message };
  }
}

/** The general path of `decodeRecord`: the JSON.parse decoder with the same bounds. */
function general(bytes: Uint8Array, appendTime: number): unknown {
  return outcome(() => {
    const e = decodeRecordValue(bytes);
    const vf = valueFieldOf(e.eventType);
    const v = vf ? e.payload[vf] : undefined;
    if (e.timestamp - appendTime > 300_000) throw new Error('TIMESTAMP_OUT_OF_RANGE');
    if (typeof v === 'number' && !(Math.abs(v) <= 1e15)) throw new Error('VALUE_OUT_OF_RANGE');
    return e;
  });
}

describe('record scan', () => {
  it('accepts only what the general decoder accepts, and decodes it to the same event and value', () => {
    let scanned = 0;
    fc.assert(
      fc.property(envelopeArb, layoutArb, (env, layout) => {
        const bytes = encode(env, layout);
        const s = scanRecord(bytes, valueFieldOf);
        if (s === undefined) return;
        scanned++;
        const plain = decodeRecordValue(bytes);
        expect(s.toJSON()).toEqual(plain);
        expect(JSON.parse(JSON.stringify(s))).toEqual(JSON.parse(JSON.stringify(plain)));
        const vf = valueFieldOf(plain.eventType);
        if (vf) {
          expect(s.valueField).toBe(vf);
          const v = plain.payload[vf];
          expect(s.value).toBe(typeof v === 'number' && Number.isFinite(v) ? v : undefined);
        } else expect(s.value).toBeUndefined();
      }),
      { numRuns: 3000 },
    );
    // the property is not vacuous: a good share of the random records are in the fast subset
    expect(scanned).toBeGreaterThan(30);
  });

  it('decodeRecord gives the same event or the same error with and without the scan', () => {
    fc.assert(
      fc.property(envelopeArb, layoutArb, fc.integer({ min: 0, max: 4_102_444_800_000 }), (env, layout, appendTime) => {
        const bytes = encode(env, layout);
        const bounds = { maxFutureSkewMs: 300_000, valueFieldOf };
        const fast = outcome(() => decodeRecord({ value: bytes, appendTime }, bounds));
        const slow = general(bytes, appendTime);
        if ('err' in (slow as object)) expect(fast).toHaveProperty('err');
        else expect(fast).toEqual(slow);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts every record keyflow writes', () => {
    fc.assert(
      fc.property(
        fc.record({
          eventId: fc.string({ minLength: 1, maxLength: 40, unit: fc.constantFrom(...'abcdefghij-_:0123456789'.split('')) }),
          timestamp: fc.integer({ min: Date.UTC(1970, 0, 1), max: Date.UTC(2200, 0, 1) }),
          eventType: fc.constantFrom('iot.sensor', 'page.view', 'tx'),
          userId: fc.option(fc.string({ minLength: 1, maxLength: 20, unit: fc.constantFrom(...'userABC-0123456789'.split('')) })),
          deviceId: fc.option(fc.string({ minLength: 1, maxLength: 20, unit: fc.constantFrom(...'sensor-0123456789'.split('')) })),
          payload: fc.record({ value: fc.oneof(fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e15, max: 1e15 }), fc.integer()), unit: fc.constantFrom('celsius', 'C') }),
          metadata: fc.option(fc.dictionary(fc.string({ maxLength: 4, unit: fc.constantFrom(...'abc'.split('')) }), fc.integer())),
        }),
        (e) => {
          const bytes = te.encode(encodeEnvelope(e));
          const s = scanRecord(bytes, valueFieldOf);
          expect(s).toBeInstanceOf(ScannedEvent);
          expect(s!.toJSON()).toEqual(decodeRecordValue(bytes));
        },
      ),
      { numRuns: 500 },
    );
  });
});
