/**
 * The in-process live bus (embedded mode): subjects, fan-out and request/reply inside one
 * process. Several bus instances can share one {@link InProcessHub} to stand in for several
 * nodes (tests); by default each bus has its own hub.
 *
 * Semantics kept equal to NATS where it matters to callers:
 * - publish fans out synchronously, in publish order, to every subscriber of the subject; a
 *   throwing handler is logged and does not affect the others or the publisher;
 * - `wants(subject)` is true exactly while some bus of the hub has a matching subscription;
 * - subjects may use NATS wildcards when subscribing (`*` one token, `>` the rest);
 * - request goes to one responder (round-robin); with none, or no answer within the timeout,
 *   it rejects with KeyflowError TIMEOUT; a responder that throws a KeyflowError rejects the
 *   request with that error (other errors become INTERNAL).
 * Messages are passed by reference, not serialised: publishers and subscribers must treat them
 * as immutable (the NATS adapter gives each subscriber its own copy).
 *
 * Traces (with a `tracer`), as the NATS bus: a publish made inside an active span gets a PRODUCER
 * span `bus publish <subject>`, and each subscriber's handler runs inside a CONSUMER span
 * `bus deliver <subject>`, child of the publish span. A publish outside any span costs nothing
 * extra.
 */
import { SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import { activeSpanContext } from '../../core/index.ts';
import { ErrorCode, KeyflowError, isKeyflowError } from '../../model/index.ts';
import { isWildcard, matchesTokens } from '../internal/subject-match.ts';
import type { LiveBus, Unsubscribe } from '../port.ts';

/** Minimal pino-compatible logger for handler failures. */
export interface BusLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

type Handler = (message: unknown) => void;
type Responder = (request: unknown) => Promise<unknown>;

interface WildcardSub {
  tokens: string[];
  handler: Handler;
}

/** Shared routing table of the buses that stand for the nodes of one in-process "cluster". */
export interface InProcessHub {
  /** Subscribers by exact subject; arrays are replaced, never mutated, so publish needs no copy. */
  readonly exact: Map<string, Handler[]>;
  wildcards: WildcardSub[];
  readonly responders: Map<string, { list: Responder[]; next: number }>;
}

export function createInProcessHub(): InProcessHub {
  return { exact: new Map(), wildcards: [], responders: new Map() };
}

export interface InProcessBusOptions {
  /** Share a hub between buses to simulate several nodes. @default a new hub */
  hub?: InProcessHub;
  /** Where handler failures are logged. @default console */
  logger?: BusLogger;
  /** Spans for publish and delivery. @default none */
  tracer?: Tracer;
}

/** Span attribute: the subject (OpenTelemetry messaging conventions). */
const BUS_SUBJECT = 'messaging.destination.name';

const consoleLogger: BusLogger = { warn: (obj, msg) => console.warn(msg, obj) };

/**
 * Creates an in-process live bus.
 *
 * @example
 * const bus = createInProcessBus();
 * const off = bus.subscribe(subjects.allWindowResults('iot.sensor'), (m) => console.log(m));
 * bus.publish(subjects.windowResults('iot.sensor', 'tumbling-1m'), result);
 * off();
 */
export function createInProcessBus(options: InProcessBusOptions = {}): LiveBus {
  const hub = options.hub ?? createInProcessHub();
  const logger = options.logger ?? consoleLogger;
  const tracer = options.tracer;
  /** This bus's registrations, removed from the hub on close. */
  const own = new Set<Unsubscribe>();
  let open = true;

  function deliver(handler: Handler, subject: string, message: unknown): void {
    try {
      handler(message);
    } catch (e) {
      logger.warn({ err: e, subject }, 'in-process bus: a subscriber threw; the message still reached the other subscribers');
    }
  }

  /** {@link deliver} inside a `bus deliver` span, child of the active `bus publish` span. */
  function deliverTraced(t: Tracer, handler: Handler, subject: string, message: unknown): void {
    t.startActiveSpan(`bus deliver ${subject}`, { kind: SpanKind.CONSUMER, attributes: { [BUS_SUBJECT]: subject } }, (span) => {
      try {
        handler(message);
      } catch (e) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
        logger.warn({ err: e, subject }, 'in-process bus: a subscriber threw; the message still reached the other subscribers');
      } finally {
        span.end();
      }
    });
  }

  function wants(subject: string): boolean {
    if (!open) return false;
    if (hub.exact.has(subject)) return true;
    const wild = hub.wildcards;
    if (wild.length === 0) return false;
    const tokens = subject.split('.');
    return wild.some((w) => matchesTokens(w.tokens, tokens));
  }

  function fanOut(subject: string, message: unknown, send: (handler: Handler, subject: string, message: unknown) => void): void {
    const list = hub.exact.get(subject);
    if (list) for (let i = 0; i < list.length; i++) send(list[i]!, subject, message);
    const wild = hub.wildcards;
    if (wild.length > 0) {
      const tokens = subject.split('.');
      for (let i = 0; i < wild.length; i++) if (matchesTokens(wild[i]!.tokens, tokens)) send(wild[i]!.handler, subject, message);
    }
  }

  function track(off: () => void): Unsubscribe {
    let done = false;
    const unsubscribe = () => {
      if (done) return;
      done = true;
      own.delete(unsubscribe);
      off();
    };
    own.add(unsubscribe);
    return unsubscribe;
  }

  return {
    kind: 'in-process',

    async start() {
      open = true;
    },

    async close() {
      open = false;
      for (const off of [...own]) off();
    },

    publish(subject, message) {
      if (!open) return;
      if (tracer === undefined || activeSpanContext() === undefined || !wants(subject)) {
        fanOut(subject, message, deliver);
        return;
      }
      tracer.startActiveSpan(`bus publish ${subject}`, { kind: SpanKind.PRODUCER, attributes: { [BUS_SUBJECT]: subject } }, (span) => {
        try {
          fanOut(subject, message, (h, s, m) => deliverTraced(tracer, h, s, m));
        } finally {
          span.end();
        }
      });
    },

    wants,

    subscribe(subject, handler) {
      if (!open) return () => undefined;
      if (isWildcard(subject)) {
        const sub: WildcardSub = { tokens: subject.split('.'), handler };
        hub.wildcards = [...hub.wildcards, sub];
        return track(() => {
          hub.wildcards = hub.wildcards.filter((s) => s !== sub);
        });
      }
      // Wrap so the same function subscribed twice is two subscriptions, removed one at a time.
      const h: Handler = (m) => handler(m);
      hub.exact.set(subject, [...(hub.exact.get(subject) ?? []), h]);
      return track(() => {
        const rest = (hub.exact.get(subject) ?? []).filter((x) => x !== h);
        if (rest.length === 0) hub.exact.delete(subject);
        else hub.exact.set(subject, rest);
      });
    },

    respond(subject, handler) {
      if (!open) return () => undefined;
      const r: Responder = (req) => handler(req);
      let entry = hub.responders.get(subject);
      if (!entry) hub.responders.set(subject, (entry = { list: [], next: 0 }));
      entry.list = [...entry.list, r];
      return track(() => {
        const e = hub.responders.get(subject);
        if (!e) return;
        e.list = e.list.filter((x) => x !== r);
        if (e.list.length === 0) hub.responders.delete(subject);
      });
    },

    request(subject, request, timeoutMs) {
      if (!open) {
        return Promise.reject(new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, 'in-process bus is closed', { retriable: true }));
      }
      const entry = hub.responders.get(subject);
      if (!entry || entry.list.length === 0) {
        return Promise.reject(
          new KeyflowError(ErrorCode.TIMEOUT, `no responder for ${subject}; the owning node may be moving, try again`, {
            retriable: true,
            details: { subject },
          }),
        );
      }
      const responder = entry.list[entry.next++ % entry.list.length]!;
      return new Promise<unknown>((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(
            new KeyflowError(ErrorCode.TIMEOUT, `no answer on ${subject} within ${timeoutMs} ms; the owning node may be busy or moving`, {
              retriable: true,
              details: { subject, timeoutMs },
            }),
          );
        }, timeoutMs);
        let answer: Promise<unknown>;
        try {
          answer = Promise.resolve(responder(request));
        } catch (e) {
          answer = Promise.reject(e);
        }
        answer.then(
          (v) => {
            clearTimeout(timer);
            resolve(v);
          },
          (e: unknown) => {
            clearTimeout(timer);
            reject(
              isKeyflowError(e)
                ? e
                : new KeyflowError(ErrorCode.INTERNAL, `the responder on ${subject} failed`, { cause: e }),
            );
          },
        );
      });
    },

    async healthy() {
      return open ? { connected: true } : { connected: false, detail: 'in-process bus closed' };
    },
  };
}
