/**
 * A tiny GraphQL client for the e2e suites: queries and mutations over fetch, subscriptions over
 * graphql-ws (subprotocol `graphql-transport-ws`) with `ws` as the WebSocket implementation.
 */
import { type Client, createClient } from 'graphql-ws';
import WebSocket from 'ws';

export interface GraphQLErrorShape {
  message: string;
  path?: (string | number)[];
  extensions?: { code?: string; [k: string]: unknown };
}

/** A response with `errors` (or a non-JSON / non-2xx answer). */
export class GraphQLRequestError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly errors: GraphQLErrorShape[],
    readonly body: unknown,
  ) {
    super(message);
  }
  get codes(): string[] {
    return this.errors.map((e) => String(e.extensions?.code ?? ''));
  }
}

export interface RequestOptions {
  headers?: Record<string, string>;
  /** Abort after this long, ms. @default 30000 */
  timeoutMs?: number;
}

/** POSTs an operation; returns `{ status, body }` without judging it. */
export async function gqlRaw(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  options: RequestOptions = {},
): Promise<{ status: number; body: { data?: unknown; errors?: GraphQLErrorShape[] } }> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/graphql-response+json, application/json', ...options.headers },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(options.timeoutMs ?? 30_000),
  });
  const text = await res.text();
  let body: { data?: unknown; errors?: GraphQLErrorShape[] };
  try {
    body = JSON.parse(text) as typeof body;
  } catch {
    throw new GraphQLRequestError(`non-JSON answer (HTTP ${res.status}): ${text.slice(0, 500)}`, res.status, [], text);
  }
  return { status: res.status, body };
}

/** Runs a query or mutation and returns `data`; throws GraphQLRequestError when the answer has errors. */
export async function gql<T = Record<string, unknown>>(
  url: string,
  query: string,
  variables?: Record<string, unknown>,
  options: RequestOptions = {},
): Promise<T> {
  const { status, body } = await gqlRaw(url, query, variables, options);
  if (body.errors && body.errors.length > 0) {
    throw new GraphQLRequestError(
      `GraphQL errors (HTTP ${status}): ${body.errors.map((e) => `${e.extensions?.code ?? '?'}: ${e.message}`).join('; ')}`,
      status,
      body.errors,
      body,
    );
  }
  if (status < 200 || status >= 300 || body.data === undefined || body.data === null) {
    throw new GraphQLRequestError(`unexpected answer (HTTP ${status}): ${JSON.stringify(body).slice(0, 500)}`, status, [], body);
  }
  return body.data as T;
}

/** A graphql-ws client for `http(s)://…/graphql` or `ws(s)://…/graphql`; no reconnects, so failures surface. */
export function wsClient(url: string, connectionParams?: Record<string, unknown>): Client {
  const wsUrl = url.replace(/^http/, 'ws');
  return createClient({ url: wsUrl, webSocketImpl: WebSocket, retryAttempts: 0, lazy: true, connectionParams });
}

export interface Subscription<T> {
  /** Every `data` received so far, in arrival order. */
  readonly messages: T[];
  /** Errors the server sent, or the socket closing with an error. */
  readonly errors: unknown[];
  /** Whether the server completed the subscription. */
  readonly completed: boolean;
  /** Resolves with the messages once `predicate(messages)` holds; rejects on error or timeout. */
  until(predicate: (messages: T[]) => boolean, timeoutMs?: number): Promise<T[]>;
  dispose(): void;
}

/** Subscribes and collects messages; `field` picks the root field out of each `data`. */
export function subscribe<T>(client: Client, query: string, variables: Record<string, unknown>, field: string): Subscription<T> {
  const messages: T[] = [];
  const errors: unknown[] = [];
  let completed = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  const dispose = client.subscribe<Record<string, T>>(
    { query, variables },
    {
      next(value) {
        if (value.errors) errors.push(value.errors);
        if (value.data) messages.push(value.data[field] as T);
        wake();
      },
      error(e) {
        errors.push(e);
        wake();
      },
      complete() {
        completed = true;
        wake();
      },
    },
  );
  return {
    messages,
    errors,
    get completed() {
      return completed;
    },
    until(predicate, timeoutMs = 30_000) {
      return new Promise<T[]>((resolveMessages, reject) => {
        let timer: ReturnType<typeof setTimeout> | undefined;
        const check = () => {
          if (errors.length > 0) {
            done();
            reject(new Error(`subscription failed: ${describe(errors)}`));
          } else if (predicate(messages)) {
            done();
            resolveMessages(messages);
          } else if (completed) {
            done();
            reject(new Error(`subscription completed before the condition held (${messages.length} messages)`));
          }
        };
        const done = () => {
          waiters.delete(check);
          if (timer) clearTimeout(timer);
        };
        timer = setTimeout(() => {
          done();
          reject(new Error(`subscription: condition not met within ${timeoutMs} ms (${messages.length} messages: ${JSON.stringify(messages).slice(0, 1000)})`));
        }, timeoutMs);
        waiters.add(check);
        check();
      });
    },
    dispose,
  };
}

function describe(errors: unknown[]): string {
  return errors
    .map((e) => {
      if (e instanceof Error) return e.message;
      if (e && typeof e === 'object' && 'code' in e && 'reason' in e) return `close ${String(e.code)} ${String(e.reason)}`;
      return JSON.stringify(e);
    })
    .join('; ');
}

/** Operations the e2e suites share. */
export const PUBLISH_EVENT = `mutation($input: EventInput!) {
  publishEvent(input: $input) { status eventId topic partition offset timestamp }
}`;
export const PUBLISH_EVENTS = `mutation($inputs: [EventInput!]!) {
  publishEvents(inputs: $inputs) { status eventId topic partition offset timestamp }
}`;
export const WINDOWS = `query($eventType: String!, $key: String!, $window: String, $finalOnly: Boolean) {
  windows(eventType: $eventType, key: $key, window: $window, finalOnly: $finalOnly) {
    eventType key window windowStart windowEnd count valueCount sum avg min max distinctUsers final revision
  }
}`;
export const KEY_STATE = `query($eventType: String!, $key: String!) {
  keyState(eventType: $eventType, key: $key) { eventType key topic partition watermark lastEventTime eventsProcessed openWindows }
}`;

export interface Receipt {
  status: 'ACCEPTED' | 'DUPLICATE';
  eventId: string;
  topic: string;
  partition: number;
  offset: string;
  timestamp: string;
}

export interface WindowResultOut {
  eventType: string;
  key: string;
  window: string;
  windowStart: string;
  windowEnd: string;
  count: number;
  valueCount: number;
  sum: number | null;
  avg: number | null;
  min: number | null;
  max: number | null;
  distinctUsers: number;
  final: boolean;
  revision: number;
}

export interface KeyStateOut {
  eventType: string;
  key: string;
  topic: string;
  partition: number;
  watermark: string | null;
  lastEventTime: string | null;
  eventsProcessed: number;
  openWindows: number;
}
