/** The shapes every area shares: events, event types, window results, dead letters, errors, the partitioner. */
export * from './crc32.ts';
export * from './dead-letter.ts';
export * from './errors.ts';
export * from './event-types.ts';
export * from './event.ts';
export * from './partitioner.ts';
export * from './window-result.ts';
export * from './shape.ts';
