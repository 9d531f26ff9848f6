/**
 * `buildApp(config)` assembles a node from its configuration: the adapters of every port
 * (embedded or distributed), the processor role, the gateway role (GraphQL over HTTP and
 * WebSocket), telemetry, and their lifecycle. `main.ts` only parses the command line and calls it.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { createProcessor, createRollupReader, createWindowReader, type Processor, type ProcessorOptions, parseWindowSpecs } from '../actors/index.ts';
import type { LiveBus } from '../bus/index.ts';
import { createInProcessBus, createLiveFeed, createNatsBus } from '../bus/index.ts';
import { type Clock, createLogger, createMetrics, createTracing, LifecycleEvent, type Logger, type Metrics, observeSinkWrite, systemClock, type Tracing } from '../core/index.ts';
import { type ApiServices, createGraphQLServer, createHealthCheck, type Health } from '../graphql/index.ts';
import type { Dedupe } from '../ingest/index.ts';
import { createIngest, createLogClaimResolver, createMemoryDedupe, createRedisDedupe, withHangAfterAppendHook } from '../ingest/index.ts';
import { runProducer } from '../loadgen/index.ts';
import type { EventLog } from '../log/index.ts';
import {
  createEventTypeRegistry,
  DEFAULT_EVENT_TYPES,
  ErrorCode,
  isKeyflowError,
  KeyflowError,
  SYSTEM_TOPICS,
} from '../model/index.ts';
import { redriveDeadLetters, redriveStates } from '../redrive/index.ts';
import { createFileSchemaStore, createLogSchemaStore, createSchemaRegistry } from '../schemas/index.ts';
import { createDataLakeSink, createLogTopicSink, createPostgresSink, createProcessedLake, type ProcessedLake, type Sink, tracedSink } from '../sinks/index.ts';
import { type CheckpointStore, createFileCheckpoints, createRedisCheckpoints } from '../state/index.ts';
import { createAccess } from './access.ts';
import { createCatalog, createEventLog } from './adapters.ts';
import type { Config } from './config.ts';
import { detectPlatform, type Platform } from './platform.ts';

export type Role = 'gateway' | 'processor';

/** The sink, with each write's duration and failures in keyflow_sink_write_*. */
function instrumentSink(sink: Sink, metrics: Metrics): Sink {
  return {
    name: sink.name,
    start: () => sink.start(),
    close: () => sink.close(),
    healthy: () => sink.healthy(),
    write: (results) => observeSinkWrite(metrics, sink.name, () => sink.write(results)),
  };
}

/** keyflow's version from package.json (build_info). */
function packageVersion(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version?: string }).version ?? 'unknown';
  } catch {
    return 'unknown';
  }
}

/** /health, /ready and /metrics for a node without the GraphQL server (same answers as the gateway's routes). */
async function serveOps(url: string, res: ServerResponse, health: () => Promise<Health>, metrics: Metrics): Promise<void> {
  const path = url.split('?')[0];
  if (path === '/metrics') {
    res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(await metrics.registry.metrics());
    return;
  }
  if (path !== '/health' && path !== '/ready') {
    res.writeHead(404).end();
    return;
  }
  const h = await health();
  const ok = path === '/health' ? h.status === 'ok' : h.components.every((c) => c.connected);
  const body = path === '/health' ? h : { ready: ok, components: h.components };
  res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(body));
}

export interface AppOptions {
  /** @default ['gateway', 'processor'] */
  roles?: Role[];
  platform?: Platform;
  /** Run the load generator in-process so windows fill up on their own. @default false */
  demo?: boolean;
  /** @default systemClock */
  clock?: Clock;
  logger?: Logger;
  /** Tracing to use instead of the one the configuration describes (tests pass an in-memory exporter). */
  tracing?: Tracing;
}

export interface App {
  start(): Promise<void>;
  /** Stops serving, checkpoints every owned partition, closes every adapter. */
  stop(): Promise<void>;
  /** The GraphQL URL once started (gateway role). */
  readonly url: string;
  readonly config: Config;
  readonly metrics: Metrics;
  readonly processor: Processor | undefined;
  readonly log: EventLog;
}

/**
 * @example
 * const app = await buildApp(loadConfig(), { roles: ['gateway', 'processor'] });
 * await app.start(); // GraphQL on http://localhost:4000/graphql
 */
