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
  readonly windowResultsEmitted: Counter<'event_type' | 'final'>;
  readonly graphqlRequests: Counter<'operation' | 'status'>;
  readonly graphqlDuration: Histogram<'operation'>;
  readonly partitionsOwned: Gauge<'topic'>;
}

export function createMetrics(registry: Registry = new Registry(), options: { defaultMetrics?: boolean } = {}): Metrics {
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'keyflow_' });
  const r = [registry];
  return {
    registry,
    eventsIngested: new Counter({ name: MetricName.eventsIngested, help: 'Events appended to the log through the API', labelNames: ['topic'], registers: r }),
    eventsProcessed: new Counter({ name: MetricName.eventsProcessed, help: 'Records processed by the actors', labelNames: ['topic'], registers: r }),
    eventsLate: new Counter({ name: MetricName.eventsLate, help: 'Late events by policy', labelNames: ['topic', 'policy'], registers: r }),
    eventsDeadLettered: new Counter({ name: MetricName.eventsDeadLettered, help: 'Records written to the dead-letter topic', labelNames: ['topic', 'error_type'], registers: r }),
    processingLatency: new Histogram({
      name: MetricName.processingLatency,
      help: 'Time from append to processed, seconds',
      labelNames: ['topic'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: r,
    }),
    activeActors: new Gauge({ name: MetricName.activeActors, help: 'Actors in memory', labelNames: ['topic'], registers: r }),
    checkpointDuration: new Histogram({
      name: MetricName.checkpointDuration,
      help: 'Checkpoint commit duration, seconds',
      labelNames: ['store'],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: r,
    }),
    checkpointFailures: new Counter({ name: MetricName.checkpointFailures, help: 'Failed checkpoint commits', labelNames: ['reason'], registers: r }),
    checkpointBytes: new Histogram({
      name: MetricName.checkpointBytes,
      help: 'Size of one checkpoint commit (actor snapshots, finals, partition state), bytes',
      labelNames: ['store'],
      buckets: [256, 1024, 4096, 16_384, 65_536, 262_144, 1_048_576, 4_194_304, 16_777_216],
      registers: r,
    }),
    checkpointBacklog: new Gauge({
      name: MetricName.checkpointBacklog,
      help: 'Records processed but not yet covered by a committed checkpoint',
      labelNames: ['topic', 'partition'],
      registers: r,
    }),
    consumerLag: new Gauge({ name: MetricName.consumerLag, help: 'Records on the log not yet processed', labelNames: ['topic', 'partition'], registers: r }),
    windowResultsEmitted: new Counter({ name: MetricName.windowResultsEmitted, help: 'Window results emitted', labelNames: ['event_type', 'final'], registers: r }),
    graphqlRequests: new Counter({ name: MetricName.graphqlRequests, help: 'GraphQL operations', labelNames: ['operation', 'status'], registers: r }),
    graphqlDuration: new Histogram({
      name: MetricName.graphqlDuration,
      help: 'GraphQL operation duration, seconds',
      labelNames: ['operation'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1],
      registers: r,
    }),
    partitionsOwned: new Gauge({ name: MetricName.partitionsOwned, help: 'Partitions this processor owns', labelNames: ['topic'], registers: r }),
  };
}
