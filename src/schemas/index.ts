/** Avro / Protobuf payload schemas: parsing and compatibility, the durable shared registry (ids, subjects, versions), the Confluent wire format, and decoding binary events. */
export * from './decode.ts';
export * from './formats.ts';
export * from './registry.ts';
export * from './store.ts';
export * from './wire.ts';
