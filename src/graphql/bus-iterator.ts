/** Turns live-bus messages into the async iterator a GraphQL subscription resolver returns. */
import type { LiveBus } from '../bus/port.ts';
import { ErrorCode, KeyflowError } from '../model/errors.ts';

export interface BusIteratorOptions<T> {
  bus: LiveBus;
  subject: string;
  /** Validates a message; null drops it. */
  parse: (message: unknown) => T | null;
  /** Keeps only matching messages. */
  filter?: (item: T) => boolean;
  /** Messages buffered for a slow client before the subscription ends with RATE_LIMITED. @default 10_000 */
  maxBuffered?: number;
}

/**
 * Subscribes to the bus at once (so nothing published after the subscription starts is missed)
 * and unsubscribes when the consumer calls `return()` (client completed or disconnected) or the
 * buffer overflows.
 */
export function busIterator<T>(options: BusIteratorOptions<T>): AsyncIterableIterator<T> {
  const { bus, subject, parse, filter } = options;
  const maxBuffered = options.maxBuffered ?? 10_000;
  const buffer: T[] = [];
  let waiting: ((r: IteratorResult<T>) => void) | null = null;
  let failWaiting: ((e: unknown) => void) | null = null;
  let done = false;
  let failure: KeyflowError | null = null;

  const unsubscribe = bus.subscribe(subject, (message) => {
    if (done) return;
    const item = parse(message);
    if (item === null || (filter && !filter(item))) return;
    if (waiting) {
      const w = waiting;
      waiting = failWaiting = null;
      w({ value: item, done: false });
      return;
    }
    buffer.push(item);
    if (buffer.length > maxBuffered) {
      // Ending the stream is better than silently skipping events: the client sees it and resubscribes.
      failure = new KeyflowError(
        ErrorCode.RATE_LIMITED,
        `the subscription fell more than ${maxBuffered} messages behind and was ended; resubscribe`,
      );
      finish();
    }
  });

  function finish(): void {
    if (done) return;
    done = true;
    unsubscribe();
    if (waiting) {
      const w = waiting;
      const f = failWaiting;
      waiting = failWaiting = null;
      if (failure && f) f(failure);
      else w({ value: undefined, done: true });
    }
  }

  const it: AsyncIterableIterator<T> = {
    next() {
      if (buffer.length > 0 && !failure) return Promise.resolve({ value: buffer.shift()!, done: false });
      if (failure) {
        const f = failure;
        failure = null;
        buffer.length = 0;
        return Promise.reject(f);
      }
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise<IteratorResult<T>>((resolve, reject) => {
        waiting = resolve;
        failWaiting = reject;
      });
    },
    return() {
      buffer.length = 0;
      failure = null;
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(e) {
      finish();
      return Promise.reject(e);
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}
