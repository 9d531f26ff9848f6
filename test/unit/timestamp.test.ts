/** The one ISO-8601 parser of event times: strict field by field, otherwise exactly Date.parse. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ISO_DATE_TIME, daysInMonth, isoTimestampProblem, parseIsoTimestamp } from '../../src/model/timestamp.ts';

/** A date-time in the accepted layout built from fields that may be out of range. */
const fields = fc.record({
  year: fc.integer({ min: 0, max: 9999 }),
  month: fc.integer({ min: 0, max: 13 }),
  day: fc.integer({ min: 0, max: 32 }),
  hour: fc.integer({ min: 0, max: 25 }),
  minute: fc.integer({ min: 0, max: 61 }),
  second: fc.option(fc.integer({ min: 0, max: 61 }), { nil: undefined }),
  fraction: fc.option(fc.stringMatching(/^\d{1,9}$/), { nil: undefined }),
  zone: fc.oneof(
    fc.constant('Z'),
    fc.tuple(fc.constantFrom('+', '-'), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 0, max: 61 }), fc.boolean()).map(
      ([sign, h, m, colon]) => `${sign}${String(h).padStart(2, '0')}${colon ? ':' : ''}${String(m).padStart(2, '0')}`,
    ),
  ),
});

const p2 = (n: number) => String(n).padStart(2, '0');

describe('parseIsoTimestamp', () => {
  // Feature: keyflow, Property 7: Invalid event filtering — dates are checked field by field, never shifted
  it('accepts exactly the date-times whose every field is in range, with Date.parse’s value', () => {
    fc.assert(
      fc.property(fields, (f) => {
        const time = `${p2(f.hour)}:${p2(f.minute)}${f.second === undefined ? '' : `:${p2(f.second)}${f.fraction === undefined ? '' : `.${f.fraction}`}`}`;
        const s = `${String(f.year).padStart(4, '0')}-${p2(f.month)}-${p2(f.day)}T${time}${f.zone}`;
        expect(ISO_DATE_TIME.test(s)).toBe(true);
        const oh = f.zone === 'Z' ? 0 : Number(f.zone.slice(1, 3));
        const om = f.zone === 'Z' ? 0 : Number(f.zone.slice(-2));
        const valid =
          f.month >= 1 &&
          f.month <= 12 &&
          f.day >= 1 &&
          f.day <= daysInMonth(f.year, f.month) &&
          f.hour <= 23 &&
          f.minute <= 59 &&
          (f.second ?? 0) <= 59 &&
          oh <= 23 &&
          om <= 59;
        const ms = parseIsoTimestamp(s);
        if (valid) {
          expect(ms).toBe(Date.parse(s));
          expect(isoTimestampProblem(s)).toBeUndefined();
        } else {
          expect(ms).toBeNaN();
          expect(isoTimestampProblem(s)).toMatch(/^has (month|day|hour|minute|second|offset) /);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('agrees with Date.parse on toISOString output of years 0-9999', () => {
    fc.assert(
      fc.property(fc.date({ noInvalidDate: true, min: new Date('0000-01-01T00:00:00.000Z'), max: new Date('9999-12-31T23:59:59.999Z') }), (d) => {
        expect(parseIsoTimestamp(d.toISOString())).toBe(d.getTime());
      }),
      { numRuns: 2000 },
    );
  });

  it('refuses or agrees with Date.parse on any one-character mutation of a valid timestamp', () => {
    const base = '2024-02-29T23:59:59.999Z';
    fc.assert(
      fc.property(fc.nat({ max: base.length - 1 }), fc.constantFrom(...'0123456789-:.TZtz +/a'), (i, c) => {
        const s = base.slice(0, i) + c + base.slice(i + 1);
        const ms = parseIsoTimestamp(s);
        if (!Number.isNaN(ms)) expect(ms).toBe(Date.parse(s));
      }),
      { numRuns: 500 },
    );
  });

  it('refuses impossible dates that Date.parse would shift', () => {
    expect(Date.parse('2026-02-30T00:00:00Z')).not.toBeNaN(); // the reason this parser exists
    for (const [s, why] of [
      ['2026-02-30T00:00:00.000Z', /day 30; 2026-02 has days 01 to 28/],
      ['2026-02-29T00:00:00Z', /day 29; 2026-02 has days 01 to 28/],
      ['2026-04-31T10:00Z', /day 31/],
      ['2026-01-01T24:00:00Z', /hour 24/],
      ['2026-01-01T24:00:00.000Z', /hour 24/],
      ['2026-01-01T23:60:00Z', /minute 60/],
      ['2026-01-01T23:59:60Z', /second 60/],
      ['2026-00-10T00:00:00Z', /month 00/],
      ['2026-01-10T00:00:00+24:00', /offset \+24:00/],
      ['yesterday', /ISO-8601/],
      ['2026-01-10T00:00:00', /ISO-8601/],
      ['2026-01-1aT00:00:00.000Z', /ISO-8601/],
      ['2026-01-10T00:00:00.1x3Z', /ISO-8601/],
      ['+010000-01-01T00:00:00.000Z', /ISO-8601/],
    ] as const) {
      expect(parseIsoTimestamp(s), s).toBeNaN();
      expect(isoTimestampProblem(s), s).toMatch(why);
    }
    expect(parseIsoTimestamp('2024-02-29T12:00:00Z')).toBe(Date.parse('2024-02-29T12:00:00Z'));
    expect(parseIsoTimestamp('2000-02-29T00:00:00Z')).toBe(951782400000);
    expect(parseIsoTimestamp('1900-02-29T00:00:00Z')).toBeNaN();
  });

  it('reads old and odd but valid forms as Date.parse does', () => {
    for (const s of [
      '0000-01-01T00:00:00Z',
      '1969-12-31T23:59:59.999Z',
      '1969-12-28T23:59:59.999Z',
      '2026-01-15T10:00Z',
      '2026-01-15T10:00:00.123456789Z',
      '2026-01-15T10:00:00.5+01:00',
      '2026-01-15T10:00:00-0530',
      '2026-01-01T00:00:00+23:59',
      '9999-12-31T23:59:59.999Z',
    ]) {
      expect(parseIsoTimestamp(s), s).toBe(Date.parse(s));
    }
  });
});
