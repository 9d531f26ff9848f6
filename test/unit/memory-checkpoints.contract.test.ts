import { createMemoryCheckpointBacking } from '../helpers/memory-checkpoints.ts';
import { describeCheckpointStoreContract } from '../contract/checkpoint-store.contract.ts';

describeCheckpointStoreContract('memory store (test helper)', async () => {
  const backing = createMemoryCheckpointBacking();
  return { open: backing.open, topicPrefix: 'contract', cleanup: async () => {} };
});
