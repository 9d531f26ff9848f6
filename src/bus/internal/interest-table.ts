/**
 * Which subjects some node listens to, as nodes announced them: each node's latest set of subject
 * patterns with an expiry, so a node that dies without withdrawing stops counting after its TTL.
 * `wants(subject)` is on the publish path: answered from a per-subject cache that is cleared only
 * when the set of patterns changes or an entry expires.
 */
import { isWildcard, matchesTokens } from './subject-match.ts';

interface NodeInterest {
  /** The patterns, joined: a heartbeat with the same set only extends the expiry. */
  readonly signature: string;
  readonly exact: ReadonlySet<string>;
  readonly wildcards: readonly (readonly string[])[];
  expiresAt: number;
}

/** Subjects cached before the cache is reset (subjects are topics and event types: few). */
const MAX_CACHED = 10_000;

export class InterestTable {
  private readonly nodes = new Map<string, NodeInterest>();
  private readonly cache = new Map<string, boolean>();
  private nextExpiry = Number.POSITIVE_INFINITY;

  constructor(private readonly now: () => number = Date.now) {}

  /** Replaces what `node` listens to; an empty list withdraws it. `ttlMs` from now on, unless announced again. */
  set(node: string, patterns: readonly string[], ttlMs: number): void {
    if (patterns.length === 0) {
      this.remove(node);
      return;
    }
    const expiresAt = this.now() + ttlMs;
    const signature = [...patterns].sort().join('\n');
    const known = this.nodes.get(node);
    if (known !== undefined && known.signature === signature) {
      known.expiresAt = expiresAt;
    } else {
      const exact = new Set<string>();
      const wildcards: string[][] = [];
      for (const p of patterns) {
        if (isWildcard(p)) wildcards.push(p.split('.'));
        else exact.add(p);
      }
      this.nodes.set(node, { signature, exact, wildcards, expiresAt });
      this.cache.clear();
    }
    if (expiresAt < this.nextExpiry) this.nextExpiry = expiresAt;
  }

  remove(node: string): void {
    if (this.nodes.delete(node)) this.cache.clear();
  }

  /** Whether any live node listens to a pattern that matches `subject`. */
  wants(subject: string): boolean {
    if (this.nextExpiry <= this.now()) this.expire();
    const cached = this.cache.get(subject);
    if (cached !== undefined) return cached;
    let yes = false;
    let tokens: string[] | undefined;
    for (const n of this.nodes.values()) {
      if (n.exact.has(subject)) {
        yes = true;
        break;
      }
      if (n.wildcards.length === 0) continue;
      tokens ??= subject.split('.');
      if (n.wildcards.some((w) => matchesTokens(w, tokens!))) {
        yes = true;
        break;
      }
    }
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(subject, yes);
    return yes;
  }

  /** Nodes that listen to something (tests, health). */
  get size(): number {
    if (this.nextExpiry <= this.now()) this.expire();
    return this.nodes.size;
  }

  private expire(): void {
    const now = this.now();
    let next = Number.POSITIVE_INFINITY;
    for (const [node, n] of this.nodes) {
      if (n.expiresAt <= now) {
        this.nodes.delete(node);
        this.cache.clear();
      } else if (n.expiresAt < next) next = n.expiresAt;
    }
    this.nextExpiry = next;
  }
}
