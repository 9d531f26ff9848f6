import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { backoff, isRetriable, retry } from '../../src/core/retry.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';

/** A clock whose sleep only moves time forward and records the pause: no real waiting. */
function fakeClock() {
  const slept: number[] = [];
  let now = 1_000;
  return {
    slept,
    clock: {
      now: () => now,
      sleep: async (ms: number) => {
        slept.push(ms);
        now += ms;
      },
    },
  };
}

const retriable = () => new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, 'down', { retriable: true });

describe('retry', () => {
  it('returns the first success without pausing', async () => {
    const { clock, slept } = fakeClock();
    await expect(retry(async () => 'ok', { attempts: 5, baseDelayMs: 10, maxDelayMs: 100, clock })).resolves.toBe('ok');
    expect(slept).toEqual([]);
  });

  it('throws a non-retriable error at once', async () => {
    const { clock, slept } = fakeClock();
    let calls = 0;
    const fatal = new KeyflowError(ErrorCode.BAD_USER_INPUT, 'no');
    await expect(
      retry(
        async () => {
          calls++;
          throw fatal;
        },
        { attempts: 10, baseDelayMs: 10, maxDelayMs: 100, clock },
      ),
    ).rejects.toBe(fatal);
    expect(calls).toBe(1);
    expect(slept).toEqual([]);
  });

  it('retries a retriable error until the attempts run out, with doubling capped pauses, and throws the last error', async () => {
    const { clock, slept } = fakeClock();
    const errors: KeyflowError[] = [];
    const seen: number[] = [];
    await expect(
      retry(
        async (attempt) => {
          seen.push(attempt);
          const e = retriable();
          errors.push(e);
          throw e;
        },
        { attempts: 5, baseDelayMs: 10, maxDelayMs: 50, jitter: 0, clock },
      ),
    ).rejects.toSatisfy((e) => e === errors[4]);
    expect(seen).toEqual([1, 2, 3, 4, 5]);
    expect(slept).toEqual([10, 20, 40, 50]);
  });

  it('succeeds after retriable failures (kafkajs-style errors carry retriable too)', async () => {
    const { clock } = fakeClock();
    const retried: number[] = [];
    let calls = 0;
    const result = await retry(
      async () => {
        if (++calls < 3) throw Object.assign(new Error('LEADER_NOT_AVAILABLE'), { retriable: true });
        return calls;
      },
      { attempts: 10, baseDelayMs: 5, maxDelayMs: 5, clock, onRetry: (_e, attempt) => retried.push(attempt) },
    );
    expect(result).toBe(3);
    expect(retried).toEqual([1, 2]);
  });

  it('does not start a retry whose pause would end past the deadline', async () => {
    const { clock, slept } = fakeClock();
    let calls = 0;
    await expect(
      retry(
        async () => {
          calls++;
          throw retriable();
        },
        { attempts: Number.POSITIVE_INFINITY, baseDelayMs: 100, maxDelayMs: 100_000, jitter: 0, deadlineMs: 1000, clock },
      ),
    ).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE });
    // 100 + 200 + 400 = 700 ms spent; the next pause (800) would end at 1500 > 1000
    expect(slept).toEqual([100, 200, 400]);
    expect(calls).toBe(4);
  });

  it('retryIf overrides which errors are retried', async () => {
    const { clock } = fakeClock();
    let calls = 0;
    await expect(
      retry(
        async () => {
          if (++calls < 3) throw new Error('plain');
          return 'done';
        },
        { attempts: 3, baseDelayMs: 1, maxDelayMs: 1, clock, retryIf: () => true },
      ),
    ).resolves.toBe('done');
  });
});

describe('backoff', () => {
  it('stays within [d, d·(1 + jitter)] of the capped doubling delay, and is finite for any retry number', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 0, max: 1000 }),
        fc.integer({ min: 0, max: 60_000 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.double({ min: 0, max: 0.999, noNaN: true }),
        (n, base, max, jitter, r) => {
          const d = Math.min(max, base * 2 ** Math.min(n - 1, 52));
          const delay = backoff(n, { baseDelayMs: base, maxDelayMs: max, jitter }, () => r);
          expect(Number.isFinite(delay)).toBe(true);
          expect(delay).toBeGreaterThanOrEqual(Math.floor(d));
          expect(delay).toBeLessThanOrEqual(Math.ceil(d * (1 + jitter)));
        },
      ),
    );
  });
});

describe('isRetriable', () => {
  it('is true only for errors that say so', () => {
    expect(isRetriable(retriable())).toBe(true);
    expect(isRetriable(new KeyflowError(ErrorCode.INTERNAL, 'x'))).toBe(false);
    expect(isRetriable(Object.assign(new Error('kafkajs'), { retriable: true }))).toBe(true);
    expect(isRetriable(new Error('plain'))).toBe(false);
    expect(isRetriable(null)).toBe(false);
    expect(isRetriable('retriable')).toBe(false);
  });
});
