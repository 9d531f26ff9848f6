/**
 * Subscription execution shared between subscribers. Every subscription of a gateway that reads the
 * same live topic gets the very same item objects from the live feed; executing the same operation
 * (document, operation name, variables) on the same item gives the same result, so the result is
 * computed once per item and operation and handed to every subscriber — instead of once per
 * subscriber, which made GraphQL execution and its garbage most of a gateway's fan-out cost.
 *
 * It is graphql-js's own `subscribe` (`createSourceEventStream`, then `execute` per item with the
 * item as root value) with a cache in between: a WeakMap keyed by the item, so a result lives as
 * long as some subscriber still holds the item. Results with errors are never shared (their
 * errors carry one request's id); items that are not objects are executed each time.
 *
 * A result carries its item's delivery mark (the `bus deliver` span it arrived under, see
 * `markDelivery`), so the span of its send to each subscriber continues the event's trace.
 */
import { createSourceEventStream, type ExecutionArgs, type ExecutionResult, execute } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { deliverySpanOf, markDelivery } from '../core/index.ts';

type Result = ExecutionResult | Promise<ExecutionResult>;

const cache = new WeakMap<object, Map<string, Result>>();

function executeShared(args: ExecutionArgs, key: string, item: unknown): Result {
  if (typeof item !== 'object' || item === null) return execute({ ...args, rootValue: item });
  let byOperation = cache.get(item);
  if (byOperation === undefined) cache.set(item, (byOperation = new Map()));
  const known = byOperation.get(key);
  if (known !== undefined) return known;
  const result = execute({ ...args, rootValue: item });
  const keep = (r: ExecutionResult) => {
    if (r.errors !== undefined && r.errors.length > 0) byOperation.delete(key);
    return r;
  };
  const stored = result instanceof Promise ? result.then(keep) : keep(result);
  if (!(stored instanceof Promise) && stored.errors?.length) return stored;
  byOperation.set(key, stored);
  return stored;
}

/**
 * `subscribe` for graphql-ws: the source stream of the operation, each item executed once per
 * `key` (the operation's identity: document text, operation name, variables) across subscribers.
 */
export async function subscribeShared(args: ExecutionArgs, key: string): Promise<AsyncIterableIterator<ExecutionResult> | ExecutionResult> {
  const source = await createSourceEventStream(args);
  if (!(Symbol.asyncIterator in (source as object))) return source as ExecutionResult;
  const it = (source as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  const mapped: AsyncIterableIterator<ExecutionResult> = {
    async next() {
      const r = await it.next();
      if (r.done) return { value: undefined, done: true };
      const result = await executeShared(args, key, r.value);
      const delivered = deliverySpanOf(r.value);
      if (delivered !== undefined) markDelivery(result, delivered);
      return { value: result, done: false };
    },
    async return() {
      await it.return?.();
      return { value: undefined, done: true };
    },
    async throw(e: unknown) {
      await it.return?.();
      throw e;
    },
    [Symbol.asyncIterator]() {
      return mapped;
    },
  };
  return mapped;
}

/**
 * The yoga plugin that makes every subscription (graphql-ws and SSE) run through
 * {@link subscribeShared}. It only swaps the base subscribe function, so the other plugins' hooks
 * (scope checks, token expiry, tracing) still wrap each subscriber's operation; list it first.
 * Operations are the same when their parsed document (yoga caches parses by text), operation
 * name and variables are.
 */
export function useSharedSubscriptions(): Plugin {
  const documents = new WeakMap<object, number>();
  let next = 0;
  return {
    onSubscribe({ args, setSubscribeFn }) {
      let id = documents.get(args.document);
      if (id === undefined) documents.set(args.document, (id = ++next));
      const key = `${id}\u0000${args.operationName ?? ''}\u0000${JSON.stringify(args.variableValues ?? null)}`;
      setSubscribeFn((a) => subscribeShared(a as ExecutionArgs, key) as ReturnType<typeof subscribeShared>);
    },
  };
}
