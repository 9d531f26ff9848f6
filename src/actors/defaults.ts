/**
 * The engine's settings when none are given. The configuration schema (`src/app/config.ts`) takes
 * its defaults from here, so each default is declared once.
 */
import type { LatePolicy } from '../model/index.ts';

export const ENGINE_DEFAULTS = {
  /** Watermark lag behind the max event time, ms. */
  maxOutOfOrderMs: 10_000,
  /** Event time a window stays open after its end, ms. */
  allowedLatenessMs: 0,
  latePolicy: 'side-output' as LatePolicy,
  /** Processing time without records after which a partition's watermark advances on its own, ms. */
  idleTimeoutMs: 30_000,
  /** How long finals stay queryable behind the watermark (event time), ms. */
  resultRetentionMs: 86_400_000,
  /** Processing time after which an idle actor with nothing open is passivated, ms. */
  passivateAfterMs: 300_000,
  /** Retries of a failing record before it is dead-lettered. */
  maxRetries: 3,
  /** First retry delay, ms (doubles up to `retryMaxDelayMs`, with jitter). */
  retryBaseDelayMs: 100,
  retryMaxDelayMs: 5000,
  retryJitter: 0.1,
  /** Emit non-final window updates (false: finals only). */
  emitUpdates: true,
  /** Records a partition may process past its last committed checkpoint before consumption waits. */
  maxUncommittedRecords: 200_000,
  /**
   * Bytes one checkpoint commit of a partition may carry (dirty actor snapshots and new finals,
   * estimated from the partition's earlier commits): past it the partition commits at once and its
   * consumption waits until the commit lands. One commit is one script call in Redis, which serves
   * nothing else while it runs.
   */
  maxCheckpointBytes: 32 * 1024 * 1024,
  /**
   * Actors whose due windows one batch (or tick) of a partition finalises; the rest follow in the
   * next ones. A watermark crossing a minute finalises a window of every key at once: with a
   * million keys in one batch, that one checkpoint would carry them all.
   */
  maxTimersPerRound: 20_000,
  /** Batches of a partition queued behind the one being processed before the consumer waits. */
  maxQueuedBatches: 4,
} as const;
