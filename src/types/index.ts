/** Users' event types: the definitions file, the durable shared store (file / compacted topic), JSON Schema payload checks, and the catalog that keeps every node's registry current. */
export * from './catalog.ts';
export * from './definitions-file.ts';
export * from './json-schema.ts';
export * from './store.ts';
