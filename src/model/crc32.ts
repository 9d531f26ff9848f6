/**
 * CRC-32 (IEEE 802.3, the zlib/PNG polynomial) over a byte range. Uses `node:zlib`'s native
 * crc32 when the runtime has it (Node ≥ 20.15) and a table-driven fallback otherwise (Deno
 * versions without it), so framing stays portable.
 */
import * as zlib from 'node:zlib';

type NativeCrc32 = (data: Uint8Array, value?: number) => number;
const native = (zlib as unknown as { crc32?: NativeCrc32 }).crc32;

const TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** The table-driven implementation (exported so tests can check it against the native one). */
export function crc32Portable(data: Uint8Array, start = 0, end = data.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/**
 * Continues a CRC-32: `crc32Update(crc32(a), b) === crc32(a ‖ b)`; start from 0. Lets a writer
 * checksum a frame written in pieces without holding it in one buffer.
 */
export function crc32Update(crc: number, data: Uint8Array): number {
  if (native) return native(data, crc) >>> 0;
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < data.length; i++) c = TABLE[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** CRC-32 of `data[start, end)` as an unsigned 32-bit integer. */
export function crc32(data: Uint8Array, start = 0, end = data.length): number {
  if (native) return native(start === 0 && end === data.length ? data : data.subarray(start, end)) >>> 0;
  return crc32Portable(data, start, end);
}
