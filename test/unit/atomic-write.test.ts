import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { afterFileWrites, fsyncDir, inFileOrder, writeFileAtomic } from '../../src/core/atomic-write.ts';

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), 'keyflow-atomic-'));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe('writeFileAtomic', () => {
  it('creates and replaces a file, leaving no temporary file behind', async () => {
    const path = join(dir, 'state.json');
    await writeFileAtomic(path, '{"v":1}');
    expect(await fsp.readFile(path, 'utf8')).toBe('{"v":1}');
    await writeFileAtomic(path, new TextEncoder().encode('{"v":2}'), { fsync: false });
    expect(await fsp.readFile(path, 'utf8')).toBe('{"v":2}');
    expect(await fsp.readdir(dir)).toEqual(['state.json']);
  });

  it('runs concurrent writes of one file in call order: every one succeeds and the last one wins', async () => {
    const path = join(dir, 'f');
    const bodies = Array.from({ length: 20 }, (_, i) => `version-${i}-`.repeat(1000));
    await Promise.all(bodies.map((b) => writeFileAtomic(path, b)));
    expect(await fsp.readFile(path, 'utf8')).toBe(bodies[19]);
    expect(await fsp.readdir(dir)).toEqual(['f']);
  });

  it('a failed write removes its temporary file and does not stop the next write of the same file', async () => {
    const path = join(dir, 'g');
    const failing = writeFileAtomic(path, 42 as unknown as string); // not writable data: fails after the temp file is created
    const next = writeFileAtomic(path, 'kept');
    await expect(failing).rejects.toMatchObject({ code: 'ERR_INVALID_ARG_TYPE' });
    await next;
    expect(await fsp.readFile(path, 'utf8')).toBe('kept');
    expect(await fsp.readdir(dir)).toEqual(['g']);
  });

  it('leaves the old content and no temporary file when the rename fails', async () => {
    const path = join(dir, 'target');
    await fsp.mkdir(path); // a non-empty directory cannot be replaced by a file
    await fsp.writeFile(join(path, 'inside'), 'x');
    await expect(writeFileAtomic(path, 'new')).rejects.toMatchObject({ code: expect.stringMatching(/^E/) });
    expect((await fsp.readdir(dir)).sort()).toEqual(['target']);
    expect(await fsp.readFile(join(path, 'inside'), 'utf8')).toBe('x');
  });

  it('fails when the directory does not exist', async () => {
    await expect(writeFileAtomic(join(dir, 'missing', 'f'), 'x')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('fsyncDir', () => {
  it('flushes an existing directory and tolerates one that cannot be opened', async () => {
    await expect(fsyncDir(dir)).resolves.toBeUndefined();
    await expect(fsyncDir(join(dir, 'nope'))).resolves.toBeUndefined();
  });
});

describe('inFileOrder', () => {
  it('runs the read-modify-writes of one path one after another, in call order, past a failing one', async () => {
    const path = join(tmpdir(), `keyflow-order-${process.pid}.json`);
    const seen: string[] = [];
    const step = (name: string, ms: number, fail = false) =>
      inFileOrder(path, async () => {
        seen.push(`${name} start`);
        await new Promise((r) => setTimeout(r, ms));
        seen.push(`${name} end`);
        if (fail) throw new Error(name);
        return name;
      });
    const runs = [step('a', 30), step('b', 1, true), step('c', 1)];
    const read = afterFileWrites(path).then(() => seen.length);
    await expect(runs[0]).resolves.toBe('a');
    await expect(runs[1]).rejects.toThrow('b');
    await expect(runs[2]).resolves.toBe('c');
    expect(seen).toEqual(['a start', 'a end', 'b start', 'b end', 'c start', 'c end']);
    // a read queued after them sees all three settled
    expect(await read).toBe(6);
  });
});
