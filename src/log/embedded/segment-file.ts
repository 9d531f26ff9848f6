/**
 * How the embedded log writes its segment files, and how it tells a storage fault (disk full,
 * I/O error) from other failures. The opener is injectable (`FileLogOptions.openSegment`) so the
 * storage-fault tests can make a write, an fsync or a segment roll fail the way a full or failing
 * disk does, without a real small file system.
 */
import * as fsp from 'node:fs/promises';
import { ErrorCode, KeyflowError } from '../../model/index.ts';

/** The write side of one segment file: an append-only handle (every write lands at the end). */
export interface SegmentFile {
  write(buffer: Uint8Array, offset: number, length: number): Promise<{ bytesWritten: number }>;
  /** Flushes the file's data to the disk. */
  datasync(): Promise<void>;
  /** Cuts the file to `length` bytes (undoes a failed or rolled-back write). */
  truncate(length: number): Promise<void>;
  close(): Promise<void>;
}

/**
 * Opens `path` for appending. `create`: the file is created empty, replacing a leftover of the same
 * name; otherwise it is opened as it is (created when missing).
 */
export type SegmentOpener = (path: string, mode: 'create' | 'append') => Promise<SegmentFile>;

/** The default opener: node:fs/promises, O_APPEND. */
export const openSegmentFile: SegmentOpener = async (path, mode) => {
  const fh = await fsp.open(path, 'a');
  if (mode === 'create') {
    try {
      await fh.truncate(0);
    } catch (e) {
      await fh.close().catch(() => undefined);
      throw e;
    }
  }
  return fh;
};

/** Error codes of the operating system that mean the disk cannot take writes right now. */
const STORAGE_FAULT_CODES = new Set(['ENOSPC', 'EDQUOT', 'EIO', 'EROFS']);

/** The OS error code when `e` is a storage fault (disk full, quota, I/O error, read-only), else undefined. */
export function storageFaultCode(e: unknown): string | undefined {
  let cur: unknown = e;
  for (let depth = 0; depth < 4 && cur; depth++) {
    const code = (cur as { code?: unknown }).code;
    if (typeof code === 'string' && STORAGE_FAULT_CODES.has(code)) return code;
    cur = (cur as { cause?: unknown }).cause;
  }
  return undefined;
}

/** Writes all of `buf` (a write may be partial). */
export async function writeAll(file: SegmentFile, buf: Buffer): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await file.write(buf, done, buf.length - done);
    done += bytesWritten;
  }
}

/** The retriable error an append or flush fails with when the disk refuses a write. */
export function writeFailed(what: string, cause: unknown): KeyflowError {
  const code = storageFaultCode(cause);
  const why = code === 'ENOSPC' || code === 'EDQUOT' ? 'the disk is full' : code ? `the disk reported ${code}` : 'the write failed';
  return new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `embedded log: ${what} failed (${why}); nothing of it was appended, retry later`, {
    retriable: true,
    cause,
  });
}