export async function buildApp(config: Config, options: AppOptions = {}): Promise<App> {
  const roles = new Set(options.roles ?? ['gateway', 'processor']);
  const platform = options.platform ?? detectPlatform();
  const clock = options.clock ?? systemClock;
  const nodeId = config.KEYFLOW_NODE_ID ?? platform.defaultNodeId();
  const logger = options.logger ?? createLogger({ level: config.KEYFLOW_LOG_LEVEL, base: { node: nodeId, roles: [...roles].join('+') } });
  const distributed = config.mode === 'distributed';
  if (!distributed && roles.size < 2) {
    throw new KeyflowError(
      ErrorCode.INVALID_CONFIG,
      'the gateway and processor roles run apart only in distributed mode: set KAFKA_BROKERS, REDIS_URL and NATS_URL, or use `keyflow start`',
    );
  }

  let windows: ReturnType<typeof parseWindowSpecs>;
  try {
    windows = parseWindowSpecs(config.KEYFLOW_WINDOWS);
  } catch (cause) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `KEYFLOW_WINDOWS: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
  const registry = createEventTypeRegistry(DEFAULT_EVENT_TYPES);
  const metrics = createMetrics(undefined, { build: { version: packageVersion(), runtime: platform.runtime, runtimeVersion: platform.version } });
  const tracing = options.tracing ?? createTracing({ endpoint: config.OTEL_EXPORTER_OTLP_ENDPOINT, serviceName: config.OTEL_SERVICE_NAME });
  const prefix = config.KEYFLOW_KEY_PREFIX;

  const log = createEventLog(config, { logger, clock, nodeId });
  const catalog = createCatalog(config, { log, registry, clock, logger });
  const schemas = createSchemaRegistry({
    store: distributed ? createLogSchemaStore({ log }) : createFileSchemaStore({ dataDir: config.KEYFLOW_DATA_DIR }),
    clock,
    logger: logger.child({ component: 'schemas' }),
    pollMs: config.KEYFLOW_EVENT_TYPES_POLL_MS,
  });
  const checkpoints: CheckpointStore = distributed
    ? createRedisCheckpoints({ url: config.REDIS_URL!, keyPrefix: prefix, resultRetentionMs: config.KEYFLOW_RESULT_RETENTION })
    : createFileCheckpoints({ dataDir: config.KEYFLOW_DATA_DIR, logger: logger.child({ component: 'checkpoints' }) });
  const bus: LiveBus = distributed
    ? createNatsBus({ servers: config.NATS_URL!, prefix, name: `keyflow-${nodeId}`, interest: { ttlMs: config.KEYFLOW_INTEREST_TTL_MS }, ...(tracing.enabled ? { tracer: tracing.tracer } : {}) })
    : createInProcessBus({ logger: logger.child({ component: 'bus' }), ...(tracing.enabled ? { tracer: tracing.tracer } : {}) });
  const baseDedupe: Dedupe = distributed
    ? createRedisDedupe({
        url: config.REDIS_URL!,
        keyPrefix: prefix,
        ttlMs: config.KEYFLOW_DEDUPE_HORIZON,
        pendingTtlMs: config.KEYFLOW_DEDUPE_STALE_CLAIM_MS,
        // a claim left pending by a gateway that died mid-publish is looked up in the log
        resolveStale: createLogClaimResolver({ log }),
        logger: logger.child({ component: 'dedupe' }),
      })
    : createMemoryDedupe({
        maxEntries: config.KEYFLOW_DEDUPE_MAX_ENTRIES,
        ttlMs: config.KEYFLOW_DEDUPE_HORIZON,
        clock,
        // the horizon survives a crash: the receipts are rebuilt from the log before the API serves
        recover: { log, topics: () => registry.all().map((t) => t.topic), logger: logger.child({ component: 'dedupe' }) },
      });

  const dedupe = config.KEYFLOW_TEST_HOOKS ? withHangAfterAppendHook(baseDedupe) : baseDedupe;

  const sinks: Sink[] = [];
  let processedLake: ProcessedLake | undefined;
  if (roles.has('processor')) {
    const lakeDir = config.KEYFLOW_DATA_LAKE_DIR ?? join(config.KEYFLOW_DATA_DIR, 'lake');
    if (config.KEYFLOW_SINKS.has('aggregated')) sinks.push(createLogTopicSink({ log }));
    if (config.KEYFLOW_SINKS.has('data-lake')) {
      sinks.push(createDataLakeSink({ dir: lakeDir }));
      processedLake = createProcessedLake({ dir: lakeDir });
    }
    if (config.DATABASE_URL) sinks.push(createPostgresSink({ connectionString: config.DATABASE_URL }));
    for (let i = 0; i < sinks.length; i++) sinks[i] = instrumentSink(tracing.enabled ? tracedSink(sinks[i]!, tracing.tracer) : sinks[i]!, metrics);
  }

  const hostSettings: ProcessorOptions['host'] = {
    windows,
    maxOutOfOrderMs: config.KEYFLOW_MAX_OUT_OF_ORDER_MS,
    allowedLatenessMs: config.KEYFLOW_ALLOWED_LATENESS_MS,
    latePolicy: config.KEYFLOW_LATE_POLICY,
    idleTimeoutMs: config.KEYFLOW_IDLE_TIMEOUT_MS,
    maxFutureSkewMs: config.KEYFLOW_MAX_FUTURE_SKEW_MS,
    resultRetentionMs: config.KEYFLOW_RESULT_RETENTION,
    passivateAfterMs: config.KEYFLOW_PASSIVATE_AFTER_MS,
    maxTimersPerRound: config.KEYFLOW_MAX_TIMERS_PER_ROUND,
    emitUpdates: config.KEYFLOW_EMIT_UPDATES,
    rollups: config.KEYFLOW_ROLLUPS,
    honourPoisonMarker: config.KEYFLOW_TEST_HOOKS,
    retry: { maxRetries: config.KEYFLOW_MAX_RETRIES, baseDelayMs: config.KEYFLOW_RETRY_BASE_MS },
  };

  const processor = roles.has('processor')
    ? createProcessor({
        log,
        checkpoints,
        bus,
        sinks,
        registry,
        schemas,
        ...(processedLake ? { processedLake } : {}),
        groupId: distributed ? config.KAFKA_GROUP_ID : 'keyflow-embedded',
        topics: registry.all().map((t) => t.topic),
        host: hostSettings,
        clock,
        checkpointIntervalMs: config.KEYFLOW_CHECKPOINT_INTERVAL_MS,
        maxCheckpointBytes: config.KEYFLOW_MAX_CHECKPOINT_BYTES,
        maxUncommittedRecords: config.KEYFLOW_MAX_UNCOMMITTED_RECORDS,
        publishEvents: config.KEYFLOW_LIVE_BUS,
        publishResults: config.KEYFLOW_LIVE_BUS,
        metrics,
        logger: logger.child({ component: 'processor' }),
        tracer: tracing.tracer,
      })
    : undefined;

  const components: Record<string, () => Promise<{ connected: boolean; detail?: string }>> = {
    broker: () => log.healthy(),
    checkpoints: () => checkpoints.healthy(),
    bus: () => bus.healthy(),
  };
  for (const sink of sinks) components[`sink:${sink.name}`] = () => sink.healthy();
  const health = createHealthCheck({ mode: config.mode, components });

  let http: Server | undefined;
  let closeGraphQL: (() => Promise<void>) | undefined;
  let url = '';
  let demo: AbortController | undefined;
  let demoRun: Promise<unknown> | undefined;
  const started: { close(): Promise<void> }[] = [];

  async function startAdapters(): Promise<void> {
    if (!distributed) mkdirSync(config.KEYFLOW_DATA_DIR, { recursive: true });
    for (const adapter of [log, checkpoints, bus, ...sinks]) {
      await adapter.start();
      started.push(adapter);
    }
    await log.ensureTopics([...registry.all().map((t) => ({ name: t.topic, partitions: t.partitions })), ...SYSTEM_TOPICS]);
    // the registered Avro / Protobuf schemas, then kept current from their store like the types
    await schemas.start();
    started.push(schemas);
    // the stored and declared types (their topics created), then kept current from the store
    await catalog.start();
    started.push(catalog);
    if (processor) {
      await processor.addTopics(registry.all().map((t) => t.topic)); // not started yet: only the list grows
      // a type registered on any node: its topic is consumed from now on, without a restart
      registry.onChange((spec, previous) => {
        if (previous?.topic === spec.topic) return;
        processor.addTopics([spec.topic]).catch((err: unknown) => logger.error({ err, topic: spec.topic }, 'could not subscribe to the topic of a new event type'));
      });
    }
  }

  const app: App = {
    config,
    metrics,
    processor,
    log,
    get url() {
      return url;
    },
    async start() {
      try {
        await startAdapters();
        if (roles.has('gateway')) {
          await dedupe.start?.();
          const services: ApiServices = {
            mode: config.mode,
            registry,
            windowNames: windows.map((w) => w.name),
            log,
            bus,
            live: createLiveFeed({
              bus,
              onListenerError: (err, subject) => logger.warn({ event: LifecycleEvent.subscriptionFailed, err, subject }, 'a subscription failed on a live message; the others still got it'),
              onReplaysDropped: (stream, n) => metrics.liveReplaysDropped.inc({ stream }, n),
            }),
            subscriptionBuffer: config.KEYFLOW_SUBSCRIPTION_BUFFER,
            reader: createWindowReader({ registry, local: processor?.local, bus, checkpoints, host: hostSettings, clock, logger }),
            rollups: config.KEYFLOW_ROLLUPS
              ? createRollupReader({ registry, windowNames: windows.map((w) => w.name), local: processor?.local, bus, checkpoints, host: hostSettings, clock, logger })
              : undefined,
            eventTypes: catalog,
            schemas,
            redrive: {
              run: (filter, dryRun) => redriveDeadLetters({ log, registry, filter, dryRun, maxFutureSkewMs: config.KEYFLOW_MAX_FUTURE_SKEW_MS, now: () => clock.now() }),
              states: () => redriveStates(log),
            },
            ingest: createIngest({
              log,
              registry,
              dedupe,
              limits: { maxEventBytes: config.KEYFLOW_MAX_EVENT_BYTES, maxBatch: config.KEYFLOW_MAX_BATCH, maxFutureSkewMs: config.KEYFLOW_MAX_FUTURE_SKEW_MS },
              clock,
            }),
            health,
            limits: {
              maxEventBytes: config.KEYFLOW_MAX_EVENT_BYTES,
              maxBatch: config.KEYFLOW_MAX_BATCH,
              maxQueryDepth: config.KEYFLOW_MAX_QUERY_DEPTH,
              maxAliases: config.KEYFLOW_MAX_ALIASES,
              maxCost: config.KEYFLOW_MAX_QUERY_COST,
              maxDirectives: config.KEYFLOW_MAX_DIRECTIVES,
              maxQueryTokens: config.KEYFLOW_MAX_QUERY_TOKENS,
              maxTokensPerEvent: config.KEYFLOW_MAX_TOKENS_PER_EVENT,
            },
            metrics,
            logger: logger.child({ component: 'graphql' }),
          };
          const access = createAccess(config, logger.child({ component: 'auth' }));
          await access.start();
          started.push(access);
          const gql = createGraphQLServer(services, {
            authenticator: access.authenticator,
            rateLimits: access.rateLimits,
            cors: { origins: config.KEYFLOW_CORS_ORIGINS, credentials: config.KEYFLOW_CORS_CREDENTIALS },
            trustProxy: config.KEYFLOW_TRUST_PROXY,
            maxRequestBodyBytes: config.KEYFLOW_MAX_REQUEST_BYTES,
            graphiql: config.KEYFLOW_GRAPHIQL,
            dashboard: config.KEYFLOW_DASHBOARD,
            ws: {
              maxPayloadBytes: config.KEYFLOW_WS_MAX_PAYLOAD_BYTES,
              maxOperations: config.KEYFLOW_WS_MAX_SUBSCRIPTIONS,
              maxConnectionsPerIdentity: config.KEYFLOW_WS_MAX_CONNECTIONS_PER_IDENTITY,
              maxBufferedBytes: config.KEYFLOW_WS_MAX_BUFFERED_BYTES,
            },
            tracerProvider: tracing.enabled ? tracing.provider : undefined,
          });
          http = createServer(gql.handler);
          closeGraphQL = gql.attach(http);
          await new Promise<void>((resolve, reject) => {
            http!.once('error', reject);
            http!.listen(config.KEYFLOW_PORT, config.KEYFLOW_HOST, () => resolve());
          });
          const port = (http.address() as AddressInfo).port;
          url = `http://localhost:${port}/graphql`;
        }
        await processor?.start();
        if (!roles.has('gateway') && config.KEYFLOW_OPS_PORT !== undefined) {
          // A processor has no GraphQL, but operators still scrape and probe it.
          http = createServer((req, res) => void serveOps(req.url ?? '/', res, health, metrics));
          await new Promise<void>((resolve, reject) => {
            http!.once('error', reject);
            http!.listen(config.KEYFLOW_OPS_PORT, config.KEYFLOW_HOST, () => resolve());
          });
        }
        logger.info({ event: LifecycleEvent.nodeStarted, mode: config.mode, url, runtime: `${platform.runtime} ${platform.version}` }, `keyflow started${url ? ` — GraphQL at ${url}` : ''}`);
        if (options.demo && url) {
          demo = new AbortController();
          demoRun = runProducer({ url, rate: 200, durationMs: null, count: null, batch: 50, signal: demo.signal }).catch((e: unknown) =>
            logger.warn({ err: e }, 'demo producer stopped'),
          );
        }
      } catch (e) {
        await app.stop().catch(() => {});
        if (isKeyflowError(e)) throw e;
        throw new KeyflowError(ErrorCode.INTERNAL, `start-up failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e });
      }
    },
    async stop() {
      logger.info({ event: LifecycleEvent.nodeStopping }, 'keyflow stopping');
      demo?.abort();
      await demoRun;
      await closeGraphQL?.();
      if (http) await new Promise<void>((resolve) => http!.close(() => resolve()));
      http = undefined;
      await processor?.stop();
      await dedupe.close();
      for (const adapter of started.reverse()) await adapter.close().catch((e: unknown) => logger.warn({ err: e }, 'close failed'));
      started.length = 0;
      await tracing.shutdown();
      logger.flush?.();
    },
  };
  return app;
}
