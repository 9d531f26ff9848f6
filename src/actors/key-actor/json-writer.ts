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

type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;
const latin1Slice: Latin1Slice | undefined = (globalThis as { Buffer?: { prototype: { latin1Slice?: Latin1Slice } } }).Buffer?.prototype.latin1Slice;
const ascii = new TextDecoder('ascii');

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
      // a non-negative integer: its digits, no string
      const b = this.room(16);
      if (x < 10) {
        b[this.pos++] = 48 + x;
        return;
      }
      let digits = 0;
      for (let y = x; y >= 1; y = Math.floor(y / 10)) digits++;
      let p = this.pos + digits;
      this.pos = p;
      for (let y = x; y >= 1; y = Math.floor(y / 10)) b[--p] = 48 + (y % 10);
      return;
    }
    if (!Number.isFinite(x)) this.raw('null');
    else this.raw(String(x));
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
    return latin1Slice !== undefined ? latin1Slice.call(this.buf, 0, end) : ascii.decode(this.buf.subarray(0, end));
  }
}
