/** Window semantics: specs, assigners, aggregates, watermark, late policies and the KeyActor reducer. Pure, no I/O. */
export type { KeyStateView, LatePolicy, WindowQuery, WindowReader, WindowResult } from '../../model/index.ts';
export type {
  KeyActorConfig,
  KeyActorLogic,
  KeyActorMessage,
  KeyActorState,
  TransitionResult,
  WindowChangeSink,
} from '../key-actor/key-actor.ts';
export { createKeyActorLogic, NO_SINK, POISON_MARKER } from '../key-actor/key-actor.ts';
export type { AggregateValues } from './aggregate.ts';
export { aggregateOf, numericValue } from './aggregate.ts';
export type { TimeWindow } from './assign.ts';
export { assignWindows, isWindowExpired, isWindowFinal, tumblingStart } from './assign.ts';
export type { WindowKind, WindowSpec } from './spec.ts';
export { DEFAULT_WINDOWS, parseDuration, parseWindowSpec, parseWindowSpecs } from './spec.ts';
export type { WatermarkOptions, WatermarkState } from './watermark.ts';
export { advanceIdle, initialWatermark, observeEventTime, touchPartition } from './watermark.ts';
