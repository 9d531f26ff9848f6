/**
 * The 64-bit fingerprint of an eventId the embedded dedupe index stores instead of the string:
 * two MurmurHash3 (x86, 32-bit) of the eventId's UTF-8 bytes under different seeds. The same
 * fingerprint comes from the string (a publish) and from the bytes of a record value in the log
 * (the rebuild at start), so the rebuild never materialises the eventId as a string.
 *
 * Two eventIds collide with probability 2^-64 per pair: with the default 1,000,000 entries, a
 * new eventId matches a stored one with probability ~5e-14 (it would then be answered DUPLICATE
 * with the other event's receipt).
 */

const SEED_HI = 0x9e3779b9;
const SEED_LO = 0x85ebca6b;
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

/** The fingerprint, written into a reused object so hashing allocates nothing. */
export interface Fingerprint {
  hi: number;
  lo: number;
}

function murmur3(data: Uint8Array, start: number, end: number, seed: number): number {
  let h = seed | 0;
  const len = end - start;
  const blocks = start + (len & ~3);
  let i = start;
  for (; i < blocks; i += 4) {
    let k = data[i]! | (data[i + 1]! << 8) | (data[i + 2]! << 16) | (data[i + 3]! << 24);
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  }
  const rest = len & 3;
  if (rest > 0) {
    let k = 0;
    if (rest === 3) k ^= data[i + 2]! << 16;
    if (rest >= 2) k ^= data[i + 1]! << 8;
    k ^= data[i]!;
    k = Math.imul(k, C1);
    k = (k << 15) | (k >>> 17);
    k = Math.imul(k, C2);
    h ^= k;
  }
  h ^= len;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Fingerprint of the UTF-8 bytes `data[start, end)` into `out`. */
export function fingerprintBytes(data: Uint8Array, start: number, end: number, out: Fingerprint): Fingerprint {
  out.hi = murmur3(data, start, end, SEED_HI);
  out.lo = murmur3(data, start, end, SEED_LO);
  return out;
}

const encoder = new TextEncoder();
let scratch = new Uint8Array(1024);

/** Fingerprint of an eventId string (its UTF-8 bytes) into `out`. */
export function fingerprintString(eventId: string, out: Fingerprint): Fingerprint {
  // a UTF-16 code unit takes at most 3 UTF-8 bytes
  if (eventId.length * 3 > scratch.length) scratch = new Uint8Array(eventId.length * 3);
  const { written } = encoder.encodeInto(eventId, scratch);
  return fingerprintBytes(scratch, 0, written, out);
}

const PREFIX = '{"eventId":"';
const PREFIX_BYTES = encoder.encode(PREFIX);
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/**
 * Where the eventId of a record value written by keyflow's ingest (`encodeEnvelope`: the value
 * starts with `{"eventId":"`) lies in the bytes: `[start, end)` of the JSON string's content.
 * Returns false when the value does not start that way or the string holds an escape (then
 * its bytes are not the eventId's UTF-8 bytes): the caller parses the JSON instead.
 */
export function eventIdSpan(value: Uint8Array, out: { start: number; end: number }): boolean {
  const n = PREFIX_BYTES.length;
  if (value.length <= n) return false;
  for (let i = 0; i < n; i++) if (value[i] !== PREFIX_BYTES[i]) return false;
  for (let i = n; i < value.length; i++) {
    const b = value[i]!;
    if (b === QUOTE) {
      out.start = n;
      out.end = i;
      return true;
    }
    if (b === BACKSLASH) return false;
  }
  return false;
}
