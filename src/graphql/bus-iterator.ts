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
  let done = false;
  const q = pullBuffer<BusItem<T>>(finish);

  function offer(item: T): void {
    if (filter && !filter(item)) return;
    if (q.items.length >= maxBuffered) {
      // Ending the stream is better than silently skipping events: the client sees why and resubscribes.
      q.items.push(
        new KeyflowError(ErrorCode.RATE_LIMITED, `the subscription fell more than ${maxBuffered} messages behind and was ended; resubscribe`, {
          details: { maxBuffered },
        }),
      );
      finish();
      options.onOverflow?.(maxBuffered);
      return;
    }
    q.push(item);
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
    q.end();
  }

  return q.iterator;
}

/** The consumer side of a pushed stream: what {@link pullBuffer} returns. */
export interface PullBuffer<T> {
  /** What was pushed and not taken yet, oldest first (a producer may look at its length, or add a last item before `end`). */
  readonly items: T[];
  /** Hands the item to a pull that waits, or buffers it. */
  push(item: T): void;
  /** No more items: a pull waiting on an empty buffer completes; what is buffered is still taken first. */
  end(): void;
  readonly iterator: AsyncIterableIterator<T>;
}

/**
 * The buffer between a source that pushes and the async iterator graphql-ws pulls from (one item
 * per pull, the next pull once the previous item is written): items wait in `items` until taken; a
 * pull with nothing buffered waits for the next push or the end. `onClose` runs when the consumer
 * stops (`return`, `throw`: client completed or disconnected), after the buffer is dropped;
 * `onDrained`, whenever the consumer has taken everything buffered (a source that reads page by
 * page waits for it).
 */
export function pullBuffer<T>(onClose: () => void, onDrained?: () => void): PullBuffer<T> {
  // A ring would save the shift(); the buffer is short while the client keeps up, so shift() is cheap.
  const items: T[] = [];
  let waiting: ((r: IteratorResult<T>) => void) | null = null;
  let ended = false;
  const iterator: AsyncIterableIterator<T> = {
    next() {
      if (items.length > 0) {
        const value = items.shift()!;
        if (items.length === 0) onDrained?.();
        return Promise.resolve({ value, done: false });
      }
      if (ended) return Promise.resolve({ value: undefined, done: true });
      onDrained?.();
      return new Promise<IteratorResult<T>>((resolve) => {
        waiting = resolve;
      });
    },
    return() {
      items.length = 0;
      onClose();
      return Promise.resolve({ value: undefined, done: true });
    },
    throw(e) {
      items.length = 0;
      onClose();
      return Promise.reject(e);
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return {
    items,
    push(item) {
      if (waiting) {
        const w = waiting;
        waiting = null;
        w({ value: item, done: false });
        return;
      }
      items.push(item);
    },
    end() {
      ended = true;
      if (waiting && items.length === 0) {
        const w = waiting;
        waiting = null;
        w({ value: undefined, done: true });
      }
    },
    iterator,
  };
}
