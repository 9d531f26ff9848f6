import { appendFile, copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
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

  it('a commit torn at any byte restores the previous checkpoint exactly; so does a compaction cut anywhere before its rename', async () => {
    const dataDir = await setup();
    const store = createFileCheckpoints({ dataDir, compactBytes: 1 << 30 });
    await store.start();
    const epoch = await store.acquire('t', 0);
    await store.commit('t', 0, epoch, { nextOffset: 1, partitionState: 'one', dirty: new Map([['a', 'A1'], ['b', 'B1']]), finals: [{ actor: 'a', id: 'w1', windowEnd: 5, data: 'F1' }] });
    await store.close();
    const dir = join(dataDir, 'checkpoints', 't', '0');
    const name = (await readdir(dir)).find((n) => n.endsWith('.ckpt'))!;
    const before = await readFile(join(dir, name));
    const s2 = createFileCheckpoints({ dataDir, compactBytes: 1 << 30 });
    await s2.start();
    await s2.commit('t', 0, epoch, { nextOffset: 2, partitionState: 'two', dirty: new Map([['b', 'B2'], ['c', 'C2']]), deleted: ['a'] });
    await s2.close();
    const after = await readFile(join(dir, name));
    expect(after.subarray(0, before.length)).toEqual(before);
    const probe = join(dataDir, 'probe');
    const pdir = join(probe, 'checkpoints', 't', '0');
    const restored = async () => {
      const s = createFileCheckpoints({ dataDir: probe, logger: { error: () => {} } });
      await s.start();
      const out = { cp: await s.load('t', 0), actors: await s.loadActors('t', 0), finals: await s.loadFinals('t', 0, 'a') };
      await s.close();
      return out;
    };
    const previous = { cp: { nextOffset: 1, partitionState: 'one', epoch }, actors: new Map([['a', 'A1'], ['b', 'B1']]), finals: ['F1'] };
    for (let cut = before.length; cut < after.length; cut++) {
      await rm(probe, { recursive: true, force: true });
      await mkdir(pdir, { recursive: true });
      await writeFile(join(pdir, name), after.subarray(0, cut));
      expect(await restored()).toEqual(previous);
    }
    // a compaction's snapshot cut anywhere (crash before its rename): the old generation is the checkpoint, the temp file goes
    const s3 = createFileCheckpoints({ dataDir, compactBytes: 1 });
    await s3.start();
    await s3.commit('t', 0, epoch, { nextOffset: 3, partitionState: 'three', dirty: new Map([['d', 'D3']]) });
    await s3.close();
    const gens = (await readdir(dir)).filter((n) => n.endsWith('.ckpt'));
    expect(gens).toHaveLength(1);
    expect(gens[0]).not.toBe(name);
    const snapshot = await readFile(join(dir, gens[0]!));
    const latest = { cp: { nextOffset: 2, partitionState: 'two', epoch }, actors: new Map([['b', 'B2'], ['c', 'C2']]), finals: [] };
    for (let cut = 0; cut < snapshot.length; cut += Math.max(1, Math.floor(snapshot.length / 97))) {
      await rm(probe, { recursive: true, force: true });
      await mkdir(pdir, { recursive: true });
      await writeFile(join(pdir, name), after);
      await writeFile(join(pdir, gens[0]!.replace('.ckpt', '.ckpt.tmp')), snapshot.subarray(0, cut));
      expect(await restored()).toEqual(latest);
      expect((await readdir(pdir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
    }
    // and the complete snapshot restores the newest state
    await rm(probe, { recursive: true, force: true });
    await mkdir(pdir, { recursive: true });
    await copyFile(join(dir, gens[0]!), join(pdir, gens[0]!));
    expect(await restored()).toEqual({ ...latest, cp: { nextOffset: 3, partitionState: 'three', epoch }, actors: new Map([['b', 'B2'], ['c', 'C2'], ['d', 'D3']]) });
  });

  it('compaction encodes a large state in slices: the event loop turns meanwhile instead of waiting out the whole encoding', async () => {
    const dataDir = await setup();
    const store = createFileCheckpoints({ dataDir, fsync: false, compactBytes: 1 << 30 });
    await store.start();
    const epoch = await store.acquire('t', 0);
    const big = new Map(Array.from({ length: 2000 }, (_, i) => [`key-${i}`, `{"v":${i},"pad":"${'x'.repeat(10_000)}"}`] as [string, string]));
    // a snapshot, then a journal over twice its size: the next commit compacts
    for (let o = 1; o <= 3; o++) await store.commit('t', 0, epoch, { nextOffset: o, partitionState: 's', dirty: big });
    await store.close();
    // what one synchronous encoding of that state costs here (best of three)
    let whole = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 3; i++) {
      const t0 = performance.now();
      Buffer.from(JSON.stringify({ a: [...big] }), 'utf8');
      whole = Math.min(whole, performance.now() - t0);
    }
    const s2 = createFileCheckpoints({ dataDir, fsync: false, compactBytes: 1 });
    await s2.start();
    await s2.load('t', 0);
    let maxGap = 0;
    let last = performance.now();
    let ticking = true;
    const tick = () => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      if (ticking) setImmediate(tick);
    };
    setImmediate(tick);
    await s2.commit('t', 0, epoch, { nextOffset: 4, partitionState: 's', dirty: new Map([['key-0', '{}']]) });
    ticking = false;
    expect((await s2.stats('t', 0)).generation).toBe(2);
    expect(maxGap).toBeLessThan(whole / 2);
    const again = createFileCheckpoints({ dataDir });
    await again.start();
    expect((await again.loadActors('t', 0)).size).toBe(2000);
    expect(await again.loadActor('t', 0, 'key-0')).toBe('{}');
    expect(await again.loadActor('t', 0, 'key-1999')).toBe(big.get('key-1999'));
    await Promise.all([s2.close(), again.close()]);
  });
});
