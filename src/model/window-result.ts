/** Window results and late policies: the vocabulary shared by the window logic, actors, sinks and the API. */

/** One window's aggregate as emitted and queried. Times are epoch ms (UTC). */
export interface WindowResult {
  eventType: string;
  key: string;
  /** Spec name, e.g. `tumbling-1m`, `sliding-5m-1m`, `session-30m`. */
  window: string;
  /** Inclusive. */
  windowStart: number;
  /** Exclusive. */
  windowEnd: number;
  count: number;
  valueCount: number;
  /** null when valueCount is 0. */
  sum: number | null;
  avg: number | null;
  min: number | null;
  max: number | null;
  distinctUsers: number;
  final: boolean;
  revision: number;
}

export type LatePolicy = 'drop' | 'side-output' | 'update';

/** What the actor for a key holds now (the contract's KeyState). */
export interface KeyStateView {
  eventType: string;
  key: string;
  topic: string;
  partition: number;
  /** Partition watermark, epoch ms; null before the first event. */
  watermark: number | null;
  lastEventTime: number | null;
  eventsProcessed: number;
  openWindows: number;
}

export interface WindowQuery {
  eventType: string;
  key: string;
  /** One spec name, or every spec when undefined. */
  window?: string | undefined;
  /** Only windows with windowStart >= from (epoch ms). */
  from?: number | undefined;
  /** Only windows with windowStart < to (epoch ms). */
  to?: number | undefined;
  finalOnly?: boolean | undefined;
}

/** Read-only view of window state for the API. Only the PartitionHost writes. */
export interface WindowReader {
  /** Oldest windowStart first. */
  windows(q: WindowQuery): Promise<WindowResult[]>;
  keyState(eventType: string, key: string): Promise<KeyStateView | null>;
}
