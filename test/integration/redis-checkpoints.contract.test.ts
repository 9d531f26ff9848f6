import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { createRedisCheckpoints, deleteRedisKeysWithPrefix } from '../../src/state/redis/checkpoints.ts';
import { assertReachable, hostPortOf, requireRedis } from '../helpers/services.ts';
import { describeCheckpointStoreContract } from '../contract/checkpoint-store.contract.ts';

describeCheckpointStoreContract('redis store', async () => {
  const { url } = requireRedis();
  // A missing Redis fails the suite here, loudly, instead of skipping it.
  await assertReachable('Redis', hostPortOf(url, 6379));
  const keyPrefix = `kft-contract-${randomUUID()}`;
  return {
    open: () => createRedisCheckpoints({ url, keyPrefix }),
    topicPrefix: 'contract',
    cleanup: async () => {
      const admin = new Redis(url, { maxRetriesPerRequest: 1 });
      try {
        await deleteRedisKeysWithPrefix(admin, keyPrefix);
      } finally {
        await admin.quit();
      }
    },
  };
});
