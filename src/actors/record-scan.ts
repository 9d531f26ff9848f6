/**
 * The processor's fast record decoder: reads an event record's JSON bytes once, left to right,
 * and takes from them only what the windows need — event type, key fields, user, event time and
 * the type's value field — without building the payload. `payload` and `metadata` are parsed
 * only if something asks for them (the live `events` feed, a test's poison marker), from the
 * bytes the scan kept.
 *
 * It accepts a strict subset of what `JSON.parse` + the model's rules accept: ASCII only, no
 * escapes in the envelope's own string fields, no duplicate envelope fields, no duplicate value
 * field in the payload. Anything else returns `undefined` and the caller decodes the record the
 * general way, so acceptance, values and error messages stay exactly those of the model
 * (`test/unit/record-scan.test.ts` checks the two agree on random records).
 *
 * The payload and metadata rules of `jsonDataProblem` are checked on the bytes: nesting at most
 * {@link MAX_JSON_DEPTH} levels, no `__proto__` key at any level, finite numbers.
 */
import type { EventEnvelope } from '../model/index.ts';
import { daysInMonth, MAX_JSON_DEPTH, parseIsoTimestamp } from '../model/index.ts';
import { asciiText } from './ascii.ts';

const utf8 = new TextDecoder('utf-8', { fatal: true });


/**
 * An event decoded by {@link scanRecord}. A class (one hidden class for every record) with the
 * fields of {@link EventEnvelope}; `payload` and `metadata` are getters that parse the kept bytes
 * on first use, and `toJSON` gives the plain envelope (what a bus encodes).
 */
export class ScannedEvent implements EventEnvelope {
  timestamp: number;
  eventType: string;
  userId: string | null;
  deviceId: string | null;
  /** The field `value` was read from (the type's value field), or null when none was read. */
  valueField: string | null;
  /** `payload[valueField]` when it is a number, else undefined. */
  value: number | undefined;
  private readonly bytes: Uint8Array;
  private readonly ps: number;
  private readonly pe: number;
  private readonly ms: number;
  private readonly me: number;
  private parsedPayload: Record<string, unknown> | undefined;
  private parsedMetadata: Record<string, unknown> | null | undefined;

  private readonly is: number;
  private readonly ie: number;
  private id: string | undefined;

  constructor(
    bytes: Uint8Array,
    is: number,
    ie: number,
    timestamp: number,
    eventType: string,
    userId: string | null,
    deviceId: string | null,
    ps: number,
    pe: number,
    ms: number,
    me: number,
  ) {
    this.is = is;
    this.ie = ie;
    this.id = undefined;
    this.timestamp = timestamp;
    this.eventType = eventType;
    this.userId = userId;
    this.deviceId = deviceId;
    this.valueField = null;
    this.value = undefined;
    this.bytes = bytes;
    this.ps = ps;
    this.pe = pe;
    this.ms = ms;
    this.me = me;
    this.parsedPayload = undefined;
    this.parsedMetadata = undefined;
  }

  /** Read from the bytes on first use: most events are never asked for it. */
  get eventId(): string {
    if (this.id === undefined) this.id = asciiText(this.bytes, this.is, this.ie);
    return this.id;
  }

  get payload(): Record<string, unknown> {
    if (this.parsedPayload === undefined) this.parsedPayload = JSON.parse(utf8.decode(this.bytes.subarray(this.ps, this.pe)));
    return this.parsedPayload!;
  }

  get metadata(): Record<string, unknown> | null {
    if (this.parsedMetadata === undefined) {
      this.parsedMetadata = this.ms < 0 ? null : JSON.parse(utf8.decode(this.bytes.subarray(this.ms, this.me)));
    }
    return this.parsedMetadata!;
  }

  toJSON(): EventEnvelope {
    return {
      eventId: this.eventId,
      timestamp: this.timestamp,
      eventType: this.eventType,
      userId: this.userId,
      deviceId: this.deviceId,
      payload: this.payload,
      metadata: this.metadata,
    };
  }
}

// --- the scanner: positions move through `pos`; -1 means "not in the fast subset" ---

const QUOTE = 34;
const BACKSLASH = 92;

function ws(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9;
}

