/**
 * The rules for free-form JSON an event carries (`payload`, `metadata`), checked before anything
 * recursive touches it (encoding, the bus, the sinks), so hostile input is refused with its path
 * instead of overflowing the stack or being altered in transit:
 *
 * - at most {@link MAX_JSON_DEPTH} levels of objects and arrays (the object itself is level 1);
 * - no `__proto__` key at any level: JavaScript objects cannot keep it as data (an assignment sets
 *   the prototype instead, so every copy would drop it), hence it is refused rather than lost.
 *   `constructor` and `prototype` are ordinary keys and are kept as data;
 * - numbers are finite (a JSON text like `1e400` parses to Infinity, which JSON cannot carry on).
 */

/** Deepest nesting of objects and arrays accepted in a payload or metadata object; the object itself is level 1. */
export const MAX_JSON_DEPTH = 32;

/** The one key refused in payloads and metadata (see the module doc). */
export const FORBIDDEN_JSON_KEY = '__proto__';

/** Where a JSON value breaks a rule: the path below the checked value and what is wrong there. */
export interface JsonProblem {
  path: (string | number)[];
  message: string;
}

function walk(v: unknown, depth: number, max: number): JsonProblem | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : { path: [], message: `is ${v}; numbers must be finite` };
  if (typeof v !== 'object' || v === null) return undefined;
  if (depth > max) return { path: [], message: `nests objects and arrays more than ${max} levels deep` };
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = walk(v[i], depth + 1, max);
      if (p) {
        p.path.unshift(i);
        return p;
      }
    }
    return undefined;
  }
  for (const k in v) {
    if (k === FORBIDDEN_JSON_KEY) return { path: [k], message: `is a key that cannot be kept as data; rename it` };
    if (!Object.hasOwn(v, k)) continue;
    const p = walk((v as Record<string, unknown>)[k], depth + 1, max);
    if (p) {
      p.path.unshift(k);
      return p;
    }
  }
  return undefined;
}

/**
 * The first rule (see the module doc) `value` breaks, or undefined. Recursion stops at
 * `maxDepth`, so any input is safe to check; nothing is allocated for valid input.
 */
export function jsonDataProblem(value: unknown, maxDepth: number = MAX_JSON_DEPTH): JsonProblem | undefined {
  return walk(value, 1, maxDepth);
}
