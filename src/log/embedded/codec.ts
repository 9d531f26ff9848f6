/**
 * On-disk record framing of the embedded log.
 *
 * ```
 * frame  = bodyLen:u32be  crc:u32be  body            (crc = CRC-32 of body)
 * body   = magic:u8(=1)  offset:f64be  appendTime:f64be
 *          keyLen:i32be (-1 = null)  key
 *          valueLen:u32be  value
 *          headerCount:u16be  (nameLen:u16be name  valueLen:u32be value)*
 * ```
 *
 * The offset is stored in every frame (not only implied by position) so a reader can verify
 * where it is and re-synchronise after a damaged frame. Offsets and times are float64 because
 * they are JS numbers everywhere else; both are exact up to 2^53.
 */
import type { LogRecord, ProduceRecord } from '../port.ts';
import { crc32 } from '../../model/index.ts';

export const FRAME_HEADER = 8;
export const MAGIC = 1;
/** Smallest possible body: magic, offset, time, keyLen, valueLen, headerCount. */
export const MIN_BODY = 1 + 8 + 8 + 4 + 4 + 2;
/** Largest body accepted when scanning, so a corrupt length field cannot make us read gigabytes. */
export const MAX_BODY = 256 * 1024 * 1024;

function valueLength(v: Uint8Array | string): number {
  return typeof v === 'string' ? Buffer.byteLength(v) : v.byteLength;
}

/** Bytes one record takes on disk, header included. */
export function frameSize(r: ProduceRecord): number {
  let size = FRAME_HEADER + MIN_BODY + valueLength(r.value);
  if (r.key !== null) size += Buffer.byteLength(r.key);
  if (r.headers) {
    for (const name in r.headers) size += 2 + Buffer.byteLength(name) + 4 + Buffer.byteLength(r.headers[name]!);
  }
  return size;
}

/**
 * Writes the frame of `r` at `pos` of `buf` (which must have room for {@link frameSize}) and
 * returns the position after it.
 */
export function writeFrame(buf: Buffer, pos: number, r: ProduceRecord, offset: number, appendTime: number): number {
  const start = pos;
  let p = pos + FRAME_HEADER;
  buf[p++] = MAGIC;
  buf.writeDoubleBE(offset, p);
  p += 8;
  buf.writeDoubleBE(appendTime, p);
  p += 8;
  if (r.key === null) {
    buf.writeInt32BE(-1, p);
    p += 4;
  } else {
    const n = buf.write(r.key, p + 4, 'utf8');
    buf.writeInt32BE(n, p);
    p += 4 + n;
  }
  const v = r.value;
  if (typeof v === 'string') {
    const n = buf.write(v, p + 4, 'utf8');
    buf.writeUInt32BE(n, p);
    p += 4 + n;
  } else {
    buf.writeUInt32BE(v.byteLength, p);
    buf.set(v, p + 4);
    p += 4 + v.byteLength;
  }
  const countPos = p;
  p += 2;
  let count = 0;
  if (r.headers) {
    for (const name in r.headers) {
      const n = buf.write(name, p + 2, 'utf8');
      buf.writeUInt16BE(n, p);
      p += 2 + n;
      const m = buf.write(r.headers[name]!, p + 4, 'utf8');
      buf.writeUInt32BE(m, p);
      p += 4 + m;
      count++;
    }
  }
  buf.writeUInt16BE(count, countPos);
  const bodyLen = p - start - FRAME_HEADER;
  buf.writeUInt32BE(bodyLen, start);
  buf.writeUInt32BE(crc32(buf, start + FRAME_HEADER, p), start + 4);
  return p;
}

/** Outcome of looking at the bytes at one position. */
export const FrameStatus = {
  /** A complete frame with a valid checksum. */
  Ok: 0,
  /** Not enough bytes in the buffer for the frame (maybe more on disk, maybe a torn write). */
  Short: 1,
  /** Bytes that are not a valid frame (bad length, magic or checksum). */
  Bad: 2,
} as const;
export type FrameStatus = (typeof FrameStatus)[keyof typeof FrameStatus];

/**
 * Checks the frame at `pos`: returns its status; on Ok, `out.end`, `out.offset` and
 * `out.appendTime` are set. Reuses `out` so scanning allocates nothing per record.
 */
export function checkFrame(
  view: Buffer,
  pos: number,
  limit: number,
  out: { end: number; offset: number; appendTime: number },
): FrameStatus {
  if (limit - pos < FRAME_HEADER) return FrameStatus.Short;
  const bodyLen = view.readUInt32BE(pos);
  if (bodyLen < MIN_BODY || bodyLen > MAX_BODY) return FrameStatus.Bad;
  const end = pos + FRAME_HEADER + bodyLen;
  if (end > limit) return FrameStatus.Short;
  if (view[pos + FRAME_HEADER] !== MAGIC) return FrameStatus.Bad;
  if (crc32(view, pos + FRAME_HEADER, end) !== view.readUInt32BE(pos + 4)) return FrameStatus.Bad;
  out.end = end;
  out.offset = view.readDoubleBE(pos + FRAME_HEADER + 1);
  out.appendTime = view.readDoubleBE(pos + FRAME_HEADER + 9);
  return FrameStatus.Ok;
}

/**
 * Decodes a frame already checked by {@link checkFrame}. The value is a view into `buf`
 * (no copy): `buf` must not be reused while the record lives. Key and headers are decoded as
 * written (`Buffer#toString`, twice as fast as a TextDecoder on a subarray per string, and unlike
 * it keeps a leading U+FEFF).
 */
export function decodeFrame(buf: Buffer, pos: number, topic: string, partition: number): LogRecord {
  let p = pos + FRAME_HEADER + 1;
  const offset = buf.readDoubleBE(p);
  p += 8;
  const appendTime = buf.readDoubleBE(p);
  p += 8;
  const keyLen = buf.readInt32BE(p);
  p += 4;
  let key: string | null = null;
  if (keyLen >= 0) {
    key = buf.toString('utf8', p, p + keyLen);
    p += keyLen;
  }
  const valueLen = buf.readUInt32BE(p);
  p += 4;
  const value = new Uint8Array(buf.buffer, buf.byteOffset + p, valueLen);
  p += valueLen;
  const count = buf.readUInt16BE(p);
  p += 2;
  const headers: Record<string, string> = {};
  if (count > 0) {
    for (let i = 0; i < count; i++) {
      const n = buf.readUInt16BE(p);
      p += 2;
      const name = buf.toString('utf8', p, p + n);
      p += n;
      const m = buf.readUInt32BE(p);
      p += 4;
      headers[name] = buf.toString('utf8', p, p + m);
      p += m;
    }
  }
  return { topic, partition, offset, key, value, headers, appendTime };
}