function skipWs(b: Uint8Array, i: number): number {
  while (i < b.length && ws(b[i]!)) i++;
  return i;
}

/**
 * End (exclusive, after the closing quote) of the string whose opening quote is at `i`, or −1.
 * `plain`: no escapes allowed (the envelope's own fields). ASCII only, no control characters.
 */
function stringEnd(b: Uint8Array, i: number, plain: boolean): number {
  const n = b.length;
  i++;
  while (i < n) {
    const c = b[i]!;
    if (c === QUOTE) return i + 1;
    if (c < 0x20 || c >= 0x80) return -1;
    if (c === BACKSLASH) {
      if (plain || i + 1 >= n) return -1;
      const x = b[i + 1]!;
      if (x === 117) {
        // \uXXXX
        if (i + 5 >= n) return -1;
        for (let k = i + 2; k < i + 6; k++) if (!isHex(b[k]!)) return -1;
        i += 6;
        continue;
      }
      if (x !== QUOTE && x !== BACKSLASH && x !== 47 && x !== 98 && x !== 102 && x !== 110 && x !== 114 && x !== 116) return -1;
      i += 2;
      continue;
    }
    i++;
  }
  return -1;
}

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** End of the JSON number at `i` (strict grammar), or −1. */
function numberEnd(b: Uint8Array, i: number): number {
  const n = b.length;
  if (b[i] === 45) i++;
  if (i >= n) return -1;
  if (b[i] === 48) i++;
  else if (isDigit(b[i]!)) while (i < n && isDigit(b[i]!)) i++;
  else return -1;
  if (i < n && b[i] === 46) {
    i++;
    if (i >= n || !isDigit(b[i]!)) return -1;
    while (i < n && isDigit(b[i]!)) i++;
  }
  if (i < n && (b[i] === 101 || b[i] === 69)) {
    i++;
    if (i < n && (b[i] === 43 || b[i] === 45)) i++;
    if (i >= n || !isDigit(b[i]!)) return -1;
    while (i < n && isDigit(b[i]!)) i++;
  }
  return i;
}

/** The number token [s, e) as JSON.parse reads it; short plain integers without a string. */
function numberOf(b: Uint8Array, s: number, e: number): number {
  if (e - s <= 9) {
    let i = s;
    const neg = b[i] === 45;
    if (neg) i++;
    let v = 0;
    for (; i < e; i++) {
      const c = b[i]!;
      if (c < 48 || c > 57) return Number(asciiText(b, s, e));
      v = v * 10 + (c - 48);
    }
    return neg ? -v : v;
  }
  return Number(asciiText(b, s, e));
}

/** End of the literal `true` / `false` / `null` at `i`, or −1. */
function literalEnd(b: Uint8Array, i: number): number {
  const c = b[i];
  if (c === 116) return b[i + 1] === 114 && b[i + 2] === 117 && b[i + 3] === 101 ? i + 4 : -1;
  if (c === 102) return b[i + 1] === 97 && b[i + 2] === 108 && b[i + 3] === 115 && b[i + 4] === 101 ? i + 5 : -1;
  if (c === 110) return b[i + 1] === 117 && b[i + 2] === 108 && b[i + 3] === 108 ? i + 4 : -1;
  return -1;
}

/** `__proto__` as a key: the 11 bytes of the quoted name (escaped spellings are refused by the caller). */
function isProtoKey(b: Uint8Array, s: number, e: number): boolean {
  return (
    e - s === 11 &&
    b[s + 1] === 95 &&
    b[s + 2] === 95 &&
    b[s + 3] === 112 &&
    b[s + 4] === 114 &&
    b[s + 5] === 111 &&
    b[s + 6] === 116 &&
    b[s + 7] === 111 &&
    b[s + 8] === 95 &&
    b[s + 9] === 95
  );
}

function hasEscape(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s + 1; i < e - 1; i++) if (b[i] === BACKSLASH) return true;
  return false;
}

/**
 * End of the JSON value at `i` (an object, array, string, number or literal), or −1. With
 * `checkRules`, the JSON data rules are checked inside objects and arrays; `depth` is the level of
 * the value when it is an object or array (the payload itself is level 1). Iterative: any nesting
 * is safe, and a flat object allocates nothing.
 */
