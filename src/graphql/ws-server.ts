/**
 * graphql-ws over WebSocket on the GraphQL path of an HTTP server, with the connection-level
 * limits a public endpoint needs:
 *
 * - the upgrade is refused (403) for a browser Origin that is neither the server's own nor on the
 *   CORS allow-list, and (400) for another subprotocol than `graphql-transport-ws`;
 * - no message may exceed `maxPayloadBytes` (ws closes the socket with 1009);
 * - connection_init must carry a valid credential (close 4401, reason `UNAUTHENTICATED: …`); a
 *   credential that expires later closes the socket then (4401, `UNAUTHENTICATED: token expired`);
 * - one identity (without auth: one client address) holds at most `maxConnectionsPerIdentity`
 *   sockets on this gateway (close 4429, `RATE_LIMITED: …`);
 * - one socket runs at most `maxOperations` operations at once, and each operation takes a point
 *   from the rate limits (error RATE_LIMITED for that operation);
 * - a socket whose unsent bytes pass `maxBufferedBytes` (a subscriber that stops reading) is
 *   dropped before it grows the heap further.
 *
 * Operations go through the same envelop plugins as HTTP (auth scopes, query limits, metrics,
 * tracing); an operation's spans are children of the `traceparent` in its subscribe message's
 * `extensions`, else of the one in connection_init's payload. With a `tracer`, each subscription
 * message whose item came off the live bus in a traced delivery is sent inside a PRODUCER span
 * `graphql-ws send`, child of that `bus deliver` span: from the result taken for the subscriber to
 * the frame handed to the socket.
 */
import type { IncomingMessage, Server } from 'node:http';
import type { Duplex } from 'node:stream';
import { type Context, context, ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, type Tracer, trace } from '@opentelemetry/api';
import type { ExecutionArgs, ExecutionResult, GraphQLError } from 'graphql';
import type { YogaServerInstance } from 'graphql-yoga';
import { type WebSocket, WebSocketServer } from 'ws';
import { deliverySpanOf, extractTraceContext, type Logger, SpanAttr, withRequestContextValue } from '../core/index.ts';
import { ErrorCode, KeyflowError } from '../model/index.ts';
import { toContractError } from './errors.ts';
import type { AuditLog } from './plugins/auth/audit.ts';
import type { Authenticator } from './plugins/auth/authenticator.ts';
import type { Identity } from './plugins/auth/identity.ts';
import { clientAddress } from './plugins/client-address.ts';
import { type CorsPolicy, originAllowed } from './plugins/cors.ts';
import type { RateLimits } from './plugins/rate-limits.ts';
import { mapResultErrors } from './plugins/use-error-codes.ts';
import { newRequestId } from './plugins/use-request-id.ts';
import type { GraphQLContext } from './schema/index.ts';
import { useWsTransport } from './ws-transport.ts';

/** The only WebSocket subprotocol accepted. */
export const GRAPHQL_WS_PROTOCOL = 'graphql-transport-ws';

/** Close codes; the reason starts with the contract code. */
export const WsClose = {
  /** connection_init without a valid credential, or the credential expired. */
  unauthenticated: 4401,
  /** Too many sockets for one identity. */
  tooManyConnections: 4429,
  /** The client stopped reading: its unsent bytes passed the budget. */
  slowConsumer: 4413,
} as const;

/** Close code of a connection_init without a valid credential (the same as WsClose.unauthenticated). */
export const WS_CLOSE_UNAUTHENTICATED = WsClose.unauthenticated;

export interface WsLimits {
  /** Largest message, bytes. @default 4 MiB */
  maxPayloadBytes?: number;
  /** Operations in flight on one socket. @default 100 */
  maxOperations?: number;
  /** Sockets one identity holds on this gateway. @default 100 */
  maxConnectionsPerIdentity?: number;
  /** Unsent bytes a socket may queue before it is dropped. @default 8 MiB */
  maxBufferedBytes?: number;
}

/** Gauges and counters of the WebSocket endpoint (all optional). */
export interface WsInstruments {
  /** +1 when a socket is accepted, -1 when it closes. */
  connections?(delta: number): void;
  /** +1 when an operation starts, -1 when it completes. */
  operations?(delta: number): void;
  /** One per subscribe message: `accepted`, or the refusal's code. */
  operation?(outcome: string): void;
}

export interface WsServerOptions {
  yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  path: string;
  logger: Logger;
  authenticator: Authenticator;
  audit: AuditLog;
  rateLimits?: RateLimits | undefined;
  cors?: CorsPolicy;
  trustProxy?: boolean;
  /** Ping interval, ms; a client that misses a pong for as long is dropped. @default 12_000 */
  keepAliveMs?: number;
  limits?: WsLimits;
  instruments?: WsInstruments;
  /** @default Date.now */
  now?: () => number;
  /** Spans for the send of each subscription message that continues a traced bus delivery. @default none */
  tracer?: Tracer;
}

