export type {
  AppendOptions,
  AppendResult,
  ConsumerHandlers,
  ConsumerOptions,
  EventLog,
  GroupConsumer,
  Headers,
  LogRecord,
  ProduceRecord,
  RecordBatch,
  TopicPartition,
} from './port.ts';
export { tpKey } from './port.ts';
export { createFileLog } from './embedded/file-log.ts';
export type { EmbeddedEventLog, FileLogOptions, AdapterLogger, SegmentFile, SegmentOpener } from './embedded/file-log.ts';
export { createKafkaLog, kafkaSecurity } from './kafka/index.ts';
export type { KafkaLogOptions, KafkaSaslMechanism, KafkaSecuritySettings } from './kafka/index.ts';
export * from './prefixed.ts';
export { checkResumeOffset, resumeOffset } from './resume-offset.ts';
export type { ResumeReport } from './resume-offset.ts';