function valueEnd(b: Uint8Array, i: number, depth: number, checkRules: boolean): number {
  const c = b[i];
  if (c === QUOTE) return stringEnd(b, i, false);
  if (c === 45 || (c !== undefined && isDigit(c))) return scalarNumberEnd(b, i, checkRules);
  if (c !== 123 && c !== 91) return literalEnd(b, i);
  const n = b.length;
  let level = depth;
  if (checkRules && level > MAX_JSON_DEPTH) return -1;
  let outer: number[] | null = null; // kinds of the enclosing containers, 123 `{` or 91 `[`
  let kind: number = c;
  i = skipWs(b, i + 1);
  if (b[i] === kind + 2) return i + 1; // `{}` / `[]`; a close bracket is its open one + 2
  let afterValue = false;
  for (;;) {
    if (afterValue) {
      i = skipWs(b, i);
      const y = b[i];
      if (y === 44) {
        // `,` then the next member (a close bracket after it fails below: trailing comma)
        i = skipWs(b, i + 1);
        afterValue = false;
      } else if (y === kind + 2) {
        i++;
        level--;
        if (outer === null || outer.length === 0) return i;
        kind = outer.pop()!;
        continue;
      } else return -1;
    }
    if (i >= n) return -1;
    let x = b[i]!;
    if (kind === 123) {
      if (x !== QUOTE) return -1;
      const ke = stringEnd(b, i, false);
      if (ke < 0) return -1;
      // `__proto__`, or an escaped key (which might spell it): not in the fast subset
      if (checkRules && (isProtoKey(b, i, ke) || hasEscape(b, i, ke))) return -1;
      i = skipWs(b, ke);
      if (b[i] !== 58) return -1;
      i = skipWs(b, i + 1);
      if (i >= n) return -1;
      x = b[i]!;
    }
    if (x === 123 || x === 91) {
      level++;
      if (checkRules && level > MAX_JSON_DEPTH) return -1;
      (outer ??= []).push(kind);
      kind = x;
      i = skipWs(b, i + 1);
      if (b[i] === kind + 2) {
        // an empty container closes at once
        i++;
        level--;
        kind = outer.pop()!;
        afterValue = true;
      }
      continue;
    }
    let e: number;
    if (x === QUOTE) e = stringEnd(b, i, false);
    else if (x === 45 || isDigit(x)) e = scalarNumberEnd(b, i, checkRules);
    else e = literalEnd(b, i);
    if (e < 0) return -1;
    i = e;
    afterValue = true;
  }
}

/** End of the number at `i`, or −1 (also when `checkRules` and it is not finite, like `1e400`). */
function scalarNumberEnd(b: Uint8Array, i: number, checkRules: boolean): number {
  const e = numberEnd(b, i);
  if (e < 0) return -1;
  // only an exponent or more than 300 digits can overflow to ±Infinity
  if (checkRules && (e - i > 300 || hasExponent(b, i, e)) && !Number.isFinite(numberOf(b, i, e))) return -1;
  return e;
}

function hasExponent(b: Uint8Array, s: number, e: number): boolean {
  for (let i = s; i < e; i++) if (b[i] === 101 || b[i] === 69) return true;
  return false;
}

function digits2(b: Uint8Array, i: number): number {
  const x = b[i]! - 48;
  const y = b[i + 1]! - 48;
  return x >= 0 && x <= 9 && y >= 0 && y <= 9 ? x * 10 + y : -1;
}

/**
 * Epoch ms of the timestamp text [s, e): the layout keyflow writes (`2026-01-15T10:00:00.000Z`)
 * read from the bytes, anything else through the model's parser (NaN when it is not a date-time).
 */
