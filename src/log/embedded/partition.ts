/**
 * One partition of the embedded log: a directory of segment files named by their base offset
 * (`00000000000000000000.log`), the newest one active. Sealed segments get an `.idx` sidecar
 * (sparse offset→position index, next offset, newest append time) so opening and reading them
 * needs no scan. Everything that mutates the partition (append, roll, retention) runs under one
 * promise-chain lock; reads run concurrently and only look at bytes already written.
 */
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { AppendResult, LogRecord, ProduceRecord } from '../port.ts';
import { FrameStatus, checkFrame, decodeFrame, frameSize, writeFrame } from './codec.ts';

/** Minimal pino-compatible logger the adapters write their warnings to. */
export interface AdapterLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface PartitionOptions {
  topic: string;
  partition: number;
  dir: string;
  segmentBytes: number;
  fsync: boolean;
  logger: AdapterLogger;
}

interface Segment {
  base: number;
  /** Offset after the last record in the segment. */
  next: number;
  /** Bytes of valid frames (reads never look past this). */
  size: number;
  /** Newest append time in the segment, epoch ms; -Infinity when empty. */
  maxTime: number;
  path: string;
  /** Sparse index: offsets and the byte positions of their frames, ascending. */
  idxOffsets: number[];
  idxPositions: number[];
}

/** A frame is indexed whenever this many bytes have passed since the last indexed frame. */
const INDEX_INTERVAL = 4096;
const SEGMENT_SUFFIX = '.log';
const INDEX_SUFFIX = '.idx';

function segmentName(base: number): string {
  return String(base).padStart(20, '0');
}

interface ScanResult {
  validEnd: number;
  next: number;
  maxTime: number;
  idxOffsets: number[];
  idxPositions: number[];
  skippedBytes: number;
}

/**
 * Walks the frames of a whole segment image. A damaged frame followed by valid frames (higher
 * offsets) is skipped; a damaged or short frame with nothing valid after it is a torn tail and
 * ends the valid part.
 */
export function scanSegment(buf: Buffer, base: number): ScanResult {
  const out = { end: 0, offset: 0, appendTime: 0 };
  const idxOffsets: number[] = [];
  const idxPositions: number[] = [];
  let pos = 0;
  let next = base;
  let maxTime = Number.NEGATIVE_INFINITY;
  let lastIndexed = Number.NEGATIVE_INFINITY;
  let skippedBytes = 0;
  while (pos < buf.length) {
    const status = checkFrame(buf, pos, buf.length, out);
    if (status !== FrameStatus.Ok || out.offset < next) {
      const q = resync(buf, pos + 1, buf.length, next);
      if (q < 0) break;
      skippedBytes += q - pos;
      pos = q;
      continue;
    }
    if (pos - lastIndexed >= INDEX_INTERVAL) {
      idxOffsets.push(out.offset);
      idxPositions.push(pos);
      lastIndexed = pos;
    }
    next = out.offset + 1;
    if (out.appendTime > maxTime) maxTime = out.appendTime;
    pos = out.end;
  }
  return { validEnd: pos, next, maxTime, idxOffsets, idxPositions, skippedBytes };
}

/** Position of the next valid frame at or after `from` whose offset is ≥ `minOffset`, or -1. */
function resync(buf: Buffer, from: number, limit: number, minOffset: number): number {
  const out = { end: 0, offset: 0, appendTime: 0 };
  for (let q = from; q + 8 <= limit; q++) {
    if (checkFrame(buf, q, limit, out) === FrameStatus.Ok && out.offset >= minOffset && Number.isInteger(out.offset)) {
      return q;
    }
  }
  return -1;
}

async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  let done = 0;
  while (done < buf.length) {
    const { bytesWritten } = await fh.write(buf, done, buf.length - done);
    done += bytesWritten;
  }
}

function isNotFound(e: unknown): boolean {
  return (e as { code?: string } | null)?.code === 'ENOENT';
}

export class Partition {
  readonly topic: string;
  readonly partition: number;
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly fsync: boolean;
  private readonly logger: AdapterLogger;
  private segments: Segment[] = [];
  private writer: FileHandle | null = null;
  private lock: Promise<unknown> = Promise.resolve();
  /** Called after every append (consumers waiting for records). */
  readonly listeners = new Set<() => void>();

