/**
 * The single-writer lock of an embedded log directory: a `.lock` file holding the owner's pid.
 * A lock left by a process that died is taken over; one held by a live process is refused.
 */
import * as fsp from 'node:fs/promises';
import { ErrorCode, KeyflowError } from '../../model/index.ts';

/** Locks held by this process, so a reopen after close (or a simulated crash in tests) works. */
const heldLocks = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

/** Creates the lock file at `path`; throws INVALID_CONFIG when this or another live process holds it. */
export async function acquireDirLock(path: string): Promise<void> {
  if (heldLocks.has(path)) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `embedded log: ${path} is already open in this process; close the other EventLog first`);
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fsp.writeFile(path, String(process.pid), { flag: 'wx' });
      heldLocks.add(path);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      const pid = Number((await fsp.readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new KeyflowError(
          ErrorCode.INVALID_CONFIG,
          `embedded log: the data dir is in use by process ${pid} (${path}); the embedded log has a single writer — stop that process or use another KEYFLOW_DATA_DIR`,
        );
      }
      // Stale lock from a process that died (or an unclosed log of this process): take it over.
      await fsp.rm(path, { force: true });
    }
  }
  throw new KeyflowError(ErrorCode.INVALID_CONFIG, `embedded log: could not lock ${path}`);
}

/** Removes the lock file at `path`. */
export async function releaseDirLock(path: string): Promise<void> {
  heldLocks.delete(path);
  await fsp.rm(path, { force: true });
}
