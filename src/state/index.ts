export type { CheckpointStore, CheckpointWrite, PartitionCheckpoint } from './port.ts';
export { createFileCheckpoints } from './file/file-checkpoints.ts';
export type { FileCheckpointStore, FileCheckpointsOptions } from './file/file-checkpoints.ts';
