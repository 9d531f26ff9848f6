/** Turns live-bus messages into the async iterator a GraphQL subscription resolver returns. */
import type { LiveBus } from '../bus/index.ts';
import { ErrorCode, KeyflowError } from '../model/index.ts';

interface BusIteratorCommon<T> {
  bus: LiveBus;
  subject: string;
  /** Keeps only matching items. */
  filter?: (item: T) => boolean;
  /** Items buffered for a slow client before the subscription ends with RATE_LIMITED. @default 10_000 */
  maxBuffered?: number;
}

/**
 * How bus messages become items: `parse` for one item per message (null drops it), `parseBatch`
 * for messages carrying several (null or [] drops the message; the items are yielded in order).
 */
export type BusIteratorOptions<T> = BusIteratorCommon<T> &
  (
    | { parse: (message: unknown) => T | null; parseBatch?: never }
    | { parseBatch: (message: unknown) => readonly T[] | null; parse?: never }
  );

/**
 * What the iterator yields: bus items, and at most one KeyflowError as the very last item when the
 * subscription is ended for falling behind. Yielding (not throwing) the error lets the field's
 * resolver raise it as a normal GraphQL error, followed by `complete`; an iterator that throws would
 * make graphql-ws close the whole connection.
 */
export type BusItem<T> = T | KeyflowError;

/**
 * Subscribes to the bus at once (so nothing published after the subscription starts is missed)
 * and unsubscribes when the consumer calls `return()` (client completed or disconnected) or the
 * buffer overflows.
 */
export function busIterator<T>(options: BusIteratorOptions<T>): AsyncIterableIterator<BusItem<T>> {
  const { bus, subject, parse, parseBatch, filter } = options;
  const maxBuffered = options.maxBuffered ?? 10_000;
  const buffer: BusItem<T>[] = [];
  let waiting: ((r: IteratorResult<BusItem<T>>) => void) | null = null;
  let done = false;

  const unsubscribe = bus.subscribe(subject, (message) => {
    if (done) return;
    if (parseBatch) {
      const items = parseBatch(message);
      if (items === null) return;
      for (let i = 0; i < items.length && !done; i++) offer(items[i]!);
      return;
    }
    const item = parse!(message);
    if (item !== null) offer(item);
  });

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
      return;
    }
    buffer.push(item);
  }

  function finish(): void {
    if (done) return;
    done = true;
    unsubscribe();
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
