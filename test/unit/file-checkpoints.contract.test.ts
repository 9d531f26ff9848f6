import { appendFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createFileCheckpoints } from '../../src/state/file/file-checkpoints.ts';
import { tempDir } from '../helpers/wait.ts';
import { describeCheckpointStoreContract } from '../contract/checkpoint-store.contract.ts';

describeCheckpointStoreContract('file store', async () => {
  const tmp = await tempDir('keyflow-ckpt-');
  return {
    // A small compaction threshold so the suite also exercises compaction.
    open: () => createFileCheckpoints({ dataDir: tmp.dir, compactBytes: 16 * 1024 }),
    topicPrefix: 'contract',
    cleanup: () => tmp.remove(),
  };
});

describe('file checkpoint store internals', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0)) await c();
  });

  async function setup() {
    const tmp = await tempDir('keyflow-ckpt-');
    cleanups.push(tmp.remove);
    return tmp.dir;
  }

  it('ignores a torn commit frame at the end of the journal (crash mid-commit)', async () => {
    const dataDir = await setup();
    const s1 = createFileCheckpoints({ dataDir });
    await s1.start();
    const epoch = await s1.acquire('t', 0);
    await s1.commit('t', 0, epoch, { nextOffset: 1, partitionState: 'a', dirty: new Map([['k', '1']]) });
    await s1.commit('t', 0, epoch, { nextOffset: 2, partitionState: 'b', dirty: new Map([['k', '2']]) });
    await s1.close();
    const dir = join(dataDir, 'checkpoints', 't', '0');
    const journal = (await readdir(dir)).find((n) => n.endsWith('.ckpt'))!;
    // Half a frame: a length that promises more bytes than follow.
    await appendFile(join(dir, journal), Buffer.from([0, 0, 1, 0, 1, 2, 3, 4, 123, 34]));
    const s2 = createFileCheckpoints({ dataDir });
    await s2.start();
    expect(await s2.load('t', 0)).toEqual({ nextOffset: 2, partitionState: 'b', epoch });
    expect(await s2.loadActor('t', 0, 'k')).toBe('2');
    // Later commits land after the cut and are read back.
    const e2 = await s2.acquire('t', 0);
    await s2.commit('t', 0, e2, { nextOffset: 3, partitionState: 'c', dirty: new Map([['j', 'J']]) });
    const s3 = createFileCheckpoints({ dataDir });
    await s3.start();
    expect(await s3.load('t', 0)).toEqual({ nextOffset: 3, partitionState: 'c', epoch: e2 });
    expect(await s3.loadActors('t', 0)).toEqual(new Map([['k', '2'], ['j', 'J']]));
    await Promise.all([s2.close(), s3.close()]);
  });

  it('compacts the journal into a new generation and keeps every state', async () => {
    const dataDir = await setup();
    const store = createFileCheckpoints({ dataDir, compactBytes: 4096 });
    await store.start();
    const epoch = await store.acquire('t', 1);
    const expected = new Map<string, string>();
    for (let round = 0; round < 50; round++) {
      const dirty = new Map([[`k${round % 7}`, `v${round}`.padEnd(200, '.')]]);
      for (const [k, v] of dirty) expected.set(k, v);
      await store.commit('t', 1, epoch, { nextOffset: round, partitionState: `${round}`, dirty });
    }
    const stats = await store.stats('t', 1);
    expect(stats.generation).toBeGreaterThan(1);
    expect(stats.journalBytes).toBeLessThan(4096 * 2);
    const dir = join(dataDir, 'checkpoints', 't', '1');
    expect((await readdir(dir)).filter((n) => n.endsWith('.ckpt'))).toHaveLength(1);
    const again = createFileCheckpoints({ dataDir });
    await again.start();
    expect(await again.loadActors('t', 1)).toEqual(expected);
    expect((await again.load('t', 1))?.nextOffset).toBe(49);
    await Promise.all([store.close(), again.close()]);
  });

  it('a damaged newer generation (no valid snapshot) is set aside and the previous one used', async () => {
    const dataDir = await setup();
    const store = createFileCheckpoints({ dataDir });
    await store.start();
    const epoch = await store.acquire('t', 0);
    await store.commit('t', 0, epoch, { nextOffset: 9, partitionState: 's', dirty: new Map([['a', 'A']]) });
    await store.close();
    await writeFile(join(dataDir, 'checkpoints', 't', '0', '000000000099.ckpt'), Buffer.from([0, 0, 0, 50, 1, 2]));
    const again = createFileCheckpoints({ dataDir });
    await again.start();
    expect(await again.load('t', 0)).toEqual({ nextOffset: 9, partitionState: 's', epoch });
    expect(await again.loadActor('t', 0, 'a')).toBe('A');
    await again.close();
  });
});
