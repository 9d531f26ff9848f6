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
 * - `claim` is atomic (Redis: `SET key <pending> NX PX pendingTtlMs`, then `GET` when it fails).
 * - A pending claim expires after `pendingTtlMs` so a gateway that died mid-append does not block
 *   the eventId forever; the next claim then wins (the event may be appended twice in that case,
 *   which is the at-least-once edge the horizon cannot close).
 * - `complete` replaces the claim with the receipt for `ttlMs` (the dedupe horizon).
 * - `release` deletes a pending claim; it never deletes a completed receipt.
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

export interface Dedupe {
  readonly kind: 'memory' | 'redis';
  /** Atomically claims `eventId` (see {@link ClaimResult}). */
  claim(eventId: string): Promise<ClaimResult>;
  /** Stores the receipt of the caller's successful append for the dedupe horizon. */
  complete(eventId: string, receipt: StoredReceipt): Promise<void>;
  /** Gives up the caller's pending claim (the append failed); a completed receipt stays. */
  release(eventId: string): Promise<void>;
  close(): Promise<void>;
}

/** Default lifetime of an unfinished claim: 30 s (longer than the append's bounded retry time). */
export const DEFAULT_PENDING_TTL_MS = 30_000;
