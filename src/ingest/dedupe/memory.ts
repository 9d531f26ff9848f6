/**
 * In-memory {@link Dedupe} of the embedded mode (one gateway process): the receipts of completed
 * publishes in a {@link CompactIndex} (a 64-bit fingerprint of the eventId and the receipt, ~45–50
 * bytes an entry whatever the eventId's length; the oldest go first past `maxEntries`), the
 * pending claims in a small map (one per publish in flight).
 *
 * Crashes. With `recover`, `start()` rebuilds the receipts from the log before the first claim:
 * every record of the ingest topics appended within the horizon (the newest `maxEntries` of them)
 * is indexed by its eventId, with its location as the receipt and its append time + horizon as
 * expiry. The log is the truth: an event is in the index after a restart exactly when its record
 * survived the crash (a torn record cut off at open was never acknowledged and is not indexed, so
 * its retry appends it; a record whose batch was killed before the answer is indexed, so its retry
 * answers DUPLICATE). Nothing besides the log is written, so there is no index file to lose or
 * damage; the price is the start-up scan (BENCHMARKS.md, issue 8).
 */
import { type Clock, LifecycleEvent, systemClock } from '../../core/index.ts';
import type { EventLog } from '../../log/index.ts';
import { CompactIndex } from './compact-index.ts';
import { type Fingerprint, fingerprintString } from './event-id-hash.ts';
import { offsetAtTime, readRecordEvent, scanRange } from './log-records.ts';
import { type ClaimResult, DEFAULT_PENDING_TTL_MS, type Dedupe } from './port.ts';

export interface MemoryDedupeOptions {
  /** Most receipts remembered; the oldest go first (KEYFLOW_DEDUPE_MAX_ENTRIES). */
  maxEntries: number;
  /** Dedupe horizon, ms (KEYFLOW_DEDUPE_HORIZON). */
  ttlMs: number;
  /** Lifetime of an unfinished claim, ms. @default 30_000 */
  pendingTtlMs?: number;
  /** @default systemClock */
  clock?: Clock;
  /** Rebuild the receipts from this log at `start()`: the records of `topics` within the horizon. */
  recover?: {
    log: EventLog;
    /** The topics publishes append to (the event types' topics). */
    topics: () => readonly string[];
    logger?: { info(obj: object, msg: string): void };
  };
}

/** What a rebuild found (also logged as `dedupe.recovered`). */
export interface DedupeRecovery {
  partitions: number;
  records: number;
  indexed: number;
  ms: number;
}

export interface MemoryDedupe extends Dedupe {
  readonly kind: 'memory';
  start(): Promise<void>;
  /** The last rebuild's figures, once `start()` ran with `recover`. */
  readonly recovery: DedupeRecovery | undefined;
  /** Receipts held and the bytes of the index's arrays. */
  stats(): { entries: number; bytes: number; capacity: number };
}

const CLAIMED: ClaimResult = { status: 'claimed' };
const PENDING: ClaimResult = { status: 'pending' };

/**
 * @example
 * const dedupe = createMemoryDedupe({ maxEntries: 100_000, ttlMs: 3_600_000, recover: { log, topics: () => ['events.iot.sensors'] } });
 * await dedupe.start();
 */
export function createMemoryDedupe(options: MemoryDedupeOptions): MemoryDedupe {
  const { maxEntries, ttlMs } = options;
  const pendingTtlMs = options.pendingTtlMs ?? DEFAULT_PENDING_TTL_MS;
  const clock = options.clock ?? systemClock;
  const index = new CompactIndex(maxEntries);
  /** eventId → expiry of its pending claim. */
  const pending = new Map<string, number>();
  const fp: Fingerprint = { hi: 0, lo: 0 };
  let started: Promise<void> | undefined;
  let recovery: DedupeRecovery | undefined;

  async function rebuild(recover: NonNullable<MemoryDedupeOptions['recover']>): Promise<void> {
    if (ttlMs === 0) return;
    const t0 = performance.now();
    const { log } = recover;
    const now = clock.now();
    const since = now - ttlMs;
    const ranges: { topic: string; partition: number; from: number; to: number }[] = [];
    for (const topic of recover.topics()) {
      const n = await log.partitions(topic);
      if (!n) continue;
      const [begins, ends] = await Promise.all([log.beginOffsets(topic), log.endOffsets(topic)]);
      for (let p = 0; p < n; p++) {
        const to = ends[p]!;
        const from = await offsetAtTime(log, topic, p, begins[p]!, to, since);
        if (from < to) ranges.push({ topic, partition: p, from, to });
      }
    }
    // More records within the horizon than the index holds: keep each partition's newest share.
    const total = ranges.reduce((s, r) => s + (r.to - r.from), 0);
    if (total > maxEntries) {
      for (const r of ranges) r.from = Math.max(r.from, r.to - Math.floor((maxEntries * (r.to - r.from)) / total));
    }
    let records = 0;
    for (const r of ranges) {
      const receipt = { topic: r.topic, partition: r.partition, offset: 0, timestamp: 0 };
      await scanRange(log, r.topic, r.partition, r.from, r.to, (value, offset, appendTime) => {
        records++;
        const ts = readRecordEvent(value, fp);
        if (Number.isNaN(ts)) return;
        receipt.offset = offset;
        receipt.timestamp = ts;
        index.put(fp, receipt, appendTime + ttlMs, now);
      });
    }
    recovery = { partitions: ranges.length, records, indexed: index.size, ms: Math.round(performance.now() - t0) };
    recover.logger?.info(
      { event: LifecycleEvent.dedupeRecovered, ...recovery, horizonMs: ttlMs, maxEntries },
      `dedupe: rebuilt ${index.size} receipts from ${records} records of ${ranges.length} partitions in ${recovery.ms} ms`,
    );
  }

  return {
    kind: 'memory',
    get recovery() {
      return recovery;
    },
    start() {
      started ??= options.recover ? rebuild(options.recover) : Promise.resolve();
      return started;
    },
    async claim(eventId) {
      const now = clock.now();
      const p = pending.get(eventId);
      if (p !== undefined && p > now) return PENDING;
      const r = index.find(fingerprintString(eventId, fp), now);
      if (r >= 0) return { status: 'done', receipt: index.receipt(r) };
      if (pending.size >= 10_000) for (const [id, until] of pending) if (until <= now) pending.delete(id);
      pending.set(eventId, now + pendingTtlMs);
      return CLAIMED;
    },
    async complete(eventId, receipt) {
      pending.delete(eventId);
      if (ttlMs === 0) return;
      const now = clock.now();
      index.put(fingerprintString(eventId, fp), receipt, now + ttlMs, now);
    },
    async release(eventId) {
      pending.delete(eventId);
    },
    async close() {
      pending.clear();
      index.clear();
    },
    stats() {
      return { entries: index.size, bytes: index.bytes, capacity: index.capacity };
    },
  };
}
