/** Helpers shared by the contract and e2e suites: polling with a deadline, unique names, temp dirs. */
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface WaitForOptions {
  /** Give up after this long, ms. @default 10000 */
  timeoutMs?: number;
  /** Pause between checks, ms. @default 20 */
  intervalMs?: number;
  /** Included in the timeout error. */
  message?: string;
}

/**
 * Calls `check` until it returns a value other than `undefined`/`false` (or stops throwing) and
 * returns that value; throws with the last failure when the deadline passes. For eventually
 * consistent backends (Kafka) instead of fixed sleeps.
 */
export async function waitFor<T>(check: () => T | Promise<T>, options: WaitForOptions = {}): Promise<Exclude<T, false | undefined>> {
  const deadline = Date.now() + (options.timeoutMs ?? 10_000);
  const interval = options.intervalMs ?? 20;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v as Exclude<T, false | undefined>;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`waitFor timed out${options.message ? ` (${options.message})` : ''}${why}`, { cause: last });
    }
    await new Promise((r) => setTimeout(r, interval));
  }
}

/** A name unique to this run, safe for Kafka topics, Redis keys and NATS subjects. */
export function uniqueName(prefix = 'test'): string {
  return `${prefix}-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
}

/** A fresh temporary directory and a function that removes it. */
export async function tempDir(prefix = 'keyflow-'): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), prefix));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
