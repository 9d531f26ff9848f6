/** The Prometheus metrics of a node, on a registry that is passed in (never the global one). */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { MetricName } from './names.ts';

export interface Metrics {
  readonly registry: Registry;
  readonly eventsIngested: Counter<'topic'>;
  readonly eventsProcessed: Counter<'topic'>;
  readonly eventsLate: Counter<'topic' | 'policy'>;
  readonly eventsDeadLettered: Counter<'topic' | 'error_type'>;
  readonly processingLatency: Histogram<'topic'>;
  readonly activeActors: Gauge<'topic'>;
  readonly checkpointDuration: Histogram<'store'>;
  readonly checkpointFailures: Counter<'reason'>;
  readonly checkpointBytes: Histogram<'store'>;
  readonly checkpointBacklog: Gauge<'topic' | 'partition'>;
  readonly consumerLag: Gauge<'topic' | 'partition'>;
  readonly watermarkLag: Gauge<'topic' | 'partition'>;
  readonly rebalances: Counter<'event'>;
  readonly windowResultsEmitted: Counter<'event_type' | 'final'>;
  readonly graphqlRequests: Counter<'operation' | 'status'>;
  readonly graphqlDuration: Histogram<'operation'>;
  readonly partitionsOwned: Gauge<'topic'>;
  readonly replayGap: Counter<'topic' | 'partition' | 'reason'>;
  readonly liveReplaysDropped: Counter<'stream'>;
  readonly subscriptionsRateLimited: Counter<'field'>;
  readonly requestsRejected: Counter<'code' | 'transport'>;
  readonly websocketConnections: Gauge;
  readonly websocketOperations: Counter<'outcome'>;
  readonly subscriptionsActive: Gauge;
  readonly sinkWriteDuration: Histogram<'sink'>;
  readonly sinkWriteErrors: Counter<'sink'>;
  readonly dedupeHits: Counter<'topic'>;
  readonly buildInfo: Gauge<'version' | 'runtime' | 'runtime_version'>;
}

export interface MetricsOptions {
  /** Register the standard process and Node.js metrics (process_cpu_seconds_total, nodejs_heap_size_used_bytes, …) under their usual names. @default true */
  defaultMetrics?: boolean;
  /** Labels of keyflow_build_info. @default version 'unknown', the running runtime */
  build?: { version: string; runtime?: string; runtimeVersion?: string };
}