  constructor(o: PartitionOptions) {
    this.topic = o.topic;
    this.partition = o.partition;
    this.dir = o.dir;
    this.segmentBytes = o.segmentBytes;
    this.fsync = o.fsync;
    this.logger = o.logger;
  }

  get beginOffset(): number {
    return this.segments[0]!.base;
  }

  get endOffset(): number {
    return this.segments[this.segments.length - 1]!.next;
  }

  /** Bytes stored (all segments). */
  get sizeBytes(): number {
    let s = 0;
    for (const seg of this.segments) s += seg.size;
    return s;
  }

  /** Opens the directory: loads sealed segments, recovers the active one (truncating a torn tail). */
  async open(): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    const names = (await fsp.readdir(this.dir)).filter((n) => n.endsWith(SEGMENT_SUFFIX)).sort();
    const bases = names.map((n) => Number(n.slice(0, -SEGMENT_SUFFIX.length))).filter((b) => Number.isSafeInteger(b));
    if (bases.length === 0) bases.push(0);
    const segs: Segment[] = [];
    for (let i = 0; i < bases.length; i++) {
      const base = bases[i]!;
      const path = join(this.dir, segmentName(base) + SEGMENT_SUFFIX);
      const isLast = i === bases.length - 1;
      // The active segment has a sidecar only after a clean close; it is removed at once because
      // appends make it stale. After a crash there is none and the segment is scanned.
      const seg = (await this.loadSidecar(path, base)) || (await this.recoverSegment(path, base, isLast));
      if (isLast) await fsp.rm(path.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX, { force: true });
      // A sealed segment's end is where the next begins, even if its own tail was damaged.
      if (!isLast) seg.next = Math.max(seg.next, bases[i + 1]!);
      segs.push(seg);
    }
    this.segments = segs;
    const active = segs[segs.length - 1]!;
    this.writer = await fsp.open(active.path, 'a');
  }

  private async loadSidecar(path: string, base: number): Promise<Segment | null> {
    try {
      const [raw, st] = await Promise.all([fsp.readFile(path.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX, 'utf8'), fsp.stat(path)]);
      const j = JSON.parse(raw) as Partial<Segment> & { size?: number };
      if (j.base !== base || j.size !== st.size || !Array.isArray(j.idxOffsets) || !Array.isArray(j.idxPositions)) return null;
      return {
        base,
        next: Number(j.next),
        size: st.size,
        maxTime: j.maxTime === null || j.maxTime === undefined ? Number.NEGATIVE_INFINITY : Number(j.maxTime),
        path,
        idxOffsets: j.idxOffsets,
        idxPositions: j.idxPositions,
      };
    } catch {
      return null;
    }
  }

  private async recoverSegment(path: string, base: number, isActive: boolean): Promise<Segment> {
    let buf: Buffer;
    try {
      buf = await fsp.readFile(path);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      buf = Buffer.alloc(0);
      await fsp.writeFile(path, buf);
    }
    const scan = scanSegment(buf, base);
    const at = { topic: this.topic, partition: this.partition, segment: path };
    if (scan.skippedBytes > 0) {
      this.logger.warn(
        { ...at, skippedBytes: scan.skippedBytes },
        'embedded log: skipped damaged records inside a segment; their offsets are missing from the partition and will not be delivered',
      );
    }
    if (scan.validEnd < buf.length) {
      this.logger.warn(
        { ...at, truncatedBytes: buf.length - scan.validEnd, nextOffset: scan.next },
        'embedded log: discarded a torn record at the end of a segment (incomplete write before a crash); appends continue at the next offset',
      );
      if (isActive) await fsp.truncate(path, scan.validEnd);
    }
    const seg: Segment = {
      base,
      next: scan.next,
      size: scan.validEnd,
      maxTime: scan.maxTime,
      path,
      idxOffsets: scan.idxOffsets,
      idxPositions: scan.idxPositions,
    };
    if (!isActive) await this.writeSidecar(seg);
    return seg;
  }

  private async writeSidecar(seg: Segment): Promise<void> {
    const body = JSON.stringify({
      base: seg.base,
      next: seg.next,
      size: seg.size,
      maxTime: Number.isFinite(seg.maxTime) ? seg.maxTime : null,
      idxOffsets: seg.idxOffsets,
      idxPositions: seg.idxPositions,
    });
    // Not renamed into place: a torn sidecar fails validation and the segment is simply rescanned.
    await fsp.writeFile(seg.path.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX, body);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  /**
   * Appends records (already routed to this partition) in one write. `into[at[i]]` receives the
   * result of `records[i]`, so results keep the caller's input order across partitions.
   */
  append(records: readonly ProduceRecord[], now: number, into: AppendResult[], at: readonly number[]): Promise<void> {
    return this.locked(async () => {
      let size = 0;
      for (let i = 0; i < records.length; i++) size += frameSize(records[i]!);
      let active = this.segments[this.segments.length - 1]!;
      if (active.size > 0 && active.size + size > this.segmentBytes) active = await this.roll();
      const buf = Buffer.allocUnsafe(size);
      let pos = 0;
      let offset = active.next;
      let lastIndexed = active.idxPositions.length > 0 ? active.idxPositions[active.idxPositions.length - 1]! : Number.NEGATIVE_INFINITY;
      const newOffsets: number[] = [];
      const newPositions: number[] = [];
      for (let i = 0; i < records.length; i++) {
        const filePos = active.size + pos;
        if (filePos - lastIndexed >= INDEX_INTERVAL) {
          newOffsets.push(offset);
          newPositions.push(filePos);
          lastIndexed = filePos;
        }
        pos = writeFrame(buf, pos, records[i]!, offset, now);
        into[at[i]!] = { topic: this.topic, partition: this.partition, offset };
        offset++;
      }
      const writer = this.writer!;
      try {
        await writeAll(writer, buf);
        if (this.fsync) await writer.datasync();
      } catch (e) {
        // Cut a partial write off again so the next append does not land behind garbage.
        await writer.truncate(active.size).catch(() => undefined);
        throw new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `embedded log: writing to ${this.topic}/${this.partition} failed; nothing was appended`, {
          retriable: true,
          cause: e,
        });
      }
      for (let i = 0; i < newOffsets.length; i++) {
        active.idxOffsets.push(newOffsets[i]!);
        active.idxPositions.push(newPositions[i]!);
      }
      active.size += size;
      active.next = offset;
      if (now > active.maxTime) active.maxTime = now;
      for (const l of this.listeners) l();
    });
  }

  /** Seals the active segment and starts a new one at the current end offset. Call under the lock. */
  private async roll(): Promise<Segment> {
    const old = this.segments[this.segments.length - 1]!;
    await this.writer?.close();
    this.writer = null;
    await this.writeSidecar(old);
    const base = old.next;
    const path = join(this.dir, segmentName(base) + SEGMENT_SUFFIX);
    const seg: Segment = { base, next: base, size: 0, maxTime: Number.NEGATIVE_INFINITY, path, idxOffsets: [], idxPositions: [] };
    // Create empty (a leftover from a crash mid-roll is stale), then append-only writes.
    await fsp.writeFile(path, '');
    this.writer = await fsp.open(path, 'a');
    this.segments.push(seg);
    return seg;
  }

  /**
   * Deletes whole sealed segments from the oldest while the partition holds more than
   * `retentionBytes`, or while the oldest segment's newest record is older than `retentionMs`.
   * The active segment is never deleted. Returns the number of segments deleted.
   */
  enforceRetention(now: number, retentionBytes: number | undefined, retentionMs: number | undefined): Promise<number> {
    return this.locked(async () => {
      let deleted = 0;
      let total = this.sizeBytes;
      while (this.segments.length > 1) {
        const first = this.segments[0]!;
        const tooBig = retentionBytes !== undefined && total > retentionBytes;
        const tooOld = retentionMs !== undefined && first.maxTime < now - retentionMs;
        if (!tooBig && !tooOld) break;
        // Drop it from the view first: readers move to the new begin offset; a read that already
        // opened the file keeps reading it (unlink only removes the name). A new array, never an
        // in-place shift: a read in progress iterates the array it started with by index.
        this.segments = this.segments.slice(1);
        total -= first.size;
        deleted++;
        await fsp.rm(first.path, { force: true });
        await fsp.rm(first.path.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX, { force: true });
      }
      return deleted;
    });
  }

  /** Reads up to `max` records from `fromOffset` (clamped to the begin offset), in offset order. */
  async read(fromOffset: number, max: number): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        await this.readInto(fromOffset, max, out);
        return out;
      } catch (e) {
        // Retention deleted the segment between lookup and open: continue from the new begin.
        if (!isNotFound(e)) throw e;
        if (out.length > 0) return out;
      }
    }
    return out;
  }

  private async readInto(fromOffset: number, max: number, out: LogRecord[]): Promise<void> {
    let offset = Math.max(fromOffset, this.beginOffset);
    const segs = this.segments;
    let si = findSegment(segs, offset);
    const check = { end: 0, offset: 0, appendTime: 0 };
    while (si < segs.length && out.length < max) {
      const seg = segs[si]!;
      // Snapshot the committed size: bytes past it may be mid-write.
      const limit = seg.size;
      if (offset >= seg.next || limit === 0) {
        si++;
        continue;
      }
      let pos = indexLookup(seg, offset);
      const fh = await fsp.open(seg.path, 'r');
      try {
        const count = Math.max(1, seg.next - seg.base);
        const avg = limit / count;
        while (pos < limit && out.length < max) {
          const want = Math.min(limit - pos, Math.max(64 * 1024, Math.ceil((max - out.length) * avg * 1.2) + 1024));
          let buf = await readAt(fh, pos, want);
          let p = 0;
          let progressed = false;
          while (p < buf.length && out.length < max) {
            const status = checkFrame(buf, p, buf.length, check);
            if (status === FrameStatus.Short) {
              if (progressed || pos + buf.length >= limit) break;
              // A frame larger than the chunk: read exactly it.
              const need = buf.length >= 4 ? 8 + buf.readUInt32BE(0) : 8;
              buf = await readAt(fh, pos, Math.min(limit - pos, need));
              if (buf.length < need) break;
              continue;
            }
            if (status === FrameStatus.Bad) {
              // Damage inside the segment (found at open only for the active segment's tail):
              // skip to the next valid frame, as the open-time scan does.
              const rest = await readAt(fh, pos + p, limit - pos - p);
              const q = resync(rest, 1, rest.length, offset);
              this.logger.warn(
                { topic: this.topic, partition: this.partition, segment: seg.path, position: pos + p, nextValid: q < 0 ? null : pos + p + q },
                'embedded log: damaged record inside a segment skipped while reading',
              );
              if (q < 0) {
                pos = limit;
              } else {
                pos = pos + p + q;
              }
              p = -1;
              break;
            }
            if (check.offset >= offset) {
              out.push(decodeFrame(buf, p, this.topic, this.partition));
              offset = check.offset + 1;
            }
            progressed = true;
            p = check.end;
          }
          if (p < 0) continue;
          if (!progressed) break;
          pos += p;
        }
      } finally {
        await fh.close();
      }
      si++;
    }
  }

  async close(): Promise<void> {
    await this.locked(async () => {
      if (!this.writer) return;
      await this.writer.close();
      this.writer = null;
      // Lets the next open skip scanning the active segment (see open()).
      await this.writeSidecar(this.segments[this.segments.length - 1]!);
    });
  }
}

async function readAt(fh: FileHandle, pos: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, pos + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === length ? buf : buf.subarray(0, got);
}

/** Index of the segment holding `offset` (the last one whose base ≤ offset). */
function findSegment(segs: readonly Segment[], offset: number): number {
  let lo = 0;
  let hi = segs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (segs[mid]!.base <= offset) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/** Byte position to start scanning from for `offset` in `seg`. */
function indexLookup(seg: Segment, offset: number): number {
  const offs = seg.idxOffsets;
  let lo = 0;
  let hi = offs.length - 1;
  let best = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (offs[mid]! <= offset) {
      best = mid;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return best < 0 ? 0 : seg.idxPositions[best]!;
}