interface SocketState {
  identity: Identity;
  /** connection_init's `traceparent`/`tracestate`, the parent of the socket's operation spans unless one brings its own. */
  traceHeaders: Record<string, string>;
  address: string;
  key: string;
  expiry?: ReturnType<typeof setTimeout>;
  /** Ids of the operations accepted and not yet completed. */
  running: Set<string>;
  /** Send spans started in onNext, by the frame prefix (`{"id":…,"type":"next"`) that names their message. */
  sends?: Map<string, Span>;
}

interface OperationContext extends GraphQLContext {
  readonly [key: string]: unknown;
}

const MAX_TIMER_MS = 2_147_483_647;

/** `traceparent` and `tracestate` from connection_init params or a subscribe message's extensions. */
function traceHeadersOf(from: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (from && typeof from === 'object') {
    for (const k of ['traceparent', 'tracestate']) {
      const v = (from as Record<string, unknown>)[k];
      if (typeof v === 'string' && v.length <= 512) out[k] = v;
    }
  }
  return out;
}

function httpRefusal(socket: Duplex, status: string, body: string): void {
  socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
}

/** A close reason fits in 123 bytes. */
function closeReason(s: string): string {
  return Buffer.byteLength(s) <= 123 ? s : `${Buffer.from(s).subarray(0, 120).toString('utf8')}…`;
}

function sameOrigin(origin: string, host: string | undefined): boolean {
  if (!host) return false;
  try {
    return new URL(origin).host === host;
  } catch {
    return false;
  }
}

/**
 * @example
 * const close = attachGraphQLWs(httpServer, { yoga, path: '/graphql', logger, authenticator, audit });
 */
