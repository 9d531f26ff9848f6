/** The shapes of rollups across keys: the query, one partition's partial, the merged rollup. Times are epoch ms (UTC). */

/** What a top-N key list is ordered by: highest first (lowest first for `min`). */
export type RollupOrder = 'count' | 'sum' | 'avg' | 'max' | 'min';

export const ROLLUP_ORDERS: readonly RollupOrder[] = ['count', 'sum', 'avg', 'max', 'min'];

export interface RollupQuery {
  eventType: string;
  /** One tumbling or sliding spec name. */
  window: string;
  /** Only windows with windowStart >= from. */
  from?: number | null | undefined;
  /** Only windows with windowStart < to. */
  to?: number | null | undefined;
  /** Length of the top-keys list. @default 10 */
  top?: number | undefined;
  /** @default 'count' */
  by?: RollupOrder | undefined;
}

/** One key's aggregate within a rollup window (its key window's values). */
export interface RollupTally {
  key: string;
  count: number;
  valueCount: number;
  sum: number | null;
  avg: number | null;
  min: number | null;
  max: number | null;
}

/** One partition's part of a rollup window. */
export interface RollupPartial {
  eventType: string;
  window: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  valueCount: number;
  sum: number | null;
  min: number | null;
  max: number | null;
  /** Keys of this partition with at least one event in the window (keys are partition-aligned: the counts add up). */
  distinctKeys: number;
  /** Distinct users of this partition's events in the window (users are not partition-aligned: merged as sets). */
  users: string[];
  /** This partition's top keys by the query's order: the global top N is among the union of these. */
  top: RollupTally[];
  /** The partition's watermark passed windowEnd + allowed lateness. */
  final: boolean;
}

/** The aggregate of one window across every key of an event type. */
export interface Rollup {
  eventType: string;
  window: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  distinctKeys: number;
  distinctUsers: number;
  valueCount: number;
  sum: number | null;
  avg: number | null;
  min: number | null;
  max: number | null;
  /** True once every partition holding events of the window has passed windowEnd + allowed lateness. */
  final: boolean;
  /** The top keys by the query's order, ties by key ascending. */
  topKeys: RollupTally[];
}

/** Read side of rollups for the API. */
export interface RollupReader {
  /** Every retained window of the spec (in the query's range) that has events, oldest first. */
  rollups(q: RollupQuery): Promise<Rollup[]>;
}
