export * from './errors.ts';
export * from './event.ts';
export * from './event-types.ts';
export * from './partitioner.ts';
export * from './dead-letter.ts';
