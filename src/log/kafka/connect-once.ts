/** Connecting a kafkajs client on first use: concurrent callers share one attempt, a failed attempt is forgotten. */

export interface LazyConnection {
  /** Connects unless connected (or connecting); rejects with the connect error, and the next call tries again. */
  ensure(): Promise<void>;
  /** Whether a connect was started and has not failed or been forgotten. */
  opened(): boolean;
  /** Forgets the connection (before a disconnect), so the next `ensure` connects again. */
  forget(): void;
}

export function lazyConnection(connect: () => Promise<void>): LazyConnection {
  let ready: Promise<void> | undefined;
  return {
    ensure() {
      ready ??= connect().catch((e: unknown) => {
        ready = undefined;
        throw e;
      });
      return ready;
    },
    opened: () => ready !== undefined,
    forget() {
      ready = undefined;
    },
  };
}
