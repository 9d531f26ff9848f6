/** Ingest: validation of published events, idempotency (dedupe), append to the log. */
export * from './dedupe/log-resolver.ts';
export * from './dedupe/memory.ts';
export * from './dedupe/port.ts';
export * from './dedupe/redis.ts';
export * from './dedupe/test-hooks.ts';
export * from './ingest.ts';
