export type { CheckpointStore, CheckpointWrite, FinalWrite, PartitionCheckpoint } from './port.ts';
export { createFileCheckpoints } from './file/file-checkpoints.ts';
export type { FileCheckpointStore, FileCheckpointsOptions } from './file/file-checkpoints.ts';
export { createRedisCheckpoints } from './redis/checkpoints.ts';
export type { RedisCheckpointsOptions } from './redis/checkpoints.ts';
export * from './redis/client.ts';
