/** The event-type store adapters that need no service: the data-dir file, and the log-topic store on the in-memory log. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileEventTypeStore, createLogEventTypeStore } from '../../src/types/index.ts';
import { describeEventTypeStoreContract } from '../contract/event-type-store.contract.ts';
import { createMemoryLog } from '../helpers/memory-log.ts';
import { tempDir } from '../helpers/wait.ts';

describeEventTypeStoreContract('data-dir file', async () => {
  const tmp = await tempDir('keyflow-typestore-');
  return { open: () => createFileEventTypeStore({ dataDir: tmp.dir }), cleanup: () => tmp.remove() };
});

describeEventTypeStoreContract('log topic (in-memory log)', async () => {
  const log = createMemoryLog();
  return { open: () => createLogEventTypeStore({ log }), cleanup: async () => {} };
});

describe('data-dir file store', () => {
  it('a damaged file stops the node with INVALID_CONFIG naming it, instead of starting without the registered types', async () => {
    const tmp = await tempDir('keyflow-typestore-');
    try {
      await writeFile(join(tmp.dir, 'event-types.json'), '{"types": [');
      await expect(createFileEventTypeStore({ dataDir: tmp.dir }).load()).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringContaining('event-types.json') });
    } finally {
      await tmp.remove();
    }
  });
});
