/**
 * NATS subject patterns: `*` matches one token, `>` the rest (one token or more). Shared by the
 * in-process bus (routing) and the interest table (who listens to what).
 */

/** Whether the subject has a wildcard token. */
export function isWildcard(subject: string): boolean {
  return subject.includes('*') || subject.includes('>');
}

/** Whether the pattern's tokens match the subject's tokens. */
export function matchesTokens(pattern: readonly string[], subject: readonly string[]): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const t = pattern[i]!;
    if (t === '>') return subject.length > i;
    if (i >= subject.length) return false;
    if (t !== '*' && t !== subject[i]) return false;
  }
  return pattern.length === subject.length;
}
