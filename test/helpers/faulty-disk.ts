/**
 * A segment opener for the embedded log (`FileLogOptions.openSegment`) that fails the way a full
 * or failing disk does — on demand, per operation and per file — and counts fsyncs. Everything
 * it does not fail goes to the real files.
 */
import { type SegmentFile, type SegmentOpener, openSegmentFile } from '../../src/log/embedded/segment-file.ts';

export type DiskOp = 'create' | 'open' | 'write' | 'datasync' | 'truncate';

/** An error like the one node:fs raises for `code` (ENOSPC, EIO, …). */
export function osError(code: string, syscall: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: simulated storage fault, ${syscall}`), { code, syscall, errno: code === 'ENOSPC' ? -28 : -5 });
}

export interface FaultyDisk {
  readonly openSegment: SegmentOpener;
  /** While set, every create, write and fsync fails with this code (a full disk: ENOSPC). */
  full: string | null;
  /** Fails the next `count` operations `op` on files whose path contains `pathPart`; a failing write may first write `partialBytes`. */
  failNext(op: DiskOp, pathPart: string, options?: { count?: number; code?: string; partialBytes?: number }): void;
  /** Drops the planned failures that have not fired. */
  clear(): void;
  /** fsyncs made so far. */
  readonly datasyncs: number;
}

export function createFaultyDisk(): FaultyDisk {
  const planned: { op: DiskOp; pathPart: string; count: number; code: string; partialBytes: number }[] = [];
  let datasyncs = 0;
  const disk: FaultyDisk = {
    full: null,
    get datasyncs() {
      return datasyncs;
    },
    clear() {
      planned.length = 0;
    },
    failNext(op, pathPart, options = {}) {
      planned.push({ op, pathPart, count: options.count ?? 1, code: options.code ?? 'ENOSPC', partialBytes: options.partialBytes ?? 0 });
    },
    openSegment: async (path, mode) => {
      check(mode === 'create' ? 'create' : 'open', path);
      const f = await openSegmentFile(path, mode);
      const file: SegmentFile = {
        async write(buffer, offset, length) {
          const fault = take('write', path);
          if (fault) {
            if (fault.partialBytes > 0) await f.write(buffer, offset, Math.min(length, fault.partialBytes));
            throw osError(fault.code, 'write');
          }
          return f.write(buffer, offset, length);
        },
        async datasync() {
          datasyncs++;
          check('datasync', path);
          return f.datasync();
        },
        async truncate(length) {
          check('truncate', path);
          return f.truncate(length);
        },
        close: () => f.close(),
      };
      return file;
    },
  };

  function take(op: DiskOp, path: string): { code: string; partialBytes: number } | undefined {
    if (disk.full && op !== 'truncate' && op !== 'open') return { code: disk.full, partialBytes: 0 };
    const i = planned.findIndex((p) => p.op === op && path.includes(p.pathPart));
    if (i < 0) return undefined;
    const p = planned[i]!;
    if (--p.count <= 0) planned.splice(i, 1);
    return p;
  }

  function check(op: DiskOp, path: string): void {
    const fault = take(op, path);
    if (fault) throw osError(fault.code, op);
  }

  return disk;
}
