import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseIsoUtcMillis } from '../../src/actors/decode.ts';

/** The fast path either declines (NaN) or agrees with Date.parse, which the model uses. */
function agrees(s: string): boolean {
  const fast = parseIsoUtcMillis(s);
  return Number.isNaN(fast) || fast === Date.parse(s);
}

describe('parseIsoUtcMillis (decoder timestamp fast path)', () => {
  // Feature: keyflow, Property 7: Invalid event filtering — the hot-path decoder's timestamp parse gives Date.parse's value or declines
  it('agrees with Date.parse on toISOString output and takes the fast path for days 1-28 of years 0-9999', () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true, min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z') }), (d) => {
        const s = d.toISOString();
        expect(agrees(s)).toBe(true);
        if (d.getUTCDate() <= 28) expect(parseIsoUtcMillis(s)).toBe(d.getTime());
      }),
      { numRuns: 2000 },
    );
  });

  // Feature: keyflow, Property 7: Invalid event filtering — the hot-path decoder's timestamp parse gives Date.parse's value or declines
  it('declines or agrees on any one-character mutation of a valid timestamp', () => {
    const base = '2024-02-28T23:59:59.999Z';
    fc.assert(
      fc.property(fc.nat({ max: base.length - 1 }), fc.constantFrom(...'0123456789-:.TZtz +/a'), (i, c) => {
        expect(agrees(base.slice(0, i) + c + base.slice(i + 1))).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('declines other layouts and out-of-range fields', () => {
    for (const s of ['2026-01-15T10:00Z', '2026-01-15T10:00:00Z', '2026-01-15T10:00:00.000+01:00', '2026-01-29T00:00:00.000Z', '2026-13-01T00:00:00.000Z', '2026-01-10T24:00:00.000Z', '2026-01-10T00:60:00.000Z', '+010000-01-01T00:00:00.000Z', '2026-01-1aT00:00:00.000Z']) {
      expect(parseIsoUtcMillis(s)).toBeNaN();
    }
    expect(parseIsoUtcMillis('1969-12-28T23:59:59.999Z')).toBe(Date.parse('1969-12-28T23:59:59.999Z'));
    expect(parseIsoUtcMillis('2000-02-28T12:00:00.000Z')).toBe(951739200000);
  });
});
