export type { DataLakeReadFilter, DataLakeSink, DataLakeSinkOptions } from './data-lake/data-lake-sink.ts';
export { createDataLakeSink } from './data-lake/data-lake-sink.ts';
export type { LogTopicSinkOptions } from './log-topic/log-topic-sink.ts';
export { createLogTopicSink } from './log-topic/log-topic-sink.ts';
export type { Sink } from './port.ts';
export type { PostgresSinkOptions } from './postgres/postgres-sink.ts';
export { createPostgresSink } from './postgres/postgres-sink.ts';
export { SinkSpanAttr, tracedSink } from './traced.ts';