export function attachGraphQLWs(server: Server, options: WsServerOptions): () => Promise<void> {
  const { yoga, path, logger, authenticator, audit, rateLimits } = options;
  const trustProxy = options.trustProxy ?? false;
  const now = options.now ?? Date.now;
  const maxOperations = options.limits?.maxOperations ?? 100;
  const maxConnections = options.limits?.maxConnectionsPerIdentity ?? 100;
  const maxBuffered = options.limits?.maxBufferedBytes ?? 8 * 1024 * 1024;
  const ins = options.instruments ?? {};
  const tracer = options.tracer;
  const wss = new WebSocketServer({ noServer: true, maxPayload: options.limits?.maxPayloadBytes ?? 4 * 1024 * 1024 });
  const enveloped = new WeakMap<object, ReturnType<typeof yoga.getEnveloped>>();
  // Each operation's trace parent (the client's traceparent) and request id, for its spans and log lines.
  const parents = new WeakMap<object, Context>();

  const sockets = new WeakMap<WebSocket, SocketState>();
  const perIdentity = new Map<string, number>();

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (pathname !== path) {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !sameOrigin(origin, req.headers.host) && !originAllowed(options.cors ?? {}, origin)) {
      audit.rejected({ code: ErrorCode.FORBIDDEN, reason: 'origin', transport: 'ws', address: clientAddress(req, trustProxy) });
      httpRefusal(socket, '403 Forbidden', 'FORBIDDEN: this Origin may not open a WebSocket here (see KEYFLOW_CORS_ORIGINS)\n');
      return;
    }
    const offered = String(req.headers['sec-websocket-protocol'] ?? '')
      .split(',')
      .map((p) => p.trim());
    if (!offered.includes(GRAPHQL_WS_PROTOCOL)) {
      httpRefusal(socket, '400 Bad Request', `only the ${GRAPHQL_WS_PROTOCOL} WebSocket subprotocol is accepted\n`);
      return;
    }
    wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
  };
  server.on('upgrade', onUpgrade);

  wss.on('connection', (ws: WebSocket) => {
    ins.connections?.(1);
    // Backpressure: the transport lets a socket hold 64 KiB unwritten, then each subscription waits
    // for its send; a subscription whose own queue then passes KEYFLOW_SUBSCRIPTION_BUFFER is ended
    // with RATE_LIMITED (bus-iterator). The byte budget below is the last guard (a huge message).
    // graphql-ws prints socket errors (an oversized message, a protocol violation) with
    // console.error; ws closes the socket itself (1009, 1002), so a structured line replaces it.
    process.nextTick(() => {
      ws.removeAllListeners('error');
      ws.on('error', (err: Error & { code?: string }) => {
        const st = sockets.get(ws);
        logger.warn({ event: 'ws.socket_error', code: err.code, address: st?.address, sub: st?.identity.sub }, `WebSocket closed on a client error: ${err.message}`);
      });
    });
    ws.once('close', () => {
      ins.connections?.(-1);
      const st = sockets.get(ws);
      if (!st) return;
      clearTimeout(st.expiry);
      if (st.running.size > 0) ins.operations?.(-st.running.size);
      st.running.clear();
      endSends(st, undefined);
      const n = (perIdentity.get(st.key) ?? 1) - 1;
      if (n <= 0) perIdentity.delete(st.key);
      else perIdentity.set(st.key, n);
    });
  });

  /**
   * A socket whose unsent bytes pass the budget is dropped: checked before every message and by a
   * sweep once a second (a socket whose operations are idle gets no message to check on).
   */
  function dropIfOverBudget(ws: WebSocket): void {
    if (ws.bufferedAmount <= maxBuffered) return;
    const st = sockets.get(ws);
    logger.warn(
      { event: 'ws.slow_consumer', sub: st?.identity.sub, address: st?.address, bufferedBytes: ws.bufferedAmount, maxBufferedBytes: maxBuffered },
      'dropping a WebSocket that stopped reading',
    );
    audit.rejected({ code: ErrorCode.RATE_LIMITED, reason: 'slow_consumer', transport: 'ws', address: st?.address ?? 'unknown', sub: st?.identity.sub });
    // A close frame would queue behind what the client is not reading: drop the socket now.
    ws.terminate();
  }
  const sweep = setInterval(() => {
    for (const ws of wss.clients) dropIfOverBudget(ws);
  }, 1000);
  sweep.unref();

  function refuse(code: string, reason: string, st: SocketState, message: string, details: Record<string, unknown>): GraphQLError[] {
    audit.rejected({ code, reason, transport: 'ws', address: st.address, sub: st.identity.sub });
    ins.operation?.(code);
    const e = new KeyflowError(code as ErrorCode, message, { details });
    return [toContractError(e, newRequestId(), logger)];
  }

  const disposable = useWsTransport(
    {
      async onConnect(ctx) {
        const ws = ctx.extra.socket as WebSocket;
        const address = clientAddress(ctx.extra.request, trustProxy);
        const p = ctx.connectionParams ?? {};
        const authorization = p.authorization ?? p.Authorization ?? (typeof p.token === 'string' ? `Bearer ${p.token}` : undefined);
        let identity: Identity;
        try {
          identity = await authenticator.authenticate(authorization);
        } catch (e) {
          const reason = String((e instanceof KeyflowError && e.details?.reason) || 'invalid');
          audit.rejected({ code: ErrorCode.UNAUTHENTICATED, reason, transport: 'ws', address });
          ws.close(WsClose.unauthenticated, closeReason(`UNAUTHENTICATED: ${e instanceof Error ? e.message : 'invalid credential'}`));
          return false;
        }
        const key = identity.method === 'anonymous' ? `address:${address}` : identity.sub;
        const held = perIdentity.get(key) ?? 0;
        if (held >= maxConnections) {
          audit.rejected({ code: ErrorCode.RATE_LIMITED, reason: 'connections_per_identity', transport: 'ws', address, sub: identity.sub });
          ws.close(WsClose.tooManyConnections, closeReason(`RATE_LIMITED: this identity already holds ${held} WebSockets (limit ${maxConnections})`));
          return false;
        }
        perIdentity.set(key, held + 1);
        const st: SocketState = { identity, address, key, running: new Set(), traceHeaders: traceHeadersOf(p) };
        if (identity.expiresAt !== undefined) {
          st.expiry = setTimeout(
            () => {
              audit.rejected({ code: ErrorCode.UNAUTHENTICATED, reason: 'expired', transport: 'ws', address, sub: identity.sub });
              ws.close(WsClose.unauthenticated, 'UNAUTHENTICATED: token expired; reconnect with a fresh token');
            },
            Math.min(MAX_TIMER_MS, Math.max(0, identity.expiresAt - now())),
          );
        }
        sockets.set(ws, st);
        return true;
      },
      async onSubscribe(ctx, id, payload) {
        const ws = ctx.extra.socket as WebSocket;
        const st = sockets.get(ws)!;
        const inFlight = Object.keys(ctx.subscriptions).length;
        if (inFlight > maxOperations) {
          return refuse(ErrorCode.RATE_LIMITED, 'operations_per_connection', st, `this WebSocket already runs ${maxOperations} operations (the limit); complete one first`, {
            limit: maxOperations,
          });
        }
        if (rateLimits) {
          const refused = (await rateLimits.consume('address', st.address)) ?? (await rateLimits.consume('identity', st.key));
          if (refused) return refuse(refused.code, 'rate_limit', st, refused.message, refused.details ?? {});
        }
        const requestId = newRequestId();
        const env = yoga.getEnveloped({
          request: undefined,
          requestId,
          params: payload,
          socket: ws,
          identity: st.identity,
          clientAddress: st.address,
          transport: 'ws',
        });
        let document: ExecutionArgs['document'];
        try {
          // graphql-armor throws from parse (tokens) and from validation rules (depth, aliases, cost).
          document = env.parse(payload.query);
          const errors = env.validate(env.schema, document);
          if (errors.length > 0) {
            ins.operation?.('invalid');
            return errors.map((e: GraphQLError) => toContractError(e, requestId, logger));
          }
        } catch (e) {
          ins.operation?.('invalid');
          return [toContractError(e, requestId, logger)];
        }
        const contextValue = (await env.contextFactory()) as unknown as OperationContext;
        enveloped.set(contextValue, env);
        const own = traceHeadersOf(payload.extensions);
        parents.set(contextValue, withRequestContextValue(extractTraceContext(own.traceparent ? own : st.traceHeaders), requestId));
        ins.operation?.('accepted');
        st.running.add(id);
        ins.operations?.(1);
        return {
          schema: env.schema,
          document,
          operationName: payload.operationName,
          variableValues: payload.variables,
          contextValue,
        };
      },
      execute: (args) => context.with(parents.get(args.contextValue as object)!, () => enveloped.get(args.contextValue as object)!.execute(args)),
      subscribe: (args) => context.with(parents.get(args.contextValue as object)!, () => enveloped.get(args.contextValue as object)!.subscribe(args)),
      onNext(ctx, id, _payload, args, result) {
        dropIfOverBudget(ctx.extra.socket as WebSocket);
        if (tracer) startSend(tracer, ctx.extra.socket as WebSocket, id, result);
        const requestId = (args.contextValue as OperationContext).requestId;
        return mapResultErrors(result as ExecutionResult, requestId, logger, false);
      },
      onComplete(ctx, id) {
        const st = sockets.get(ctx.extra.socket as WebSocket);
        if (st?.running.delete(id)) ins.operations?.(-1);
        if (st) endSends(st, id);
      },
    },
    wss,
    { keepAliveMs: options.keepAliveMs ?? 12_000, logger, ...(tracer ? { onSend: sent } : {}) },
  );

  /** Starts the send span of a message whose item came off a traced bus delivery. */
  function startSend(t: Tracer, ws: WebSocket, id: string, result: unknown): void {
    const parent = deliverySpanOf(result);
    const st = sockets.get(ws);
    if (parent === undefined || st === undefined) return;
    const span = t.startSpan(
      'graphql-ws send',
      { kind: SpanKind.PRODUCER, attributes: { [SpanAttr.subscriptionTransport]: 'ws', [SpanAttr.subscriptionId]: id } },
      trace.setSpanContext(ROOT_CONTEXT, parent),
    );
    const prefix = `{"id":${JSON.stringify(id)},"type":"next"`;
    const sends = (st.sends ??= new Map());
    // a message of the same operation that never reached the socket (closed meanwhile)
    sends.get(prefix)?.end();
    sends.set(prefix, span);
  }

  /** The transport's hook: ends the frame's send span once the frame is handed to the socket. */
  function sent(ws: WebSocket, data: string): ((bytes: number, error?: Error) => void) | undefined {
    const sends = sockets.get(ws)?.sends;
    if (sends === undefined || sends.size === 0) return undefined;
    for (const [prefix, span] of sends) {
      if (!data.startsWith(prefix)) continue;
      sends.delete(prefix);
      return (bytes, error) => {
        span.setAttribute(SpanAttr.messageBytes, bytes);
        if (error) span.setStatus({ code: SpanStatusCode.ERROR, message: error.message });
        span.end();
      };
    }
    return undefined;
  }

  /** Ends the send spans left of one operation (or, without id, of the socket): their messages were not sent. */
  function endSends(st: SocketState, id: string | undefined): void {
    if (st.sends === undefined) return;
    for (const [prefix, span] of st.sends) {
      if (id !== undefined && !prefix.startsWith(`{"id":${JSON.stringify(id)},`)) continue;
      span.setStatus({ code: SpanStatusCode.ERROR, message: 'not sent: the operation or socket ended first' });
      span.end();
      st.sends.delete(prefix);
    }
  }

  return async () => {
    clearInterval(sweep);
    server.off('upgrade', onUpgrade);
    await disposable.dispose();
  };
}
