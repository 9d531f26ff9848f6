/**
 * NATS live bus (distributed mode). Messages travel as JSON. `publish`/`subscribe` are plain
 * NATS subjects (every subscriber on every node gets each message); `respond` joins a queue group
 * so exactly one of the nodes answering a subject gets each request; `request` is NATS
 * request/reply. Every subject is prefixed with `prefix`, so deployments (and test runs) sharing
 * a NATS server do not see each other.
 *
 * Publishes are gated by interest (`./interest.ts`): a message no bus subscribes to is dropped
 * before it is encoded, so a processor sends nothing for a topic nobody watches.
 *
 * Traces (with a `tracer`): a publish made inside an active span gets a PRODUCER span
 * `bus publish <subject>` whose W3C trace context travels in the NATS message headers
 * (`traceparent`, `tracestate`); a subscriber that receives such a message runs its handler inside
 * a CONSUMER span `bus deliver <subject>`, child of the publish span — so the trace of an event
 * goes on from the processor to every gateway that delivers it. Messages without headers (no
 * active span, no tracer) cost nothing extra.
 *
 * Replies are wrapped — `{ ok: true, value }` or `{ ok: false, error: { code, message, … } }` —
 * so a responder's KeyflowError reaches the requester with its code and retriable flag intact.
 */

import { randomUUID } from 'node:crypto';
import { context, isSpanContextValid, propagation, SpanKind, SpanStatusCode, type TextMapGetter, type TextMapSetter, type Tracer, trace } from '@opentelemetry/api';
import {
  type ConnectionOptions,
  connect,
  Events,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type NatsError,
  ErrorCode as NatsErrorCode,
  headers as natsHeaders,
  type Subscription,
} from 'nats';
import { ErrorCode, isKeyflowError, KeyflowError } from '../../model/index.ts';
import type { LiveBus, Unsubscribe } from '../port.ts';
import { createInterest, INTEREST_SUBJECTS, type InterestOptions } from './interest.ts';

export interface NatsBusOptions {
  /** NATS server URLs (`nats://host:4222`) or `host:port`s. @default 'nats://127.0.0.1:4222' */
  servers?: string | string[];
  /**
   * Prepended to every subject (`<prefix>.<subject>`), so several deployments or test runs can
   * share one NATS server. Empty means no prefix. @default ''
   */
  prefix?: string;
  /**
   * Queue group that `respond` subscriptions join: nodes in the same group share the requests of
   * a subject, one answer per request. @default 'keyflow-responders'
   */
  queueGroup?: string;
  /** Client name shown in NATS monitoring. @default 'keyflow' */
  name?: string;
  /** Longest wait for the first connection in `start()`, ms. @default 5000 */
  connectTimeoutMs?: number;
  /** Longest delay between reconnect attempts (the client reconnects forever), ms. @default 5000 */
  maxReconnectDelayMs?: number;
  /**
   * Interest gating of `publish` (see `./interest.ts`); false publishes every message.
   * @default { ttlMs: 6000, warmUpMs: 1000 }
   */
  interest?: InterestOptions | false;
  /** Extra nats.js connection options (credentials, TLS, …), merged over the ones above. */
  connectionOptions?: Partial<ConnectionOptions>;
  /**
   * Told about failures that have no caller to reject: a subscriber that threw, an undecodable
   * message, a publish the connection refused. @default ignores them
   */
  onError?: (error: Error, context: { subject: string; operation: 'publish' | 'subscribe' | 'respond' }) => void;
  /** Spans for publish and delivery, with the trace context in the message headers. @default none */
  tracer?: Tracer;
}

const headerSetter: TextMapSetter<MsgHdrs> = {
  set: (carrier, key, value) => carrier.set(key, value),
};
const headerGetter: TextMapGetter<MsgHdrs> = {
  get: (carrier, key) => (carrier.has(key) ? carrier.get(key) : undefined),
  keys: (carrier) => carrier.keys(),
};

interface Registration {
  /** Full (prefixed) subject. */
  readonly subject: string;
  readonly queue: string | undefined;
  readonly callback: (err: NatsError | null, msg: Msg) => void;
  sub: Subscription | null;
}

type Reply = { ok: true; value?: unknown } | { ok: false; error: { code: string; message: string; retriable: boolean; details?: Record<string, unknown> } };

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const EMPTY = new Uint8Array(0);
const KNOWN_CODES = new Set<string>(Object.values(ErrorCode));

