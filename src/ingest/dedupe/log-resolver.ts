/**
 * The {@link StaleClaimResolver} over the event log (Kafka in distributed mode, or any EventLog):
 * finds the first offset of the claim's partition appended at or after the claim's time (binary
 * search over append times), scans from there to the end for the eventId and returns the
 * record's receipt.
 *
 * A gateway that died mid-batch leaves up to a batch of stale claims on a few partitions; their
 * retries arrive together, so one scan per partition serves them all: a scan's findings
 * (fingerprint → offsets) are shared by the resolutions that start while it runs or within
 * `reuseMs` after it, when it covers their range.
 */
import type { EventLog } from '../../log/index.ts';
import { type Fingerprint, fingerprintString } from './event-id-hash.ts';
import { offsetAtTime, readRecordEvent, recordEventId, scanRange } from './log-records.ts';
import type { StaleClaimResolver, StoredReceipt } from './port.ts';

export interface LogClaimResolverOptions {
  log: EventLog;
  /** How long a finished scan of a partition serves later resolutions, ms. @default 2000 */
  reuseMs?: number;
}

interface Scan {
  since: number;
  /** Scanned up to this offset (exclusive). */
  to: number;
  finishedAt: number;
  /** `hi:lo` fingerprint → offsets and event timestamps of the records carrying it. */
  found: Map<string, { offset: number; timestamp: number }[]>;
  done: Promise<void>;
}

/**
 * @example
 * const dedupe = createRedisDedupe({ url, keyPrefix, ttlMs, resolveStale: createLogClaimResolver({ log }) });
 */
export function createLogClaimResolver(options: LogClaimResolverOptions): StaleClaimResolver {
  const { log } = options;
  const reuseMs = options.reuseMs ?? 2000;
  const scans = new Map<string, Scan>();

  function startScan(topic: string, partition: number, since: number): Scan {
    const found = new Map<string, { offset: number; timestamp: number }[]>();
    const scan: Scan = { since, to: 0, finishedAt: Number.POSITIVE_INFINITY, found, done: Promise.resolve() };
    scan.done = (async () => {
      const fp: Fingerprint = { hi: 0, lo: 0 };
      const [begins, ends] = await Promise.all([log.beginOffsets(topic), log.endOffsets(topic)]);
      const begin = begins[partition] ?? 0;
      const end = ends[partition] ?? 0;
      const from = await offsetAtTime(log, topic, partition, begin, end, since);
      await scanRange(log, topic, partition, from, end, (value, offset) => {
        const timestamp = readRecordEvent(value, fp);
        if (Number.isNaN(timestamp)) return;
        const k = `${fp.hi}:${fp.lo}`;
        const list = found.get(k);
        if (list) list.push({ offset, timestamp });
        else found.set(k, [{ offset, timestamp }]);
      });
      scan.to = end;
      scan.finishedAt = performance.now();
    })();
    return scan;
  }

  return async (eventId, where) => {
    const key = `${where.topic}/${where.partition}`;
    let scan = scans.get(key);
    const fresh = scan && scan.since <= where.since && performance.now() - scan.finishedAt < reuseMs;
    if (!scan || !fresh) {
      scan = startScan(where.topic, where.partition, where.since);
      scans.set(key, scan);
      const mine = scan;
      mine.done.then(
        () => setTimeout(() => scans.get(key) === mine && scans.delete(key), reuseMs).unref?.(),
        () => scans.get(key) === mine && scans.delete(key),
      );
    }
    await scan.done;
    const fp = fingerprintString(eventId, { hi: 0, lo: 0 });
    for (const hit of scan.found.get(`${fp.hi}:${fp.lo}`) ?? []) {
      // the fingerprint matched: compare the eventId itself
      const [rec] = await log.read(where.topic, where.partition, hit.offset, 1);
      if (rec && rec.offset === hit.offset && recordEventId(rec.value) === eventId) {
        return { topic: where.topic, partition: where.partition, offset: hit.offset, timestamp: hit.timestamp } satisfies StoredReceipt;
      }
    }
    return null;
  };
}
