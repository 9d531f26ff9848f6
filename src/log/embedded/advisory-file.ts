/**
 * Reading the embedded log's advisory JSON files — `topics.json`, `groups/<group>.json`,
 * `recovery-points.json` — which the log can do without or rebuild. A damaged one (truncated,
 * not JSON, wrong shape) must not stop the node: it is renamed to `<name>.damaged-<epoch ms>`
 * (kept for inspection), an error naming it is logged, and the caller rebuilds what it held.
 */
import * as fsp from 'node:fs/promises';
import { LifecycleEvent } from '../../core/index.ts';
import type { AdapterLogger } from './partition.ts';

export type AdvisoryRead<T> = { status: 'ok'; value: T } | { status: 'missing' } | { status: 'damaged' };

/**
 * Reads and validates `path`. `parse` returns the value or throws when the content has the wrong
 * shape. `consequence` ends the error line: what the caller does instead (e.g. "rebuilt from the
 * partition directories").
 */
export async function readAdvisoryJson<T>(path: string, parse: (json: unknown) => T, logger: AdapterLogger, consequence: string): Promise<AdvisoryRead<T>> {
  let raw: string;
  try {
    raw = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return { status: 'missing' };
    throw e;
  }
  try {
    return { status: 'ok', value: parse(JSON.parse(raw)) };
  } catch (e) {
    const aside = `${path}.damaged-${Date.now()}`;
    await fsp.rename(path, aside);
    logger.error(
      { event: LifecycleEvent.fileDamaged, file: path, setAsideAs: aside, reason: (e as Error).message },
      `embedded log: damaged file ${path} (${(e as Error).message}); set aside as ${aside} and ${consequence}`,
    );
    return { status: 'damaged' };
  }
}

/** `json` as a record of non-negative safe integers, or throws. */
export function offsetsRecord(json: unknown, what: string): Record<string, number> {
  if (json === null || typeof json !== 'object' || Array.isArray(json)) throw new Error(`${what} is not an object`);
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(json)) {
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new Error(`${what}: ${JSON.stringify(k)} is not a non-negative integer`);
    out[k] = v;
  }
  return out;
}
