/**
 * Turns a live feed (see `createLiveFeed` in the bus area) into the async iterator a GraphQL
 * subscription resolver returns, with a bounded buffer per subscriber.
 */
import type { Unsubscribe } from '../bus/index.ts';
import { ErrorCode, KeyflowError } from '../model/index.ts';

export interface BusIteratorOptions<T> {
  /** Starts delivery at once: `push` gets each batch of items, in order; returns what stops it. */
  subscribe: (push: (items: readonly T[]) => void) => Unsubscribe;
  /** Keeps only matching items. */
  filter?: (item: T) => boolean;
  /** Items buffered for a slow client before the subscription ends with RATE_LIMITED. @default 10_000 */
  maxBuffered?: number;
  /** Called once when the subscription is ended for falling behind (metrics, log). */
  onOverflow?: (maxBuffered: number) => void;
}

/**
 * What the iterator yields: items, and at most one KeyflowError as the very last item when the
 * subscription is ended for falling behind. Yielding (not throwing) the error lets the field's
 * resolver raise it as a normal GraphQL error, followed by `complete`; an iterator that throws would
 * make graphql-ws close the whole connection.
 */
export type BusItem<T> = T | KeyflowError;

/**
 * Subscribes at once (so nothing delivered after the subscription starts is missed) and
 * unsubscribes when the consumer calls `return()` (client completed or disconnected) or the buffer
 * overflows. The buffer holds what the client has not taken yet: graphql-ws takes the next item
 * only when the previous one is written to the socket, so a client that reads slowly fills it, and
 * is ended with RATE_LIMITED instead of growing the server's memory.
 */
export function busIterator<T>(options: BusIteratorOptions<T>): AsyncIterableIterator<BusItem<T>> {
  const { filter } = options;
  const maxBuffered = Math.max(1, options.maxBuffered ?? 10_000);
  // A ring would save the shift(); the buffer is short while the client keeps up, so shift() is cheap.
  const buffer: BusItem<T>[] = [];
  let waiting: ((r: IteratorResult<BusItem<T>>) => void) | null = null;
  let done = false;

  function offer(item: T): void {
    if (filter && !filter(item)) return;
    if (waiting) {
      const w = waiting;
      waiting = null;
      w({ value: item, done: false });
      return;
    }
    if (buffer.length >= maxBuffered) {
      // Ending the stream is better than silently skipping events: the client sees why and resubscribes.
      buffer.push(
        new KeyflowError(ErrorCode.RATE_LIMITED, `the subscription fell more than ${maxBuffered} messages behind and was ended; resubscribe`, {
          details: { maxBuffered },
        }),
      );
      finish();
      options.onOverflow?.(maxBuffered);
      return;
    }
    buffer.push(item);
  }

  let unsubscribe: Unsubscribe | null = null;
  unsubscribe = options.subscribe((items) => {
    for (let i = 0; i < items.length && !done; i++) offer(items[i]!);
  });
  // ended by a delivery made from inside subscribe()
  if (done) unsubscribe();

  function finish(): void {
    if (done) return;
    done = true;
    unsubscribe?.();
    if (waiting) {
      const w = waiting;
      waiting = null;
      w({ value: undefined, done: true });
    }
  }

  const it: AsyncIterableIterator<BusItem<T>> = {
    next() {
      if (buffer.length > 0) return Promise.resolve({ value: buffer.shift()!, done: false });
      if (done) return Promise.resolve({ value: undefined, done: true });
      return new Promise<IteratorResult<BusItem<T>>>((resolve) => {
        waiting = resolve;
      });
    },
    return() {
      buffer.length = 0;
      finish();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(e) {
      buffer.length = 0;
      finish();
      return Promise.reject(e);
    },
    [Symbol.asyncIterator]() {
      return it;
    },
  };
  return it;
}
