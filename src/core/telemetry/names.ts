/** Metric names and span attribute keys, in one place. Dashboards and alerts in infra/ use these names. */

export const MetricName = {
  eventsIngested: 'keyflow_events_ingested_total',
  eventsProcessed: 'keyflow_events_processed_total',
  eventsLate: 'keyflow_events_late_total',
  eventsDeadLettered: 'keyflow_events_dead_lettered_total',
  processingLatency: 'keyflow_processing_latency_seconds',
  activeActors: 'keyflow_active_actors',
  checkpointDuration: 'keyflow_checkpoint_duration_seconds',
  checkpointFailures: 'keyflow_checkpoint_failures_total',
  checkpointBytes: 'keyflow_checkpoint_bytes',
  checkpointBacklog: 'keyflow_checkpoint_backlog_records',
  consumerLag: 'keyflow_consumer_lag_records',
  watermarkLag: 'keyflow_watermark_lag_seconds',
  rebalances: 'keyflow_rebalances_total',
  windowResultsEmitted: 'keyflow_window_results_emitted_total',
  graphqlRequests: 'keyflow_graphql_requests_total',
  graphqlDuration: 'keyflow_graphql_request_duration_seconds',
  partitionsOwned: 'keyflow_partitions_owned',
  requestsRejected: 'keyflow_requests_rejected_total',
  websocketConnections: 'keyflow_websocket_connections',
  websocketOperations: 'keyflow_websocket_operations_total',
  subscriptionsActive: 'keyflow_subscriptions_active',
  sinkWriteDuration: 'keyflow_sink_write_duration_seconds',
  sinkWriteErrors: 'keyflow_sink_write_errors_total',
  dedupeHits: 'keyflow_dedupe_hits_total',
  buildInfo: 'keyflow_build_info',
} as const;

export const SpanAttr = {
  topic: 'messaging.destination.name',
  partition: 'messaging.destination.partition.id',
  offset: 'messaging.kafka.offset',
  key: 'messaging.kafka.message.key',
  batchSize: 'messaging.batch.message_count',
  eventType: 'keyflow.event_type',
} as const;

/** Lifecycle events, logged with these names (one typed table, like kafkajs instrumentation events). */
export const LifecycleEvent = {
  partitionAssigned: 'partition.assigned',
  partitionRevoked: 'partition.revoked',
  partitionFenced: 'partition.fenced',
  checkpointCommitted: 'checkpoint.committed',
  checkpointFailed: 'checkpoint.failed',
  checkpointBackpressure: 'checkpoint.backpressure',
  actorPassivated: 'actor.passivated',
  recordDeadLettered: 'record.dead_lettered',
  nodeStarted: 'node.started',
  nodeStopping: 'node.stopping',
} as const;