function isoMillis(b: Uint8Array, s: number, e: number): number {
  if (e - s === 24 && b[s + 4] === 45 && b[s + 7] === 45 && b[s + 10] === 84 && b[s + 13] === 58 && b[s + 16] === 58 && b[s + 19] === 46 && b[s + 23] === 90) {
    const y1 = digits2(b, s);
    const y2 = digits2(b, s + 2);
    const mo = digits2(b, s + 5);
    const d = digits2(b, s + 8);
    const h = digits2(b, s + 11);
    const mi = digits2(b, s + 14);
    const sec = digits2(b, s + 17);
    const ms1 = digits2(b, s + 20);
    const ms2 = b[s + 22]! - 48;
    const y = y1 * 100 + y2;
    // years before 1000 (Date.UTC maps 0–99 to 19xx) and anything odd go the general way
    if (y1 >= 10 && y2 >= 0 && mo >= 1 && mo <= 12 && d >= 1 && h >= 0 && h <= 23 && mi >= 0 && mi <= 59 && sec >= 0 && sec <= 59 && ms1 >= 0 && ms2 >= 0 && ms2 <= 9) {
      if (d > daysInMonth(y, mo)) return Number.NaN;
      return Date.UTC(y, mo - 1, d, h, mi, sec, ms1 * 10 + ms2);
    }
  }
  return parseIsoTimestamp(asciiText(b, s, e));
}

// The last event type read, reused while records name the same one (a topic holds few types).
let lastType = '';

function typeName(b: Uint8Array, s: number, e: number): string {
  if (e - s === lastType.length && same(b, s, lastType)) return lastType;
  lastType = asciiText(b, s, e);
  return lastType;
}

// envelope field ids
const F_EVENT_ID = 1;
const F_TIMESTAMP = 2;
const F_EVENT_TYPE = 3;
const F_USER_ID = 4;
const F_DEVICE_ID = 5;
const F_PAYLOAD = 6;
const F_METADATA = 7;

function same(b: Uint8Array, s: number, lit: string): boolean {
  for (let k = 0; k < lit.length; k++) if (b[s + k] !== lit.charCodeAt(k)) return false;
  return true;
}

/** The envelope field of the quoted key [s, e), 0 for another key. */
function fieldOf(b: Uint8Array, s: number, e: number): number {
  const len = e - s - 2;
  const k = s + 1;
  switch (len) {
    case 6:
      return same(b, k, 'userId') ? F_USER_ID : 0;
    case 7:
      return same(b, k, 'eventId') ? F_EVENT_ID : same(b, k, 'payload') ? F_PAYLOAD : 0;
    case 8:
      return same(b, k, 'deviceId') ? F_DEVICE_ID : same(b, k, 'metadata') ? F_METADATA : 0;
    case 9:
      return same(b, k, 'timestamp') ? F_TIMESTAMP : same(b, k, 'eventType') ? F_EVENT_TYPE : 0;
    default:
      return 0;
  }
}

/**
 * `payload[field]` of the payload object [ps, pe) (already checked by `valueEnd`): the number when
 * the top-level key `field` holds one, NaN when it holds something else or is absent, −∞ when the
 * key occurs twice or an escaped key might spell it (the caller then decodes the general way).
 */
function topLevelNumber(b: Uint8Array, ps: number, pe: number, field: string): number {
  let i = skipWs(b, ps + 1);
  let found = Number.NaN;
  let seen = false;
  while (i < pe && b[i] === QUOTE) {
    const ke = stringEnd(b, i, false);
    const match = ke - i - 2 === field.length && same(b, i + 1, field) && !hasEscape(b, i, ke);
    if (!match && hasEscape(b, i, ke)) return Number.NEGATIVE_INFINITY; // an escaped key might spell it
    i = skipWs(b, skipWs(b, ke) + 1);
    const ve = valueEnd(b, i, 2, false);
    if (match) {
      if (seen) return Number.NEGATIVE_INFINITY;
      seen = true;
      const c = b[i]!;
      found = c === 45 || isDigit(c) ? numberOf(b, i, ve) : Number.NaN;
    }
    i = skipWs(b, ve);
    if (b[i] === 44) i = skipWs(b, i + 1);
  }
  return found;
}

/**
 * The record's event when its bytes are in the fast subset (see the module doc), else undefined.
 * `valueFieldOf` gives the value field of an event type (null: none, undefined: unknown type).
 */
