/**
 * Paginated reads of a topic, newest appended first: `latestEventsPage`, `deadLettersPage`,
 * `finalsPage`. A page cursor holds, per partition, the offset below which the next page reads.
 * A page is a k-way merge of the partitions' tails by append time, taking from each partition a
 * run of its highest offsets below its bound, so the next page's bounds lose and repeat nothing
 * (records appended meanwhile are above the bounds: a client sees them by starting over).
 */
import type { EventLog, LogRecord } from '../log/index.ts';
import { ErrorCode, KeyflowError, type WindowResult, windowResultSchema } from '../model/index.ts';

const PREFIX = 'pg1.';

export interface Page<T> {
  nodes: T[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export function encodePageCursor(topic: string, bounds: readonly number[]): string {
  return PREFIX + Buffer.from(JSON.stringify({ t: topic, b: bounds }), 'utf8').toString('base64url');
}

export function decodePageCursor(cursor: string, topic: string): number[] {
  const fail = (m: string) => new KeyflowError(ErrorCode.INVALID_CURSOR, m, { details: { argument: 'after' } });
  if (cursor.length > 1_000_000 || !cursor.startsWith(PREFIX) || !/^[A-Za-z0-9_-]*$/.test(cursor.slice(PREFIX.length))) throw fail('not a page cursor');
  let v: { t?: unknown; b?: unknown };
  try {
    v = JSON.parse(Buffer.from(cursor.slice(PREFIX.length), 'base64url').toString('utf8'));
  } catch {
    throw fail('malformed page cursor');
  }
  if (typeof v !== 'object' || v === null || typeof v.t !== 'string' || !Array.isArray(v.b) || !v.b.every((n) => Number.isSafeInteger(n) && n >= 0)) {
    throw fail('malformed page cursor');
  }
  if (v.t !== topic) throw fail(`the cursor is a page of '${v.t.slice(0, 200)}', not of '${topic}'`);
  return v.b as number[];
}

/** Bounds of `first` (1..1000). */
export function checkFirst(first: number | null | undefined, fallback: number): number {
  const n = first ?? fallback;
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `first must be between 1 and 1000; got ${n}`, { details: { argument: 'first', min: 1, max: 1000, value: n } });
  }
  return n;
}

/**
 * One page of `topic`, newest appended first: up to `first` items that `decode` accepts (records it
 * refuses are passed over), below `after`'s bounds (none: the log's end).
 */
export async function pageNewestFirst<T>(log: EventLog, topic: string, first: number, after: string | null | undefined, decode: (r: LogRecord) => T | null): Promise<Page<T>> {
  const partitions = await log.partitions(topic);
  if (partitions === undefined) return { nodes: [], pageInfo: { hasNextPage: false, endCursor: null } };
  const [begin, end] = await Promise.all([log.beginOffsets(topic), log.endOffsets(topic)]);
  // a bound past the log's end (a forged cursor) reads from the end; extra partitions are ignored
  const given = after == null ? end : decodePageCursor(after, topic);
  const bounds = Array.from({ length: partitions }, (_, p) => Math.min(given[p] ?? end[p] ?? 0, end[p] ?? 0));
  const nodes: T[] = [];
  // Read in rounds: a round reads each partition's next `first` records below its bound and merges them.
  while (nodes.length < first) {
    const tails = await Promise.all(
      bounds.map((bound, p) => {
        const from = Math.max(begin[p] ?? 0, bound - first);
        return bound > from ? log.read(topic, p, from, bound - from) : Promise.resolve([] as LogRecord[]);
      }),
    );
    // each tail from its highest offset down
    const idx = tails.map((t) => t.length - 1);
    let took = 0;
    while (nodes.length < first) {
      let best = -1;
      let refill = false;
      for (let p = 0; p < tails.length; p++) {
        const i = idx[p]!;
        if (i < 0) {
          // this partition has older records not read yet: they may be newer than the others' heads
          if (bounds[p]! > (begin[p] ?? 0)) refill = true;
          continue;
        }
        if (best < 0) {
          best = p;
          continue;
        }
        const a = tails[p]![i]!;
        const b = tails[best]![idx[best]!]!;
        if (a.appendTime > b.appendTime || (a.appendTime === b.appendTime && a.offset > b.offset)) best = p;
      }
      if (best < 0 || refill) break;
      const r = tails[best]![idx[best]!]!;
      idx[best]!--;
      bounds[best] = r.offset;
      took++;
      const item = decode(r);
      if (item !== null) nodes.push(item);
    }
    if (took === 0) break;
  }
  const hasNextPage = bounds.some((b, p) => b > (begin[p] ?? 0));
  return { nodes, pageInfo: { hasNextPage, endCursor: encodePageCursor(topic, bounds) } };
}

const decoder = new TextDecoder();

/** A final window result as the aggregated sink wrote it; null when the record is not one. */
export function decodeFinal(r: LogRecord): WindowResult | null {
  try {
    const v = windowResultSchema.safeParse(JSON.parse(decoder.decode(r.value)));
    return v.success ? v.data : null;
  } catch {
    return null;
  }
}
