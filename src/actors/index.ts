/** The actor system: PartitionHost (per topic partition) hosting KeyActors, with supervision and passivation. */
export type { PartitionHost, PartitionHostOptions, PartitionMetrics, PartitionOutput, PartitionStateView } from './partition-host.ts';
export { actorIdFor, createPartitionHost, readPartitionState } from './partition-host.ts';
export type { FailureDecision, FailurePolicy, FailureStage, ProcessingFailure, RetryOptions } from './supervision.ts';
export { backoffDelay, defaultFailurePolicy } from './supervision.ts';
export { POISON_MARKER } from '../windows/key-actor.ts';
