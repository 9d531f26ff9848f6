/**
 * The GraphQL server: graphql-yoga over HTTP (POST/GET /graphql, SSE subscriptions, GraphiQL for
 * browsers, plus /health, /ready, /metrics) and graphql-ws over WebSocket on the same path
 * (ws-server.ts), with one set of envelop plugins (auth scopes, query limits, metrics, tracing)
 * for every transport and one error mapping. Requests to /graphql pass, in order: CORS, the CSRF
 * guard, the per-address rate limit, authentication, the per-identity rate limit — all before
 * the body is read.
 */

import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { TracerProvider } from '@opentelemetry/api';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import { Registry } from 'prom-client';
import { extractTraceContext, type Logger, type Metrics, withRequestContext } from '../core/index.ts';
import type { EventReceipt } from '../ingest/index.ts';
import { graphiqlOptions, renderOfflineGraphiQL } from './graphiql.ts';
import { type AuditLog, createAuditLog } from './plugins/auth/audit.ts';
import { type Authenticator, createAuthenticator } from './plugins/auth/authenticator.ts';
import type { Identity } from './plugins/auth/identity.ts';
import { useSchemaRegistryRoutes } from './plugins/use-schema-registry.ts';
import { type CorsPolicy, corsOptions } from './plugins/cors.ts';
import type { RateLimits } from './plugins/rate-limits.ts';
import { addressOf, identityOf, useAuth } from './plugins/use-auth.ts';
import { useCsrfGuard } from './plugins/use-csrf-guard.ts';
import { useDashboard } from './plugins/use-dashboard.ts';
import { useErrorCodes } from './plugins/use-error-codes.ts';
import { useMetrics } from './plugins/use-metrics.ts';
import { useOpsRoutes } from './plugins/use-ops-routes.ts';
import { useQueryLimits } from './plugins/use-query-limits.ts';
import { useRateLimit } from './plugins/use-rate-limit.ts';
import { useRawEventInputs } from './plugins/use-raw-event-inputs.ts';
import { useRequestBodyLimit } from './plugins/use-request-body-limit.ts';
import { newRequestId, requestIdOf, SANE_REQUEST_ID, useRequestId } from './plugins/use-request-id.ts';
import { useTracing } from './plugins/use-tracing.ts';
import { buildSchema, type GraphQLContext } from './schema/index.ts';
import type { ApiServices } from './services.ts';
import { useSharedSubscriptions } from './shared-execution.ts';
import { attachGraphQLWs, type WsLimits } from './ws-server.ts';

export { GRAPHQL_WS_PROTOCOL, WS_CLOSE_UNAUTHENTICATED, WsClose } from './ws-server.ts';

export interface GraphQLServerOptions {
  /** Accepted static bearer tokens (KEYFLOW_API_TOKENS), each with every scope; ignored when `authenticator` is given. @default [] */
  apiTokens?: readonly string[];
  /** Who may call (static tokens and/or JWTs). @default from apiTokens; none: every caller is anonymous with every scope */
  authenticator?: Authenticator;
  /** Request rate limits per identity and per client address. @default none */
  rateLimits?: RateLimits;
  /** Browser origins allowed to call (CORS) and to open WebSockets. @default same origin only */
  cors?: CorsPolicy;
  /** Take the client address from X-Forwarded-For (one trusted proxy in front). @default false */
  trustProxy?: boolean;
  /** WebSocket limits (message size, operations per socket, sockets per identity, buffered bytes). */
  ws?: WsLimits;
  /** GraphQL endpoint, for HTTP and WebSocket. @default '/graphql' */
  path?: string;
  /** Serve GraphiQL (assets bundled, no CDN) to browsers on GET /graphql. @default true */
  graphiql?: boolean;
  /** Serve the live dashboard page on GET /dashboard/ (and redirect / to it). @default false */
  dashboard?: boolean;
  /** WebSocket ping interval, ms; a client that misses a pong for as long is dropped. @default 12_000 */
  keepAliveMs?: number;
  /** Largest HTTP request body, bytes. @default 25_000_000 */
  maxRequestBodyBytes?: number;
  /** Extra yoga/envelop plugins, appended after the built-in ones. */
  plugins?: Plugin[];
  /** When given, every operation runs in a span of its own, child of the client's `traceparent` (see useTracing). */
  tracerProvider?: TracerProvider;
}

