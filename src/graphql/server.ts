/**
 * The GraphQL server: graphql-yoga over HTTP (POST/GET /graphql, GraphiQL for browsers, plus
 * /health, /ready, /metrics) and graphql-ws over WebSocket on the same path, with one set of
 * envelop plugins (query limits, metrics) for both transports and one error mapping.
 */
import type { Tracer } from '@opentelemetry/api';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { ExecutionArgs, ExecutionResult, GraphQLError } from 'graphql';
import { type Plugin, type YogaServerInstance, createYoga } from 'graphql-yoga';
import { Registry } from 'prom-client';
import { WebSocketServer } from 'ws';
import type { Logger } from '../core/index.ts';
import { toContractError } from './errors.ts';
import { tokenAccepted, useBearerAuth } from './plugins/use-bearer-auth.ts';
import { mapResultErrors, useErrorCodes } from './plugins/use-error-codes.ts';
import { useMetrics } from './plugins/use-metrics.ts';
import { useOpsRoutes } from './plugins/use-ops-routes.ts';
import { useQueryLimits } from './plugins/use-query-limits.ts';
import { newRequestId, requestIdOf, useRequestId } from './plugins/use-request-id.ts';
import { useTracing } from './plugins/use-tracing.ts';
import { subscribeShared } from './shared-execution.ts';
import { useWsTransport } from './ws-transport.ts';
import { type GraphQLContext, buildSchema } from './schema/index.ts';
import type { ApiServices } from './services.ts';

/** The only WebSocket subprotocol accepted. */
export const GRAPHQL_WS_PROTOCOL = 'graphql-transport-ws';

/** Close code for a connection_init without a valid token (graphql-ws uses 4403 for "Forbidden"). */
export const WS_CLOSE_UNAUTHENTICATED = 4401;

export interface GraphQLServerOptions {
  /** Accepted bearer tokens (KEYFLOW_API_TOKENS); when non-empty every operation needs one. @default [] */
  apiTokens?: readonly string[];
  /** GraphQL endpoint, for HTTP and WebSocket. @default '/graphql' */
  path?: string;
  /** Serve GraphiQL to browsers on GET /graphql. @default true */
  graphiql?: boolean;
  /** WebSocket ping interval, ms; a client that misses a pong for as long is dropped. @default 12_000 */
  keepAliveMs?: number;
  /** Largest HTTP request body, bytes. @default 25_000_000 */
  maxRequestBodyBytes?: number;
  /** Extra yoga/envelop plugins, appended after the built-in ones. */
  plugins?: Plugin[];
  /** When given, every operation runs in a span of its own (see useTracing). */
  tracer?: Tracer;
}

export interface GraphQLServer {
  readonly yoga: YogaServerInstance<Record<string, unknown>, GraphQLContext>;
  /** node:http request listener for the whole API (GraphQL, /health, /ready, /metrics). */
  readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  /** Serves graphql-ws on `path` of this http server; resolves the returned close() when every socket is closed. */
  attach(server: Server): () => Promise<void>;
}

function yogaLogger(logger: Logger) {
  const fmt = (args: unknown[]) => args.map((a) => (a instanceof Error ? a.message : String(a))).join(' ');
  return {
    debug: (...a: unknown[]) => logger.debug(fmt(a)),
    info: (...a: unknown[]) => logger.info(fmt(a)),
    warn: (...a: unknown[]) => logger.warn(fmt(a)),
    error: (...a: unknown[]) => logger.error(fmt(a)),
  };
}

interface OperationContext extends GraphQLContext {
  readonly [key: string]: unknown;
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
  // Blank entries (a trailing comma in KEYFLOW_API_TOKENS) are not tokens.
  const tokens = (options.apiTokens ?? []).map((t) => t.trim()).filter((t) => t.length > 0);
  const logger = services.logger;
  const metrics = services.metrics;
  const registry = metrics?.registry ?? new Registry();
  const limits = services.limits;

  const plugins: Plugin[] = [
    useRequestId(),
    useOpsRoutes({ health: () => services.health(), registry }),
    useBearerAuth({ tokens }),
    useQueryLimits({
      maxDepth: limits.maxQueryDepth,
      maxAliases: limits.maxAliases,
      maxCost: limits.maxCost,
      maxTokens: limits.maxTokens,
    }),
    metrics && 'graphqlRequests' in metrics && useMetrics({ requests: metrics.graphqlRequests, duration: metrics.graphqlDuration }),
    useErrorCodes({ logger }),
    options.tracer && useTracing({ tracer: options.tracer }),
    ...(options.plugins ?? []),
  ].filter((p): p is Plugin => Boolean(p));

