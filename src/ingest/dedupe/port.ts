/**
 * The dedupe port: idempotent publishing by eventId within a horizon (default 24 h).
 *
 * A publish first *claims* the eventId. Exactly one caller wins the claim and appends; it then
 * *completes* the claim with the receipt (or *releases* it when the append failed). Everyone else
 * sees either the stored receipt (`done`: answer DUPLICATE with it) or an unfinished claim
 * (`pending`: the winner is still appending — wait and claim again). Two concurrent publishes of
 * one eventId therefore append once.
 *
 * Adapter semantics (memory and Redis alike):
 * - `claim` is atomic (one Lua script in Redis).
 * - A pending claim becomes stale after `pendingTtlMs`, so a gateway that died mid-append does
 *   not block the eventId forever; the next claim then wins. Where the claim said where its
 *   append would go (`ClaimLocation`) and the adapter has a `StaleClaimResolver` (Redis with the
 *   log), that next claim first looks in the log from the stale claim's time on: when the event
 *   is there, the claim answers `done` with the record's receipt instead of appending again.
 * - `complete` replaces the claim with the receipt for `ttlMs` (the dedupe horizon).
 * - `release` deletes a pending claim; it never deletes a completed receipt.
 *
 * Crashes. The memory adapter can rebuild its receipts from the embedded log at `start()`
 * (`recover`), so the horizon survives a crash of the node; the Redis adapter keeps them in Redis.
 */

/** What a completed publish stored; enough to answer a duplicate with the first receipt. JSON-safe. */
export interface StoredReceipt {
  readonly topic: string;
  readonly partition: number;
  /** Log offset of the appended record. */
  readonly offset: number;
  /** The event's own timestamp, epoch ms. */
  readonly timestamp: number;
}

export type ClaimResult =
  /** This caller owns the eventId: append, then `complete` (or `release` on failure). */
  | { readonly status: 'claimed' }
  /** Published before within the horizon: answer with this receipt, status DUPLICATE. */
  | { readonly status: 'done'; readonly receipt: StoredReceipt }
  /** Another caller holds the claim and has not completed yet: wait, then claim again. */
  | { readonly status: 'pending' };

/** Where the claimer's append will go: what a later claim scans when this claim goes stale. */
export interface ClaimLocation {
  readonly topic: string;
  readonly partition: number;
}

/**
 * Looks in the log for an event whose claim went stale (its gateway died between the append and
 * `complete`): the records of `topic`/`partition` appended from `since` (epoch ms, the stale
 * claim's time) on. Returns the receipt of the record carrying `eventId`, or null when the event
 * is not in that range (the dead gateway never appended it).
 */
export type StaleClaimResolver = (eventId: string, where: ClaimLocation & { readonly since: number }) => Promise<StoredReceipt | null>;

export interface Dedupe {
  readonly kind: 'memory' | 'redis';
  /**
   * Loads what the adapter needs before the first claim (the memory adapter: rebuilds its
   * receipts from the log when it has one to recover from). Idempotent.
   */
  start?(): Promise<void>;
  /** Atomically claims `eventId` (see {@link ClaimResult}); `where` is where the claimer will append it. */
  claim(eventId: string, where?: ClaimLocation): Promise<ClaimResult>;
  /** Stores the receipt of the caller's successful append for the dedupe horizon. */
  complete(eventId: string, receipt: StoredReceipt): Promise<void>;
  /** Gives up the caller's pending claim (the append failed); a completed receipt stays. */
  release(eventId: string): Promise<void>;
  close(): Promise<void>;
}

/** Default lifetime of an unfinished claim: 30 s (longer than the append's bounded retry time). */
export const DEFAULT_PENDING_TTL_MS = 30_000;
