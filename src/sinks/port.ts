/**
 * The sink port: final window results leave the platform here. Delivery is at least once;
 * every sink upserts by (eventType, key, window, windowStart) so it holds exactly one row per
 * window (the newest revision).
 */
import type { WindowResult } from '../model/index.ts';

export interface Sink {
  readonly name: string;
  start(): Promise<void>;
  close(): Promise<void>;
  /** Writes final results idempotently; resolves when they are durable in the sink. */
  write(results: readonly WindowResult[]): Promise<void>;
  healthy(): Promise<{ connected: boolean; detail?: string }>;
}
