/**
 * Subject interest between NATS buses, so that publishers send only what some node listens to.
 *
 * Every bus announces the set of subjects its subscriptions cover on `keyflow.interest.announce`
 * (under the bus prefix): at once when the set changes, again every third of the TTL (a
 * heartbeat), and an empty set when it closes. Every bus keeps the announcements it hears in an
 * {@link InterestTable}; a node that stops announcing (killed, cut off) stops counting after the
 * TTL. A bus that (re)connects asks on `keyflow.interest.query` and every bus with subscriptions
 * answers by announcing; until the answers are in (the warm-up) it publishes everything, so a
 * restarted publisher never drops a message a subscriber wanted.
 */
import { InterestTable } from '../internal/interest-table.ts';

/** Control subjects (prefixed like every other subject). */
export const INTEREST_SUBJECTS = {
  announce: 'keyflow.interest.announce',
  query: 'keyflow.interest.query',
} as const;

export interface InterestOptions {
  /** How long a node's announcement counts, ms; nodes announce again every third of it. @default 6000 */
  ttlMs?: number;
  /** After (re)connecting, how long every message is published while the other nodes answer, ms. @default 1000 */
  warmUpMs?: number;
}

/** What one node announces: every subject (pattern) it subscribes to, valid for `ttlMs`. */
interface Announcement {
  node: string;
  subjects: string[];
  ttlMs: number;
}

const MIN_TTL_MS = 100;
const MAX_TTL_MS = 3_600_000;

function asAnnouncement(m: unknown): Announcement | null {
  if (typeof m !== 'object' || m === null) return null;
  const a = m as Partial<Announcement>;
  if (typeof a.node !== 'string' || !Array.isArray(a.subjects) || typeof a.ttlMs !== 'number' || !Number.isFinite(a.ttlMs)) return null;
  if (!a.subjects.every((s) => typeof s === 'string' && s.length > 0)) return null;
  return { node: a.node, subjects: a.subjects, ttlMs: Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, a.ttlMs)) };
}

export interface Interest {
  /** Heartbeat period: a third of the TTL, ms. */
  readonly heartbeatMs: number;
  /** A local subscription to `subject` began / ended (counted: several may share a subject). */
  add(subject: string): void;
  delete(subject: string): void;
  /** Whether to publish on `subject` now. */
  wants(subject: string): boolean;
  /** A message on one of the {@link INTEREST_SUBJECTS}. */
  receive(controlSubject: string, message: unknown): void;
  /** The connection is up (first time or again): ask the others, announce ourselves. */
  connected(): void;
  /** The heartbeat: announce again while there is something to announce. */
  heartbeat(): void;
  /** Withdraws this node's interest (the bus is closing). */
  withdraw(): void;
}

export function createInterest(options: InterestOptions & { node: string; send: (subject: string, message: unknown) => void; now?: () => number }): Interest {
  const now = options.now ?? Date.now;
  const ttlMs = Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, options.ttlMs ?? 6000));
  const warmUpMs = Math.max(0, options.warmUpMs ?? 1000);
  const table = new InterestTable(now);
  const local = new Map<string, number>();
  // Until the first connection nothing is known: publish everything.
  let warmUntil = Number.POSITIVE_INFINITY;
  let announcing = false;

  function announce(): void {
    const subjects = [...local.keys()];
    table.set(options.node, subjects, ttlMs);
    options.send(INTEREST_SUBJECTS.announce, { node: options.node, subjects, ttlMs } satisfies Announcement);
  }

  /** One announcement for every change made in the same tick (a burst of new subscriptions). */
  function announceSoon(): void {
    if (announcing) return;
    announcing = true;
    queueMicrotask(() => {
      announcing = false;
      announce();
    });
  }

  return {
    heartbeatMs: Math.floor(ttlMs / 3),
    add(subject) {
      const n = local.get(subject) ?? 0;
      local.set(subject, n + 1);
      if (n === 0) announceSoon();
    },
    delete(subject) {
      const n = local.get(subject);
      if (n === undefined) return;
      if (n > 1) local.set(subject, n - 1);
      else {
        local.delete(subject);
        announceSoon();
      }
    },
    wants(subject) {
      return now() < warmUntil || table.wants(subject);
    },
    receive(controlSubject, message) {
      if (controlSubject === INTEREST_SUBJECTS.query) {
        if (local.size > 0) announce();
        return;
      }
      const a = asAnnouncement(message);
      if (a === null || a.node === options.node) return;
      table.set(a.node, a.subjects, a.ttlMs);
    },
    connected() {
      warmUntil = now() + warmUpMs;
      options.send(INTEREST_SUBJECTS.query, {});
      if (local.size > 0) announce();
    },
    heartbeat() {
      if (local.size > 0) announce();
    },
    withdraw() {
      local.clear();
      table.remove(options.node);
      options.send(INTEREST_SUBJECTS.announce, { node: options.node, subjects: [], ttlMs } satisfies Announcement);
    },
  };
}