export function scanRecord(b: Uint8Array, valueFieldOf: (eventType: string) => string | null | undefined): ScannedEvent | undefined {
  const n = b.length;
  let i = skipWs(b, 0);
  if (b[i] !== 123) return undefined;
  i = skipWs(b, i + 1);
  let is = -1;
  let ie = -1;
  let timestamp: number | undefined;
  let eventType: string | undefined;
  let userId: string | null | undefined;
  let deviceId: string | null | undefined;
  let ps = -1;
  let pe = -1;
  let ms = -2; // −2: absent, −1: null
  let me = -1;
  if (b[i] === 125) return undefined; // {} has no event
  for (;;) {
    if (b[i] !== QUOTE) return undefined;
    const ke = stringEnd(b, i, true);
    if (ke < 0) return undefined;
    const field = fieldOf(b, i, ke);
    i = skipWs(b, ke);
    if (b[i] !== 58) return undefined;
    i = skipWs(b, i + 1);
    if (i >= n) return undefined;
    const c = b[i]!;
    let e: number;
    switch (field) {
      case F_EVENT_ID:
      case F_TIMESTAMP:
      case F_EVENT_TYPE:
      case F_USER_ID:
      case F_DEVICE_ID: {
        let s: string | null;
        if (c === QUOTE) {
          e = stringEnd(b, i, true);
          if (e < 0) return undefined;
          if (field === F_EVENT_ID) {
            if (is >= 0) return undefined;
            is = i + 1;
            ie = e - 1;
            break;
          }
          if (field === F_TIMESTAMP) {
            if (timestamp !== undefined) return undefined;
            timestamp = isoMillis(b, i + 1, e - 1);
            if (Number.isNaN(timestamp)) return undefined;
            break;
          }
          s = field === F_EVENT_TYPE ? typeName(b, i + 1, e - 1) : asciiText(b, i + 1, e - 1);
        } else if (c === 110 && (field === F_USER_ID || field === F_DEVICE_ID)) {
          e = literalEnd(b, i);
          if (e < 0) return undefined;
          s = null;
        } else return undefined;
        if (field === F_EVENT_TYPE) {
          if (eventType !== undefined) return undefined;
          eventType = s!;
        } else if (field === F_USER_ID) {
          if (userId !== undefined) return undefined;
          userId = s;
        } else {
          if (deviceId !== undefined) return undefined;
          deviceId = s;
        }
        break;
      }
      case F_PAYLOAD:
        if (ps >= 0 || c !== 123) return undefined;
        e = valueEnd(b, i, 1, true);
        if (e < 0) return undefined;
        ps = i;
        pe = e;
        break;
      case F_METADATA:
        if (ms !== -2) return undefined;
        if (c === 123) {
          e = valueEnd(b, i, 1, true);
          if (e < 0) return undefined;
          ms = i;
          me = e;
        } else {
          e = literalEnd(b, i);
          if (e < 0 || c !== 110) return undefined;
          ms = -1;
        }
        break;
      default:
        // another key: any JSON value, kept out of the event
        e = valueEnd(b, i, 1, false);
        if (e < 0) return undefined;
    }
    i = skipWs(b, e);
    if (b[i] === 44) {
      i = skipWs(b, i + 1);
      continue;
    }
    if (b[i] !== 125) return undefined;
    if (skipWs(b, i + 1) !== n) return undefined;
    break;
  }
  if (
    is < 0 ||
    ie - is < 1 ||
    ie - is > 256 ||
    eventType === undefined ||
    eventType.length < 1 ||
    eventType.length > 100 ||
    timestamp === undefined ||
    ps < 0 ||
    (typeof userId === 'string' && (userId.length < 1 || userId.length > 256)) ||
    (typeof deviceId === 'string' && (deviceId.length < 1 || deviceId.length > 256))
  ) {
    return undefined;
  }
  const ts = timestamp;
  const ev = new ScannedEvent(b, is, ie, ts, eventType, userId ?? null, deviceId ?? null, ps, pe, ms === -2 ? -1 : ms, me);
  const valueField = valueFieldOf(eventType);
  if (valueField !== null && valueField !== undefined) {
    const v = topLevelNumber(b, ps, pe, valueField);
    if (v === Number.NEGATIVE_INFINITY) return undefined;
    ev.valueField = valueField;
    ev.value = Number.isNaN(v) ? undefined : v;
  }
  return ev;
}
