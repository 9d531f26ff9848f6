/**
 * Replacing a file so that a reader (or a restart after a crash) sees either the old content or
 * the new one, never a mix: write a temporary file in the same directory, fsync it, rename it over
 * the target, fsync the directory (which makes the rename itself durable).
 */
import * as fsp from 'node:fs/promises';
import { dirname } from 'node:path';

export interface AtomicWriteOptions {
  /**
   * Flush the file before the rename and the directory after it, so the new content also survives
   * a power loss or kernel crash. Off: it survives the process crashing only. @default true
   */
  fsync?: boolean;
}

/** Flushes a directory's entries (a rename in it) to disk; a no-op where a directory cannot be opened. */
export async function fsyncDir(dir: string): Promise<void> {
  let fh: fsp.FileHandle;
  try {
    fh = await fsp.open(dir, 'r');
  } catch {
    return; // some platforms cannot open a directory; there is nothing to flush then
  }
  try {
    await fh.sync();
  } catch (e) {
    // EINVAL/EISDIR/EPERM: the platform or file system does not support syncing a directory
    const code = (e as { code?: string }).code;
    if (code !== 'EINVAL' && code !== 'EISDIR' && code !== 'EPERM') throw e;
  } finally {
    await fh.close();
  }
}

/** Writes in progress per path: writes of one path in this process run one after another, in call order. */
const inFlight = new Map<string, Promise<void>>();

/**
 * Replaces `path` with `data` atomically (see the module comment). Writes of one path from this
 * process run in call order, so the last call's content wins; other processes use their own
 * temporary file (its name carries the pid). The temporary file is removed on failure.
 */
export async function writeFileAtomic(path: string, data: string | Uint8Array, options: AtomicWriteOptions = {}): Promise<void> {
  const previous = inFlight.get(path);
  const run = previous === undefined ? replace(path, data, options.fsync ?? true) : previous.catch(() => undefined).then(() => replace(path, data, options.fsync ?? true));
  inFlight.set(path, run);
  try {
    await run;
  } finally {
    if (inFlight.get(path) === run) inFlight.delete(path);
  }
}

async function replace(path: string, data: string | Uint8Array, fsync: boolean): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    const fh = await fsp.open(tmp, 'w');
    try {
      await fh.writeFile(data);
      if (fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await fsp.rename(tmp, path);
  } catch (e) {
    await fsp.rm(tmp, { force: true }).catch(() => undefined);
    throw e;
  }
  if (fsync) await fsyncDir(dirname(path));
}

/** The last queued read-modify-write of each file path in this process (settled, never rejected). */
const fileQueues = new Map<string, Promise<unknown>>();

/**
 * Runs `work` (a read-modify-write of the file at `path`) after every earlier one queued for the
 * same path in this process, in call order, whatever store instance queued it. One process owns
 * a data dir, so this is what keeps two changes of one file from overwriting each other.
 */
export function inFileOrder<T>(path: string, work: () => Promise<T>): Promise<T> {
  const run = afterFileWrites(path).then(work);
  const settled = run.catch(() => undefined);
  fileQueues.set(path, settled);
  void settled.then(() => {
    if (fileQueues.get(path) === settled) fileQueues.delete(path);
  });
  return run;
}

/** Resolves once every read-modify-write queued for `path` so far has settled (a read that must see them). */
export function afterFileWrites(path: string): Promise<void> {
  return (fileQueues.get(path) ?? Promise.resolve()).then(() => undefined);
}
