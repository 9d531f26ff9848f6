/**
 * JSON text written into one reusable byte buffer and read out as one string: the snapshot and
 * stored-final encoders run for every dirty actor at every checkpoint, and building their text
 * with `+` made a short-lived string per number and per join (most of the processor's garbage).
 *
 * ASCII only: {@link JsonWriter.take} returns undefined when a character above U+007F was
 * written (a key or user id with an accent or in another script), and the caller encodes that
 * text the general way.
 * Numbers and strings are written exactly as `JSON.stringify` writes them.
 */

import { asciiText } from '../ascii.ts';

export class JsonWriter {
  private buf = new Uint8Array(16_384);
  private pos = 0;
  private wide = false;

  private room(n: number): Uint8Array {
    if (this.pos + n > this.buf.length) {
      const next = new Uint8Array(Math.max(this.buf.length * 2, this.pos + n));
      next.set(this.buf.subarray(0, this.pos));
      this.buf = next;
    }
    return this.buf;
  }

  /** Text written as is (names, punctuation, number texts). */
  raw(s: string): void {
    const n = s.length;
    const b = this.room(n);
    let p = this.pos;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) this.wide = true;
      b[p++] = c;
    }
    this.pos = p;
  }

  /** One ASCII character by its code. */
  ch(c: number): void {
    this.room(1)[this.pos++] = c;
  }

  /** A number as `JSON.stringify` writes it (non-finite: null). */
  num(x: number): void {
    if (x >= 0 && x < 1e15 && Math.floor(x) === x) {
      // a non-negative integer: its digits with 32-bit arithmetic, no string
      this.room(16);
      if (x < 2147483648) this.uint(x | 0);
      else {
        // epoch milliseconds and the like: the digits above 10^8, then 8 more
        const hi = Math.floor(x / 1e8);
        this.uint(hi | 0);
        this.digits8((x - hi * 1e8) | 0);
      }
      return;
    }
    if (!Number.isFinite(x)) this.raw('null');
    else this.raw(String(x));
  }

  /** The digits of a 32-bit integer ≥ 0 (room is made by the caller). */
  private uint(v: number): void {
    const b = this.buf;
    if (v < 10) {
      b[this.pos++] = 48 + v;
      return;
    }
    const n = v < 100 ? 2 : v < 1000 ? 3 : v < 10_000 ? 4 : v < 100_000 ? 5 : v < 1_000_000 ? 6 : v < 10_000_000 ? 7 : v < 100_000_000 ? 8 : v < 1_000_000_000 ? 9 : 10;
    let p = this.pos + n;
    this.pos = p;
    while (v >= 10) {
      const q = (v / 10) | 0;
      b[--p] = 48 + v - q * 10;
      v = q;
    }
    b[--p] = 48 + v;
  }

  /** Exactly 8 digits of `v` (0 ≤ v < 10^8), zero-padded. */
  private digits8(v: number): void {
    const b = this.buf;
    let p = this.pos + 8;
    this.pos = p;
    for (let k = 0; k < 8; k++) {
      const q = (v / 10) | 0;
      b[--p] = 48 + v - q * 10;
      v = q;
    }
  }

  /** A JSON string literal. */
  str(s: string): void {
    const n = s.length;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c < 0x20 || c === 34 || c === 92 || c > 0x7f) {
        // escapes, or a character the buffer cannot hold: JSON.stringify decides
        this.raw(JSON.stringify(s));
        return;
      }
    }
    const b = this.room(n + 2);
    let p = this.pos;
    b[p++] = 34;
    for (let i = 0; i < n; i++) b[p++] = s.charCodeAt(i);
    b[p++] = 34;
    this.pos = p;
  }

  /** The text written since the last take (and starts over), or undefined when it is not ASCII. */
  take(): string | undefined {
    const end = this.pos;
    const wide = this.wide;
    this.pos = 0;
    this.wide = false;
    if (wide) return undefined;
    return asciiText(this.buf, 0, end);
  }
}