export interface GraphQLServer {
  readonly yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  /** node:http request listener for the whole API (GraphQL, /health, /ready, /metrics). */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Serves graphql-ws on `path` of this http server; resolves the returned close() when every socket is closed. */
  attach(server: Server): () => Promise<void>;
}

/** Publishers whose per-operation services are kept (a cache: cleared when full). */
const MAX_CACHED_PUBLISHERS = 1024;

function yogaLogger(logger: Logger) {
  const fmt = (args: unknown[]) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
  return {
    debug: (...a: unknown[]) => logger.debug(fmt(a)),
    info: (...a: unknown[]) => logger.info(fmt(a)),
    warn: (...a: unknown[]) => logger.warn(fmt(a)),
    error: (...a: unknown[]) => logger.error(fmt(a)),
  };
}

/**
 * The services an operation of `publisher` (undefined: anonymous) sees: its ingest records the
 * publisher on every event (the record's publisher header) and counts publishes answered
 * DUPLICATE (keyflow_dedupe_hits_total).
 */
function servicesOf(services: ApiServices, publisher: string | undefined, dedupeHits: Metrics['dedupeHits'] | undefined): ApiServices {
  if (publisher === undefined && !dedupeHits) return services;
  const { ingest } = services;
  const options = publisher === undefined ? undefined : { publisher };
  const counted = (receipts: EventReceipt[]) => {
    if (dedupeHits) for (const r of receipts) if (r.status === 'DUPLICATE') dedupeHits.inc({ topic: r.topic });
    return receipts;
  };
  return {
    ...services,
    health: () => services.health(),
    ingest: {
      publish: async (input) => counted([await ingest.publish(input, options)])[0]!,
      publishBatch: async (inputs) => counted(await ingest.publishBatch(inputs, options)),
    },
  };
}

/**
 * @example
 * const api = createGraphQLServer(services, { apiTokens: config.apiTokens });
 * const http = createServer(api.handler);
 * const closeWs = api.attach(http);
 * http.listen(4000);
 */
