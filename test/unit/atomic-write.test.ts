import * as fsp from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { fsyncDir, writeFileAtomic } from '../../src/core/atomic-write.ts';

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

  it('keeps concurrent writers of one file apart: the result is one complete version', async () => {
    const path = join(dir, 'f');
    const bodies = Array.from({ length: 20 }, (_, i) => `version-${i}-`.repeat(1000));
    await Promise.all(bodies.map((b) => writeFileAtomic(path, b)));
    expect(bodies).toContain(await fsp.readFile(path, 'utf8'));
    expect(await fsp.readdir(dir)).toEqual(['f']);
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
