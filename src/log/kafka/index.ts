export type { KafkaLogOptions } from './kafka-log.ts';
export { createKafkaLog } from './kafka-log.ts';
export type { KafkaAdapterLogger, KafkaLogLevel } from './logger.ts';
export { pinoLogCreator } from './logger.ts';
export type { KafkaSaslMechanism, KafkaSecurity, KafkaSecuritySettings } from './security.ts';
export { kafkaSecurity } from './security.ts';
export type { StickyMember, TopicAssignment } from './sticky-assigner.ts';
export { assignSticky, createStickyAssigner, decodeOwned, encodeOwned, STICKY_PROTOCOL } from './sticky-assigner.ts';