/** JSON bytes; `undefined` travels as an empty payload so it comes back as `undefined`. */
function encode(v: unknown): Uint8Array {
  return v === undefined ? EMPTY : encoder.encode(JSON.stringify(v));
}

function decode(data: Uint8Array): unknown {
  return data.length === 0 ? undefined : JSON.parse(decoder.decode(data));
}

/**
 * Creates the NATS live bus. Subscriptions made before `start()` are attached when it connects;
 * after a disconnect the client reconnects forever (capped exponential backoff) and restores them.
 *
 * @example
 * const bus = createNatsBus({ servers: process.env.NATS_URL, prefix: 'keyflow' });
 * await bus.start();
 * const off = bus.subscribe(subjects.allWindowResults('iot.sensor'), (m) => console.log(m));
 */
export function createNatsBus(opts: NatsBusOptions = {}): LiveBus {
  const prefix = opts.prefix ?? '';
  if (prefix !== '' && !/^[^\s.*>]+(\.[^\s.*>]+)*$/.test(prefix)) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `NATS subject prefix "${prefix}" must be dot-separated tokens without spaces, * or >`);
  }
  const queueGroup = opts.queueGroup ?? 'keyflow-responders';
  const onError = opts.onError ?? (() => {});
  const tracer = opts.tracer;
  const maxDelay = opts.maxReconnectDelayMs ?? 5000;
  const registrations = new Set<Registration>();
  // Responses still being computed; close() waits for them so in-flight requests get answers.
  const inflight = new Set<Promise<void>>();
  let nc: NatsConnection | null = null;
  let connected = false;
  let closing = false;
  let reconnectAttempts = 0;

  const full = (subject: string) => (prefix === '' ? subject : `${prefix}.${subject}`);
  const interest =
    opts.interest === false
      ? null
      : createInterest({
          ...opts.interest,
          node: `${opts.name ?? 'keyflow'}-${randomUUID()}`,
          send(subject, message) {
            const conn = nc;
            if (conn === null || conn.isClosed()) return;
            try {
              conn.publish(full(subject), encode(message));
            } catch (e) {
              onError(toErr(e), { subject: full(subject), operation: 'publish' });
            }
          },
        });
  let heartbeat: ReturnType<typeof setInterval> | undefined;

  function attach(r: Registration): void {
    if (nc === null || r.sub !== null) return;
    r.sub = nc.subscribe(r.subject, r.queue === undefined ? { callback: r.callback } : { queue: r.queue, callback: r.callback });
  }

  function register(subject: string, queue: string | undefined, callback: Registration['callback']): Unsubscribe {
    const r: Registration = { subject: full(subject), queue, callback, sub: null };
    registrations.add(r);
    try {
      attach(r);
    } catch (e) {
      registrations.delete(r);
      throw asBusError(e, `cannot subscribe to ${r.subject}`);
    }
    // Fan-out subscriptions are interest; responders (queue groups) answer requests, which are not gated.
    const interested = queue === undefined && interest !== null;
    if (interested) interest.add(subject);
    return () => {
      if (!registrations.delete(r)) return;
      if (interested) interest.delete(subject);
      try {
        r.sub?.unsubscribe();
      } catch {
        // The connection is already closed: nothing left to unsubscribe.
      }
      r.sub = null;
    };
  }

  async function answer(msg: Msg, handler: (request: unknown) => Promise<unknown>, subject: string): Promise<void> {
    let reply: Reply;
    try {
      reply = { ok: true, value: await handler(decode(msg.data)) };
    } catch (e) {
      reply = { ok: false, error: errorToWire(e) };
    }
    let bytes: Uint8Array;
    try {
      bytes = encode(reply);
    } catch (e) {
      bytes = encode({ ok: false, error: errorToWire(new KeyflowError(ErrorCode.INTERNAL, `reply on ${subject} is not JSON-serialisable`, { cause: e })) });
    }
    try {
      msg.respond(bytes);
    } catch (e) {
      onError(toErr(e), { subject, operation: 'respond' });
    }
  }

  return {
    kind: 'nats',

    async start() {
      if (nc !== null) return;
      closing = false;
      let conn: NatsConnection;
      try {
        conn = await connect({
          servers: opts.servers ?? 'nats://127.0.0.1:4222',
          name: opts.name ?? 'keyflow',
          timeout: opts.connectTimeoutMs ?? 5000,
          maxReconnectAttempts: -1,
          // Capped exponential backoff with jitter; reset once a reconnect succeeds.
          reconnectDelayHandler: () => {
            reconnectAttempts += 1;
            const base = Math.min(100 * 2 ** Math.min(reconnectAttempts, 8), maxDelay);
            return base / 2 + Math.random() * (base / 2);
          },
          ...opts.connectionOptions,
        });
      } catch (e) {
        throw new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `cannot connect to NATS at ${String(opts.servers ?? 'nats://127.0.0.1:4222')}: ${toErr(e).message}; start() may be retried`, {
          retriable: true,
          cause: e,
        });
      }
      nc = conn;
      connected = true;
      void (async () => {
        for await (const s of conn.status()) {
          if (s.type === Events.Disconnect) connected = false;
          else if (s.type === Events.Reconnect) {
            connected = true;
            reconnectAttempts = 0;
            // announcements may have been missed while away
            interest?.connected();
          }
        }
      })().catch(() => {});
      if (interest !== null) {
        const onControl = (err: NatsError | null, msg: Msg) => {
          if (err !== null) return;
          try {
            interest.receive(msg.subject === full(INTEREST_SUBJECTS.query) ? INTEREST_SUBJECTS.query : INTEREST_SUBJECTS.announce, decode(msg.data));
          } catch (e) {
            onError(toErr(e), { subject: msg.subject, operation: 'subscribe' });
          }
        };
        conn.subscribe(full(INTEREST_SUBJECTS.announce), { callback: onControl });
        conn.subscribe(full(INTEREST_SUBJECTS.query), { callback: onControl });
        heartbeat = setInterval(() => interest.heartbeat(), interest.heartbeatMs);
        heartbeat.unref?.();
      }
      void conn.closed().then(() => {
        connected = false;
      });
      for (const r of registrations) attach(r);
      interest?.connected();
    },

    async close() {
      const conn = nc;
      if (conn === null) return;
      closing = true;
      clearInterval(heartbeat);
      // Publishers stop sending to this node now rather than after the TTL.
      interest?.withdraw();
      // Stop taking requests, let those already running answer, then flush and close. Like the
      // in-process bus, a closed bus forgets its subscriptions.
      for (const r of registrations) {
        try {
          r.sub?.unsubscribe();
        } catch {
          // already closed
        }
        r.sub = null;
      }
      registrations.clear();
      await Promise.allSettled([...inflight]);
      nc = null;
      connected = false;
      if (!conn.isClosed()) {
        try {
          await conn.drain();
        } catch {
          await conn.close();
        }
      }
    },

    publish(subject, message) {
      const conn = nc;
      if (conn !== null && !closing && interest !== null && !interest.wants(subject)) return;
      const s = full(subject);
      if (conn === null || closing) {
        onError(new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `publish on ${s} dropped: the NATS bus is not started`), { subject: s, operation: 'publish' });
        return;
      }
      const parent = tracer ? trace.getSpanContext(context.active()) : undefined;
      if (tracer && parent && isSpanContextValid(parent)) {
        tracer.startActiveSpan(`bus publish ${subject}`, { kind: SpanKind.PRODUCER, attributes: { [BUS_SUBJECT]: s } }, (span) => {
          try {
            const h = natsHeaders();
            propagation.inject(context.active(), h, headerSetter);
            conn.publish(s, encode(message), { headers: h });
          } catch (e) {
            span.setStatus({ code: SpanStatusCode.ERROR, message: toErr(e).message });
            onError(toErr(e), { subject: s, operation: 'publish' });
          } finally {
            span.end();
          }
        });
        return;
      }
      try {
        conn.publish(s, encode(message));
      } catch (e) {
        onError(toErr(e), { subject: s, operation: 'publish' });
      }
    },

    wants(subject) {
      return interest === null || interest.wants(subject);
    },

    subscribe(subject, handler) {
      return register(subject, undefined, (err, msg) => {
        if (err !== null) return;
        // A throwing callback would make nats.js close the connection: contain it here.
        const deliver = (): void => {
          try {
            handler(decode(msg.data));
          } catch (e) {
            onError(toErr(e), { subject: msg.subject, operation: 'subscribe' });
            throw e;
          }
        };
        if (tracer && msg.headers?.has('traceparent')) {
          const parent = propagation.extract(context.active(), msg.headers, headerGetter);
          tracer.startActiveSpan(`bus deliver ${subject}`, { kind: SpanKind.CONSUMER, attributes: { [BUS_SUBJECT]: msg.subject } }, parent, (span) => {
            try {
              deliver();
            } catch (e) {
              span.setStatus({ code: SpanStatusCode.ERROR, message: toErr(e).message });
            } finally {
              span.end();
            }
          });
          return;
        }
        try {
          deliver();
        } catch {
          // reported by deliver
        }
      });
    },

    respond(subject, handler) {
      return register(subject, queueGroup, (err, msg) => {
        if (err !== null || msg.reply === undefined || msg.reply === '') return;
        const p = answer(msg, handler, msg.subject);
        inflight.add(p);
        void p.finally(() => inflight.delete(p));
      });
    },

    async request(subject, request, timeoutMs) {
      const conn = nc;
      const s = full(subject);
      if (conn === null || closing) {
        throw new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `request on ${s} failed: the NATS bus is not started`, { retriable: true });
      }
      let msg: Msg;
      try {
        msg = await conn.request(s, encode(request), { timeout: Math.max(1, Math.floor(timeoutMs)) });
      } catch (e) {
        const code = (e as NatsError | undefined)?.code;
        if (code === NatsErrorCode.NoResponders) {
          throw new KeyflowError(ErrorCode.TIMEOUT, `no node answers requests on ${s}; retry when the partition has an owner`, {
            retriable: true,
            cause: e,
            details: { subject: s, noResponders: true },
          });
        }
        if (code === NatsErrorCode.Timeout) {
          throw new KeyflowError(ErrorCode.TIMEOUT, `no answer on ${s} within ${timeoutMs} ms; the request may be retried`, {
            retriable: true,
            cause: e,
            details: { subject: s, timeoutMs },
          });
        }
        if (code === NatsErrorCode.MaxPayloadExceeded) {
          throw new KeyflowError(ErrorCode.PAYLOAD_TOO_LARGE, `request on ${s} exceeds the NATS max payload`, { cause: e });
        }
        throw asBusError(e, `request on ${s} failed`);
      }
      let reply: Reply;
      try {
        reply = decode(msg.data) as Reply;
      } catch (e) {
        throw new KeyflowError(ErrorCode.DECODE_FAILED, `reply on ${s} is not JSON`, { cause: e });
      }
      if (reply === null || typeof reply !== 'object' || typeof reply.ok !== 'boolean') {
        throw new KeyflowError(ErrorCode.DECODE_FAILED, `reply on ${s} is not a keyflow bus reply`);
      }
      if (reply.ok) return reply.value;
      const w = reply.error;
      const code = KNOWN_CODES.has(w.code) ? (w.code as ErrorCode) : ErrorCode.INTERNAL;
      throw new KeyflowError(code, w.message, { retriable: w.retriable === true, details: w.details });
    },

    async healthy() {
      const conn = nc;
      if (conn === null) return { connected: false, detail: 'not started' };
      if (conn.isClosed()) return { connected: false, detail: 'connection closed' };
      if (!connected) return { connected: false, detail: 'reconnecting to NATS' };
      return { connected: true, detail: `connected to ${conn.getServer()}` };
    },
  };
}

/** Span attribute: the full NATS subject (OpenTelemetry messaging conventions). */
const BUS_SUBJECT = 'messaging.destination.name';

function toErr(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function asBusError(e: unknown, message: string): KeyflowError {
  if (isKeyflowError(e)) return e;
  const code = (e as NatsError | undefined)?.code;
  if (code === NatsErrorCode.BadSubject) {
    return new KeyflowError(ErrorCode.BAD_USER_INPUT, `${message}: invalid NATS subject`, { cause: e });
  }
  return new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `${message}: ${toErr(e).message}`, { retriable: true, cause: e });
}

/** What a requester needs to rebuild the responder's error; never a stack trace. */
function errorToWire(e: unknown): Extract<Reply, { ok: false }>['error'] {
  if (isKeyflowError(e)) {
    return { code: e.code, message: e.message, retriable: e.retriable, ...(e.details ? { details: e.details } : {}) };
  }
  return { code: ErrorCode.INTERNAL, message: `responder failed: ${toErr(e).message}`, retriable: false };
}