export function createMetrics(registry: Registry = new Registry(), options: MetricsOptions = {}): Metrics {
  // No prefix: community dashboards and alerts look for process_* and nodejs_* as they are.
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });
  const r = [registry];
  const counter = <L extends string>(name: string, help: string, labelNames: L[]) => new Counter<L>({ name, help, labelNames, registers: r });
  const gauge = <L extends string>(name: string, help: string, labelNames: L[]) => new Gauge<L>({ name, help, labelNames, registers: r });
  const histogram = <L extends string>(name: string, help: string, labelNames: L[], buckets: number[]) =>
    new Histogram<L>({ name, help, labelNames, buckets, registers: r });
  const SECONDS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];
  return {
    registry,
    eventsIngested: counter(MetricName.eventsIngested, 'Events appended to the log through the API', ['topic']),
    eventsProcessed: counter(MetricName.eventsProcessed, 'Records processed by the actors', ['topic']),
    eventsLate: counter(MetricName.eventsLate, 'Late events by policy', ['topic', 'policy']),
    eventsDeadLettered: counter(MetricName.eventsDeadLettered, 'Records written to the dead-letter topic', ['topic', 'error_type']),
    processingLatency: histogram(MetricName.processingLatency, 'Time from append to processed, seconds', ['topic'], [...SECONDS, 5, 10]),
    activeActors: gauge(MetricName.activeActors, 'Actors in memory', ['topic']),
    checkpointDuration: histogram(MetricName.checkpointDuration, 'Checkpoint commit duration, seconds', ['store'], SECONDS),
    checkpointFailures: counter(MetricName.checkpointFailures, 'Failed checkpoint commits', ['reason']),
    checkpointBytes: histogram(
      MetricName.checkpointBytes,
      'Size of one checkpoint commit (actor snapshots, finals, partition state), bytes',
      ['store'],
      [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216],
    ),
    checkpointBacklog: gauge(MetricName.checkpointBacklog, 'Records processed but not yet covered by a committed checkpoint', ['topic', 'partition']),
    consumerLag: gauge(MetricName.consumerLag, 'Records on the log past the next offset to process (log end offset - position), sampled apart from processing', ['topic', 'partition']),
    watermarkLag: gauge(MetricName.watermarkLag, "Processing time minus the partition's event-time watermark, seconds", ['topic', 'partition']),
    rebalances: counter(MetricName.rebalances, 'Consumer-group rebalances seen by this processor, by what they did here (assigned, revoked)', ['event']),
    windowResultsEmitted: counter(MetricName.windowResultsEmitted, 'Window results emitted', ['event_type', 'final']),
    graphqlRequests: counter(MetricName.graphqlRequests, 'GraphQL operations', ['operation', 'status']),
    graphqlDuration: histogram(MetricName.graphqlDuration, 'GraphQL operation duration, seconds', ['operation'], [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1]),
    partitionsOwned: gauge(MetricName.partitionsOwned, 'Partitions this processor owns', ['topic']),
    replayGap: counter(
      MetricName.replayGap,
      'Records a partition resumed past without processing them: its checkpoint was below the log start (retention) or past the log end (lost log data)',
      ['topic', 'partition', 'reason'],
    ),
    liveReplaysDropped: counter(MetricName.liveReplaysDropped, 'Live events / window results a gateway dropped as replays of a partition\'s new owner', ['stream']),
    subscriptionsRateLimited: counter(MetricName.subscriptionsRateLimited, 'Subscriptions ended with RATE_LIMITED: their client read too slowly', ['field']),
    requestsRejected: counter(MetricName.requestsRejected, 'API requests and WebSocket operations refused, by contract code (UNAUTHENTICATED, FORBIDDEN, RATE_LIMITED, QUERY_TOO_COMPLEX, …) and transport', ['code', 'transport']),
    websocketConnections: gauge(MetricName.websocketConnections, 'Open GraphQL WebSockets', []),
    websocketOperations: counter(MetricName.websocketOperations, 'WebSocket subscribe messages by outcome (accepted, invalid, or the refusal code)', ['outcome']),
    subscriptionsActive: gauge(MetricName.subscriptionsActive, 'GraphQL operations running on WebSockets (mostly subscriptions)', []),
    sinkWriteDuration: histogram(MetricName.sinkWriteDuration, 'Duration of one sink write (a checkpoint round of finals), seconds', ['sink'], [...SECONDS, 5, 10]),
    sinkWriteErrors: counter(MetricName.sinkWriteErrors, 'Failed sink writes (retried at the next checkpoint)', ['sink']),
    dedupeHits: counter(MetricName.dedupeHits, 'Publishes answered DUPLICATE (an eventId seen within the dedupe horizon)', ['topic']),
    buildInfo: buildInfo(registry, options.build),
  };
}

function buildInfo(registry: Registry, build: MetricsOptions['build']): Gauge<'version' | 'runtime' | 'runtime_version'> {
  const g = new Gauge({ name: MetricName.buildInfo, help: 'Always 1; labels say which keyflow build runs on which runtime', labelNames: ['version', 'runtime', 'runtime_version'] as const, registers: [registry] });
  const deno = (globalThis as { Deno?: { version: { deno: string } } }).Deno;
  g.set(
    {
      version: build?.version ?? 'unknown',
      runtime: build?.runtime ?? (deno ? 'deno' : 'node'),
      runtime_version: build?.runtimeVersion ?? (deno ? deno.version.deno : process.versions.node),
    },
    1,
  );
  return g;
}

/** Counts window results by event type and by whether they are final (one inc per run of equal labels). */
export function countWindowResults(counter: Counter<'event_type' | 'final'>, results: readonly { eventType: string; final: boolean }[]): void {
  let i = 0;
  while (i < results.length) {
    const { eventType, final } = results[i]!;
    let j = i + 1;
    while (j < results.length && results[j]!.eventType === eventType && results[j]!.final === final) j++;
    counter.inc({ event_type: eventType, final: final ? 'true' : 'false' }, j - i);
    i = j;
  }
}

/** Runs one sink write, observing its duration and counting it when it fails. */
export async function observeSinkWrite<T>(metrics: Pick<Metrics, 'sinkWriteDuration' | 'sinkWriteErrors'>, sink: string, write: () => Promise<T>): Promise<T> {
  const started = performance.now();
  try {
    return await write();
  } catch (e) {
    metrics.sinkWriteErrors.inc({ sink });
    throw e;
  } finally {
    metrics.sinkWriteDuration.observe({ sink }, (performance.now() - started) / 1000);
  }
}
