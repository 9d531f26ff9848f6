import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MAX_DURATION_MS, parseDuration } from '../../src/core/duration.ts';

describe('parseDuration', () => {
  it('reads every unit', () => {
    expect(['500ms', '10s', '5m', '2h', '1d'].map(parseDuration)).toEqual([500, 10_000, 300_000, 7_200_000, 86_400_000]);
  });

  it.each(['', '0s', '01m', '1.5m', '-1s', '10', '1w', ' 1s', '1s ', '1 s', '367d', '99999999999ms', 'ms'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('accepts exactly the durations up to 366 days', () => {
    expect(parseDuration('366d')).toBe(MAX_DURATION_MS);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9_999_999_999 }), fc.constantFrom(['ms', 1], ['s', 1000], ['m', 60_000], ['h', 3_600_000], ['d', 86_400_000]), (n, [unit, ms]) => {
        const expected = n * (ms as number);
        expect(parseDuration(`${n}${unit}`)).toBe(expected <= MAX_DURATION_MS ? expected : undefined);
      }),
    );
  });
});
