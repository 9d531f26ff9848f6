/**
 * The one duration grammar of keyflow: a whole number without leading zeros and a unit —
 * `500ms`, `10s`, `5m`, `2h`, `1d` — from 1 ms up to 366 days. Window specs, environment
 * variables and the load generator's flags all read durations with {@link parseDuration}.
 */

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION = /^([1-9][0-9]{0,9})(ms|s|m|h|d)$/;

/** The longest duration accepted: 366 days, so window arithmetic stays far inside safe integers. */
export const MAX_DURATION_MS = 366 * 86_400_000;

/** Examples for error messages: what a valid duration looks like. */
export const DURATION_EXAMPLES = '500ms, 30s, 1m, 1h, 1d';

/** Parses a duration such as `500ms`, `30s`, `5m`, `1h`, `1d` to milliseconds; undefined when malformed or out of range. */
export function parseDuration(text: string): number | undefined {
  const m = DURATION.exec(text);
  if (!m) return undefined;
  const ms = Number(m[1]) * UNIT_MS[m[2]!]!;
  return ms > 0 && ms <= MAX_DURATION_MS ? ms : undefined;
}