  const yoga = createYoga<Record<string, unknown>, GraphQLContext>({
    schema: buildSchema(),
    graphqlEndpoint: path,
    graphiql: options.graphiql ?? true,
    landingPage: false,
    // Our /health answers with the components; yoga's own check must not shadow it.
    healthCheckEndpoint: '/.well-known/yoga-health',
    // useErrorCodes maps and masks every error, for HTTP; the WebSocket path maps with the same function.
    maskedErrors: false,
    maxRequestBodySize: options.maxRequestBodyBytes ?? 25_000_000,
    logging: yogaLogger(logger),
    context: (init) => ({
      services,
      requestId: typeof init.requestId === 'string' ? init.requestId : requestIdOf(init.request as Request | undefined),
    }),
    plugins,
  });

  function attach(server: Server): () => Promise<void> {
    const wss = new WebSocketServer({ noServer: true });
    const enveloped = new WeakMap<object, ReturnType<typeof yoga.getEnveloped>>();
    const operationKeys = new WeakMap<object, string>();

    const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      const pathname = new URL(req.url ?? '/', 'http://localhost').pathname;
      if (pathname !== path) {
        socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      const offered = String(req.headers['sec-websocket-protocol'] ?? '')
        .split(',')
        .map((p) => p.trim());
      if (!offered.includes(GRAPHQL_WS_PROTOCOL)) {
        const body = `only the ${GRAPHQL_WS_PROTOCOL} WebSocket subprotocol is accepted\n`;
        socket.end(
          `HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${new TextEncoder().encode(body).length}\r\n\r\n${body}`,
        );
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    };
    server.on('upgrade', onUpgrade);

    const disposable = useWsTransport(
      {
        onConnect(ctx) {
          if (tokens.length === 0) return true;
          const p = ctx.connectionParams ?? {};
          const auth = p.authorization ?? p.Authorization ?? (typeof p.token === 'string' ? `Bearer ${p.token}` : undefined);
          if (tokenAccepted(tokens, auth)) return true;
          ctx.extra.socket.close(WS_CLOSE_UNAUTHENTICATED, 'UNAUTHENTICATED: missing or invalid bearer token in connection_init');
          return false;
        },
        async onSubscribe(ctx, _id, payload) {
          const requestId = newRequestId();
          const env = yoga.getEnveloped({ request: undefined, requestId, params: payload, socket: ctx.extra.socket });
          let document: ExecutionArgs['document'];
          try {
            // graphql-armor throws from parse (tokens) and from validation rules (depth, aliases, cost).
            document = env.parse(payload.query);
            const errors = env.validate(env.schema, document);
            if (errors.length > 0) return errors.map((e: GraphQLError) => toContractError(e, requestId, logger));
          } catch (e) {
            return [toContractError(e, requestId, logger)];
          }
          const contextValue = (await env.contextFactory()) as unknown as OperationContext;
          enveloped.set(contextValue, env);
          operationKeys.set(contextValue, `${payload.operationName ?? ''}\u0000${JSON.stringify(payload.variables ?? null)}\u0000${payload.query}`);
          return {
            schema: env.schema,
            document,
            operationName: payload.operationName,
            variableValues: payload.variables,
            contextValue,
          };
        },
        execute: (args) => enveloped.get(args.contextValue as object)!.execute(args),
        // one execution per live item and operation, shared by every subscriber of that operation
        subscribe: (args) => subscribeShared(args, operationKeys.get(args.contextValue as object) ?? ''),
        onNext(_ctx, _id, _payload, args, result) {
          const requestId = (args.contextValue as OperationContext).requestId;
          return mapResultErrors(result as ExecutionResult, requestId, logger, false);
        },
      },
      wss,
      { keepAliveMs: options.keepAliveMs ?? 12_000, logger },
    );

    return async () => {
      server.off('upgrade', onUpgrade);
      await disposable.dispose();
    };
  }

  return {
    yoga,
    handler: (req, res) => {
      void yoga(req, res);
    },
    attach,
  };
}
