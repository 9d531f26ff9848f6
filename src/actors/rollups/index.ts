/** Rollups across keys: per event type and tumbling/sliding window, the aggregate of every key, exact and checkpointed with the partition. */
export { mergeRollups } from './merge.ts';
export type { RollupReaderOptions } from './rollup-reader.ts';
export { createRollupReader, MAX_ROLLUP_TOP } from './rollup-reader.ts';
export type { RollupTypeConfig } from './rollup-state.ts';
export { isRollupId, ROLLUP_ID_PREFIX } from './rollup-state.ts';
export type { Rollup, RollupOrder, RollupPartial, RollupQuery, RollupReader, RollupTally } from './rollup-types.ts';
export { ROLLUP_ORDERS } from './rollup-types.ts';
