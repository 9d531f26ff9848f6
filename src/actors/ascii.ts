/**
 * ASCII bytes to a string in one step: Node's `Buffer#latin1Slice` reads them without a view
 * object; elsewhere (Deno) a TextDecoder does. Callers pass only bytes below 0x80, where Latin-1,
 * windows-1252 and ASCII agree.
 */
type Latin1Slice = (this: Uint8Array, start: number, end: number) => string;
const latin1Slice: Latin1Slice | undefined = (globalThis as { Buffer?: { prototype: { latin1Slice?: Latin1Slice } } }).Buffer?.prototype.latin1Slice;
const decoder = new TextDecoder('ascii');

/** The string of the ASCII bytes `b[s, e)`. */
export function asciiText(b: Uint8Array, s: number, e: number): string {
  return latin1Slice !== undefined ? latin1Slice.call(b, s, e) : decoder.decode(b.subarray(s, e));
}
