/** The schema store adapters that need no service: the data-dir file, and the log-topic store on the in-memory log. */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createFileSchemaStore, createLogSchemaStore } from '../../src/schemas/index.ts';
import { describeSchemaStoreContract } from '../contract/schema-store.contract.ts';
import { createMemoryLog } from '../helpers/memory-log.ts';
import { tempDir } from '../helpers/wait.ts';

describeSchemaStoreContract('data-dir file', async () => {
  const tmp = await tempDir('keyflow-schemastore-');
  return { open: () => createFileSchemaStore({ dataDir: tmp.dir }), cleanup: () => tmp.remove() };
});

describeSchemaStoreContract('log topic (in-memory log)', async () => {
  const log = createMemoryLog();
  return { open: () => createLogSchemaStore({ log }), cleanup: async () => {} };
});

describe('data-dir schema file', () => {
  it('a damaged file stops the node with INVALID_CONFIG naming it', async () => {
    const tmp = await tempDir('keyflow-schemastore-');
    try {
      await writeFile(join(tmp.dir, 'schemas.json'), '{"claims": [');
      await expect(createFileSchemaStore({ dataDir: tmp.dir }).readFrom(0)).rejects.toMatchObject({ code: 'INVALID_CONFIG', message: expect.stringContaining('schemas.json') });
    } finally {
      await tmp.remove();
    }
  });
});
