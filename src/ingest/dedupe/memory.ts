/** In-memory {@link Dedupe}: an LRU map with a TTL per entry. One gateway process only. */
import { type Clock, systemClock } from '../../core/index.ts';
import {
  type ClaimResult,
  DEFAULT_PENDING_TTL_MS,
  type Dedupe,
  type StoredReceipt,
} from './port.ts';

export interface MemoryDedupeOptions {
  /** Most eventIds remembered; the least recently used go first (KEYFLOW_DEDUPE_MAX_ENTRIES). */
  maxEntries: number;
  /** Dedupe horizon, ms (KEYFLOW_DEDUPE_HORIZON). */
  ttlMs: number;
  /** Lifetime of an unfinished claim, ms. @default 30_000 */
  pendingTtlMs?: number;
  /** @default systemClock */
  clock?: Clock;
}

interface Entry {
  receipt: StoredReceipt | null;
  expiresAt: number;
}

const CLAIMED: ClaimResult = { status: 'claimed' };
const PENDING: ClaimResult = { status: 'pending' };

/**
 * @example
 * const dedupe = createMemoryDedupe({ maxEntries: 100_000, ttlMs: 3_600_000 });
 */
export function createMemoryDedupe(options: MemoryDedupeOptions): Dedupe {
  const { maxEntries, ttlMs } = options;
  const pendingTtlMs = options.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS;
  const clock = options.clock ?? systemClock;
  // A Map iterates in insertion order: re-inserting on use makes the first key the least recently used.
  const entries = new Map<string, Entry>();

  function set(eventId: string, entry: Entry): void {
    entries.delete(eventId);
    entries.set(eventId, entry);
    while (entries.size > maxEntries) {
      const oldest = entries.keys().next().value as string;
      entries.delete(oldest);
    }
  }

  return {
    kind: 'memory',
    async claim(eventId) {
      const now = clock.now();
      const e = entries.get(eventId);
      if (e && e.expiresAt > now) {
        set(eventId, e);
        return e.receipt ? { status: 'done', receipt: e.receipt } : PENDING;
      }
      set(eventId, { receipt: null, expiresAt: now + pendingTtlMs });
      return CLAIMED;
    },
    async complete(eventId, receipt) {
      set(eventId, { receipt: { ...receipt }, expiresAt: clock.now() + ttlMs });
    },
    async release(eventId) {
      const e = entries.get(eventId);
      if (e && e.receipt === null) entries.delete(eventId);
    },
    async close() {
      entries.clear();
    },
  };
}
