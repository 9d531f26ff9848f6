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
  replayGap: 'keyflow_replay_gap_records_total',
  liveReplaysDropped: 'keyflow_live_replays_dropped_total',
  subscriptionsRateLimited: 'keyflow_subscriptions_rate_limited_total',
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
  /** Of a subscription message's send span: `ws` or `sse`. */
  subscriptionTransport: 'keyflow.subscription.transport',
  /** Of a graphql-ws send span: the operation id. */
  subscriptionId: 'keyflow.subscription.id',
  messageBytes: 'messaging.message.body.size',
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
  /** A damaged file was set aside, rebuilt or cut back; the line names the file. */
  fileDamaged: 'file.damaged',
  /** The embedded log lost records that had been flushed (damage): the line names the partition and the range. */
  logDataLost: 'log.data_lost',
  /** The disk refused a write of the embedded log (full, I/O error): appends fail retriably, consumption pauses. */
  logStorageFault: 'log.storage_fault',
  /** Writes of the embedded log succeed again after a storage fault. */
  logStorageRecovered: 'log.storage_recovered',
  /** A partition resumes where the log cannot serve it (checkpoint below the retained start or past the end). */
  logReplayGap: 'log.replay_gap',
  /** The embedded dedupe rebuilt its receipts from the log at start: the line has the counts and the time taken. */
  dedupeRecovered: 'dedupe.recovered',
  /** A publish found a claim its gateway left pending (it died mid-publish) and looked for the event in the log. */
  dedupeStaleClaim: 'dedupe.stale_claim',
  subscriptionFailed: 'subscription.failed',
  subscriptionRateLimited: 'subscription.rate_limited',
} as const;
