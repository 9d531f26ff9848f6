/**
 * Window specs by name: `tumbling-<size>`, `sliding-<size>-<slide>`, `session-<gap>`.
 * Parsed once at the edge (configuration, API arguments); the hot path only sees {@link WindowSpec}.
 */
import { DURATION_EXAMPLES, parseDuration } from '../../core/index.ts';
import { ErrorCode, KeyflowError } from '../../model/index.ts';

/** Window sizes, slides and gaps use the one duration grammar of core (up to 366 days). */
export { parseDuration };

export type WindowKind = 'tumbling' | 'sliding' | 'session';

/** A parsed window spec. Durations are milliseconds. */
export interface WindowSpec {
  /** The canonical name it was parsed from, e.g. `sliding-5m-1m`. */
  readonly name: string;
  readonly kind: WindowKind;
  /** Window length (tumbling, sliding); the gap for sessions. */
  readonly size: number;
  /** Distance between window starts: `size` for tumbling, the slide for sliding, 0 for sessions. */
  readonly slide: number;
  /** Session gap; 0 for tumbling and sliding. */
  readonly gap: number;
}

/** The default window specs. */
export const DEFAULT_WINDOWS: readonly string[] = ['tumbling-1m', 'tumbling-5m', 'tumbling-15m', 'sliding-5m-1m', 'session-30m'];

function unknownWindow(name: string, why: string): KeyflowError {
  return new KeyflowError(
    ErrorCode.UNKNOWN_WINDOW,
    `unknown window "${name}": ${why}; expected tumbling-<size>, sliding-<size>-<slide> or session-<gap> with sizes like ${DURATION_EXAMPLES}`,
    { details: { window: name } },
  );
}

/** Parses one spec name. Throws KeyflowError UNKNOWN_WINDOW for anything else. */
export function parseWindowSpec(name: string): WindowSpec {
  if (typeof name !== 'string') throw unknownWindow(String(name), 'not a string');
  const parts = name.trim().split('-');
  const kind = parts[0];
  const dur = (i: number): number => {
    const p = parts[i];
    const ms = p === undefined ? undefined : parseDuration(p);
    if (ms === undefined) throw unknownWindow(name, `"${p ?? ''}" is not a duration`);
    return ms;
  };
  if (kind === 'tumbling' && parts.length === 2) {
    const size = dur(1);
    return { name: name.trim(), kind, size, slide: size, gap: 0 };
  }
  if (kind === 'sliding' && parts.length === 3) {
    const size = dur(1);
    const slide = dur(2);
    if (slide > size) throw unknownWindow(name, 'the slide must not exceed the size');
    return { name: name.trim(), kind, size, slide, gap: 0 };
  }
  if (kind === 'session' && parts.length === 2) {
    const gap = dur(1);
    return { name: name.trim(), kind, size: gap, slide: 0, gap };
  }
  throw unknownWindow(name, 'not a known window kind');
}

/** Parses a comma-separated list (e.g. `KEYFLOW_WINDOWS`); duplicates are removed, order kept. Throws UNKNOWN_WINDOW. */
export function parseWindowSpecs(csv: string | readonly string[]): WindowSpec[] {
  const names = typeof csv === 'string' ? csv.split(',') : csv;
  const out: WindowSpec[] = [];
  const seen = new Set<string>();
  for (const raw of names) {
    const n = raw.trim();
    if (n === '') continue;
    const spec = parseWindowSpec(n);
    if (seen.has(spec.name)) continue;
    seen.add(spec.name);
    out.push(spec);
  }
  if (out.length === 0) throw unknownWindow(String(csv), 'no window spec given');
  return out;
}
