/** The actor system: PartitionHost (per topic partition) hosting KeyActors, with supervision and passivation. */

export { ENGINE_DEFAULTS } from './defaults.ts';
export { POISON_MARKER } from './key-actor/key-actor.ts';
export type { PartitionHost, PartitionHostOptions, PartitionMetrics, PartitionOutput, PartitionStateView } from './partition-host/partition-host.ts';
export { actorIdFor, createPartitionHost, readPartitionState } from './partition-host/partition-host.ts';
export type { FailureDecision, FailurePolicy, FailureStage, ProcessingFailure, RetryOptions } from './partition-host/supervision.ts';
export { backoffDelay, defaultFailurePolicy } from './partition-host/supervision.ts';
export * from './processor/processor.ts';
export * from './processor/query-router.ts';
export * from './windows/index.ts';
export * from './rollups/index.ts';