export function createGraphQLServer(services: ApiServices, options: GraphQLServerOptions = {}): GraphQLServer {
  const path = options.path ?? '/graphql';
  const logger = services.logger;
  const metrics = services.metrics;
  const registry = metrics?.registry ?? new Registry();
  const limits = services.limits;
  const authenticator = options.authenticator ?? createAuthenticator({ staticTokens: options.apiTokens ?? [] });
  const trustProxy = options.trustProxy ?? false;
  const full = metrics && 'graphqlRequests' in metrics ? metrics : undefined;
  const audit: AuditLog = createAuditLog(logger.child({ component: 'audit' }), (r) => full?.requestsRejected.inc({ code: r.code, transport: r.transport }));
  // An operation's services depend only on who publishes: built once per publisher, not per request.
  const anonymousServices = servicesOf(services, undefined, full?.dedupeHits);
  const publisherServices = new Map<string, ApiServices>();
  const servicesOfIdentity = (identity: Identity): ApiServices => {
    if (identity.method === 'anonymous') return anonymousServices;
    let s = publisherServices.get(identity.sub);
    if (!s) {
      if (publisherServices.size >= MAX_CACHED_PUBLISHERS) publisherServices.clear();
      publisherServices.set(identity.sub, (s = servicesOf(services, identity.sub, full?.dedupeHits)));
    }
    return s;
  };

  const plugins: Plugin[] = [
    // first: it swaps the base subscribe function, which the later plugins' hooks then wrap
    useSharedSubscriptions(),
    useRequestId(),
    useOpsRoutes({ health: () => services.health(), registry }),
    options.dashboard && useDashboard({ onMissing: (dir) => logger.warn({ dir }, 'the dashboard is not built (npm run build:web): /dashboard answers 503') }),
    services.schemas && useSchemaRegistryRoutes({ schemas: services.schemas, authenticator, audit, trustProxy }),
    useCsrfGuard({ path, audit, trustProxy }),
    options.rateLimits && useRateLimit({ limits: options.rateLimits, scope: 'address', path, audit, trustProxy }),
    useAuth({ authenticator, path, audit, trustProxy }),
    options.rateLimits && useRateLimit({ limits: options.rateLimits, scope: 'identity', path, audit, trustProxy }),
    useQueryLimits({
      maxDepth: limits.maxQueryDepth,
      maxAliases: limits.maxAliases,
      maxCost: limits.maxCost,
      maxDirectives: limits.maxDirectives,
      maxQueryTokens: limits.maxQueryTokens,
      maxTokensPerEvent: limits.maxTokensPerEvent,
      maxBatch: limits.maxBatch,
    }),
    // after auth and limits, which read the variables as sent
    useRawEventInputs(),
    full && useMetrics({ requests: full.graphqlRequests, duration: full.graphqlDuration }),
    useErrorCodes({ logger, onRequestError: full && ((code, request) => code !== 'FORBIDDEN' && full.requestsRejected.inc({ code, transport: transportOf(request) })) }),
    options.tracerProvider && useTracing({ tracerProvider: options.tracerProvider }),
    ...(options.plugins ?? []),
    // in place of yoga's maxRequestBodySize (which streams every body through a byte counter); last,
    // so that it wraps whichever request parser the plugins before it selected
    useRequestBodyLimit(options.maxRequestBodyBytes ?? 25_000_000),
  ].filter((p): p is Plugin => Boolean(p));

  const yoga = createYoga<Record<string, unknown>, GraphQLContext>({
    schema: buildSchema(),
    graphqlEndpoint: path,
    // Every asset inline (no CDN): works offline and under a strict CSP.
    graphiql: (options.graphiql ?? true) ? graphiqlOptions() : false,
    renderGraphiQL: renderOfflineGraphiQL,
    landingPage: false,
    cors: corsOptions(options.cors ?? {}),
    // Our /health answers with the components; yoga's own check must not shadow it.
    healthCheckEndpoint: '/.well-known/yoga-health',
    // useErrorCodes maps and masks every error, for HTTP; the WebSocket path maps with the same function.
    maskedErrors: false,
    // useRequestBodyLimit enforces options.maxRequestBodyBytes
    maxRequestBodySize: false,
    logging: yogaLogger(logger),
    context: (init) => {
      const request = init.request as Request | undefined;
      // WebSocket operations bring their identity from connection_init (ws-server.ts).
      const identity = (init.identity as Identity | undefined) ?? identityOf(request);
      return {
        services: servicesOfIdentity(identity),
        requestId: typeof init.requestId === 'string' ? init.requestId : requestIdOf(request),
        identity,
        clientAddress: typeof init.clientAddress === 'string' ? init.clientAddress : addressOf(request),
        transport: init.transport ?? transportOf(request),
      };
    },
    plugins,
  });

  function attach(server: Server): () => Promise<void> {
    return attachGraphQLWs(server, {
      yoga,
      path,
      logger,
      authenticator,
      audit,
      rateLimits: options.rateLimits,
      cors: options.cors,
      trustProxy,
      keepAliveMs: options.keepAliveMs,
      limits: options.ws,
      ...(options.tracerProvider ? { tracer: options.tracerProvider.getTracer('keyflow') } : {}),
      instruments: full && {
        connections: (d) => full.websocketConnections.inc(d),
        operations: (d) => full.subscriptionsActive.inc(d),
        operation: (outcome) => full.websocketOperations.inc({ outcome }),
      },
    });
  }

  return {
    yoga,
    handler: (req, res) => {
      // The request runs in the client's trace context and under its request id (useRequestId
      // reads the same header), so spans and log lines of this request are tied to both.
      const given = req.headers['x-request-id'];
      const requestId = typeof given === 'string' && SANE_REQUEST_ID.test(given) ? given : newRequestId();
      req.headers['x-request-id'] = requestId;
      withRequestContext(extractTraceContext(req.headers), requestId, () => void yoga(req, res));
    },
    attach,
  };
}

function transportOf(request: Request | undefined): 'http' | 'sse' {
  return request?.headers.get('accept')?.includes('text/event-stream') ? 'sse' : 'http';
}
