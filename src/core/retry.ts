/**
 * The one retry helper: a bounded number of attempts with exponential backoff and jitter, an
 * optional time budget, and only for errors that say they are worth another try (`retriable`,
 * which KeyflowError and kafkajs errors both carry). Time is injected, so tests never sleep.
 */
import type { Clock } from './clock.ts';
import { systemClock } from './clock.ts';

export interface BackoffOptions {
  /** Pause before the first retry, ms; doubles with every further retry. */
  baseDelayMs: number;
  /** Upper bound of one pause before jitter, ms. */
  maxDelayMs: number;
  /**
   * Random extra pause as a fraction of the pause (0.2 = up to +20 %), so clients that failed
   * together do not retry together. @default 0.2
   */
  jitter?: number;
}

export interface RetryPolicy extends BackoffOptions {
  /** Attempts in all, the first included (`Infinity`: until it succeeds or fails for good). */
  attempts: number;
  /**
   * Time budget from the first attempt, ms: a retry whose pause would end after it is not made,
   * and the last error is thrown. @default no budget
   */
  deadlineMs?: number;
  /** Which errors are worth another attempt. @default {@link isRetriable} */
  retryIf?: (error: unknown) => boolean;
  /** Called before each pause, e.g. to log; `attempt` is the one that just failed (1-based). */
  onRetry?: (error: unknown, attempt: number, delayMs: number) => void;
  /** Source of time and pauses. @default systemClock */
  clock?: Pick<Clock, 'now' | 'sleep'>;
  /** Source of jitter, [0, 1). @default Math.random */
  random?: () => number;
}

/** Whether an error says the same operation may succeed when tried again (`retriable === true`). */
export function isRetriable(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { retriable?: unknown }).retriable === true;
}

/** The pause before retry number `retry` (1-based): `min(base · 2^(retry−1), max)` plus up to `jitter` of it. */
export function backoff(retry: number, options: BackoffOptions, random: () => number = Math.random): number {
  // the exponent is capped so that 2 ** n stays finite for unbounded retries
  const d = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.min(Math.max(0, retry - 1), 52));
  return Math.round(d + d * (options.jitter ?? 0.2) * random());
}

/**
 * Runs `work` until it succeeds, fails with an error `retryIf` rejects (thrown at once), runs out
 * of attempts or would overrun the deadline (the last error is thrown as is).
 *
 * @example
 * const offsets = await retry(() => admin.fetchTopicOffsets(topic), { attempts: 40, baseDelayMs: 50, maxDelayMs: 1000 });
 */
export async function retry<T>(work: (attempt: number) => Promise<T>, options: RetryPolicy): Promise<T> {
  const clock = options.clock ?? systemClock;
  const retryIf = options.retryIf ?? isRetriable;
  const random = options.random ?? Math.random;
  const started = options.deadlineMs === undefined ? 0 : clock.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await work(attempt);
    } catch (e) {
      if (attempt >= options.attempts || !retryIf(e)) throw e;
      const delay = backoff(attempt, options, random);
      if (options.deadlineMs !== undefined && clock.now() - started + delay > options.deadlineMs) throw e;
      options.onRetry?.(e, attempt, delay);
      await clock.sleep(delay);
    }
  }
}
