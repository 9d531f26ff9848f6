/** The shapes every area shares, each declared once as a zod schema (events, window results, key state, dead letters), plus event types, errors, the partitioner and the bounds of accepted input (timestamps, JSON data, event time and value). */
export * from './crc32.ts';
export * from './dead-letter.ts';
export * from './enrichment.ts';
export * from './errors.ts';
export * from './event-types.ts';
export * from './event.ts';
export * from './event-bounds.ts';
export * from './partitioner.ts';
export * from './json-data.ts';
export * from './shape.ts';
export * from './timestamp.ts';
export * from './window-result.ts';
