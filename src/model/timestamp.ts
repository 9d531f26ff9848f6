/**
 * ISO-8601 date-times as events carry them, checked field by field: `Date.parse` rolls impossible
 * dates over (`2026-02-30` becomes March 2, `T24:00` the next day), so it is never the judge of
 * what is valid. {@link parseIsoTimestamp} is the one parser of the wire form — the API's DateTime
 * scalar, the event schema and the processor's record decoder all use it.
 */

/** ISO-8601 date-time with an explicit offset (`Z` or `±hh:mm` / `±hhmm`), any precision up to ns. */
export const ISO_DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})$/;

/** Days of each month of a common year (index 1 = January). */
const MONTH_DAYS = [0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

/** Days in a month of a year of the proleptic Gregorian calendar. */
export function daysInMonth(year: number, month: number): number {
  return month === 2 && isLeapYear(year) ? 29 : MONTH_DAYS[month]!;
}

/** The n-digit decimal number at s[i..i+n), or −1 when one of those chars is not an ASCII digit. */
function digits(s: string, i: number, n: number): number {
  let v = 0;
  for (let k = i; k < i + n; k++) {
    const c = s.charCodeAt(k) - 48;
    if (c < 0 || c > 9) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Days from 1970-01-01 to a civil date (H. Hinnant's days_from_civil), exact in integers. */
function daysFromCivil(year: number, month: number, day: number): number {
  const yy = month <= 2 ? year - 1 : year;
  const era = Math.floor(yy / 400);
  const yoe = yy - era * 400;
  const mp = month > 2 ? month - 3 : month + 9;
  const doy = Math.floor((153 * mp + 2) / 5) + day - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

const LAYOUT = 'must be an ISO-8601 date-time with a time zone, e.g. 2024-01-15T10:30:00.000Z';

/**
 * Epoch ms of an ISO date-time, or the reason it is not one. Returns a number on success so the
 * hot path allocates nothing; the reason is only built for invalid input.
 */
function scan(s: string): number | string {
  if (s.length < 17 || s.length > 35) return LAYOUT;
  // the common layout, `YYYY-MM-DDTHH:MM:SS.sssZ` (toISOString), without the regex
  const common =
    s.length === 24 &&
    s.charCodeAt(4) === 45 && // -
    s.charCodeAt(7) === 45 &&
    s.charCodeAt(10) === 84 && // T
    s.charCodeAt(13) === 58 && // :
    s.charCodeAt(16) === 58 &&
    s.charCodeAt(19) === 46 && // .
    s.charCodeAt(23) === 90; // Z
  if (common ? digits(s, 20, 3) < 0 : !ISO_DATE_TIME.test(s)) return LAYOUT;
  const year = digits(s, 0, 4);
  const month = digits(s, 5, 2);
  const day = digits(s, 8, 2);
  const hour = digits(s, 11, 2);
  const minute = digits(s, 14, 2);
  let second = 0;
  let ms = 0;
  let i = 16;
  if (common) {
    second = digits(s, 17, 2);
    ms = digits(s, 20, 3);
    i = 23;
  } else if (s.charCodeAt(i) === 58) {
    second = digits(s, i + 1, 2);
    i += 3;
    if (s.charCodeAt(i) === 46) {
      // fraction: the first three digits are the milliseconds, further digits are cut off (as Date.parse does)
      let n = 0;
      let scale = 100;
      for (i++; i < s.length; i++, n++) {
        const c = s.charCodeAt(i) - 48;
        if (c < 0 || c > 9) break;
        if (n < 3) {
          ms += c * scale;
          scale /= 10;
        }
      }
    }
  }
  if (year < 0 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return LAYOUT;
  if (month < 1 || month > 12) return `has month ${s.slice(5, 7)}; months are 01 to 12`;
  const dim = daysInMonth(year, month);
  if (day < 1 || day > dim) return `has day ${s.slice(8, 10)}; ${s.slice(0, 7)} has days 01 to ${dim}`;
  if (hour > 23) return `has hour ${s.slice(11, 13)}; hours are 00 to 23 (24:00 is written as 00:00 of the next day)`;
  if (minute > 59) return `has minute ${s.slice(14, 16)}; minutes are 00 to 59`;
  if (second > 59) return `has second ${String(second).padStart(2, '0')}; seconds are 00 to 59 (leap seconds are not accepted)`;
  let offsetMin = 0;
  if (s.charCodeAt(i) !== 90) {
    const sign = s.charCodeAt(i) === 45 ? -1 : 1;
    const oh = digits(s, i + 1, 2);
    const om = digits(s, s.charCodeAt(i + 3) === 58 ? i + 4 : i + 3, 2);
    if (oh > 23 || om > 59) return `has offset ${s.slice(i)}; offsets are -23:59 to +23:59`;
    offsetMin = sign * (oh * 60 + om);
  }
  return daysFromCivil(year, month, day) * 86_400_000 + hour * 3_600_000 + (minute - offsetMin) * 60_000 + second * 1000 + ms;
}

/**
 * Epoch ms (UTC) of an ISO-8601 date-time with an offset, or NaN when the text is not one or names
 * a date or time that does not exist (`2026-02-30`, `T24:00`, minute 60, offset +24:00). Agrees
 * with `Date.parse` on every valid input (fractions beyond milliseconds are cut off).
 */
export function parseIsoTimestamp(s: string): number {
  const r = scan(s);
  return typeof r === 'number' ? r : Number.NaN;
}

/** Why `s` is not a valid ISO-8601 date-time (see {@link parseIsoTimestamp}), or undefined when it is one. */
export function isoTimestampProblem(s: string): string | undefined {
  const r = scan(s);
  return typeof r === 'number' ? undefined : r;
}
