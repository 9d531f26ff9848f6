/**
 * One partition of the embedded log: a directory of segment files named by their base offset
 * (`00000000000000000000.log`), the newest one active. Sealed segments get an `.idx` sidecar
 * (sparse offset→position index, next offset, newest append time) so opening and reading them
 * needs no scan. Everything that mutates the partition (append, roll, retention) runs under one
 * lock; reads run concurrently and only look at bytes already published.
 *
 * An append is staged (segment rolled if needed, frames encoded), written, then published (made
 * visible to readers and consumers). A multi-partition append holds the locks of all its
 * partitions, writes each, and publishes only when every write succeeded; otherwise each written
 * partition is cut back (`undo`), so a failed request leaves nothing behind (see file-log.ts).
 *
 * Durability: `flush(upTo)` fsyncs the partition up to an offset (group commit: concurrent
 * flushes share one fsync). A sealed segment is fsynced when it is rolled, so only the active
 * segment ever needs it.
 */
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { LifecycleEvent, fsyncDir } from '../../core/index.ts';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { AppendResult, LogRecord, ProduceRecord } from '../port.ts';
import { FrameStatus, checkFrame, decodeFrame, frameSize, writeFrame } from './codec.ts';
import { type SegmentFile, type SegmentOpener, writeAll, writeFailed } from './segment-file.ts';

/** Minimal pino-compatible logger the adapters write their warnings and errors to. */
export interface AdapterLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** Told about every failed and every successful write (the log tracks whether the disk takes writes). */
export interface WriteMonitor {
  failed(error: unknown, where: { topic: string; partition: number; path: string; op: string }): void;
  succeeded(): void;
}

export interface PartitionOptions {
  topic: string;
  partition: number;
  dir: string;
  segmentBytes: number;
  fsync: boolean;
  logger: AdapterLogger;
  openSegment: SegmentOpener;
  monitor: WriteMonitor;
  /** Runs a checkpoint-time fsync when a slot is free (the log bounds how many run at once). */
  syncSlot: <T>(fn: () => Promise<T>) => Promise<T>;
}

/** An append of one partition, encoded and waiting to be written and published. */
export interface StagedAppend {
  readonly part: Partition;
  readonly seg: Segment;
  readonly buf: Buffer;
  readonly next: number;
  readonly now: number;
  readonly newOffsets: number[];
  readonly newPositions: number[];
}

export interface Segment {
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

/** Read handles cached per partition (the active segment and one being caught up on, typically): bounds the open files. */
const MAX_READERS = 2;

/**
 * A segment's read handle, shared by the reads of that segment and kept open between them (a
 * consumer tailing the active segment reads it after every append, and an `open`/`close` per read
 * showed in every processor profile: 3–13 % of its CPU). Closed when its segment leaves the
 * partition (retention), when it is the least recently read of more than MAX_READERS, or when the
 * partition closes — each once the last read using it has finished.
 */
interface SegmentReader {
  readonly fh: Promise<FileHandle>;
  /** Reads using the handle now. */
  users: number;
  /** No longer cached: closed when `users` drops to 0. */
  retired: boolean;
}

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
  private readonly openSegment: SegmentOpener;
  private readonly monitor: WriteMonitor;
  private readonly syncSlot: PartitionOptions['syncSlot'];
  private segments: Segment[] = [];
  private writer: SegmentFile | null = null;
  /** The active segment's file may hold bytes past its valid size (a failed cut-back): cut before the next write. */
  private needsRepair = false;
  private closed = false;
  private lock: Promise<unknown> = Promise.resolve();
  /** Offsets below this are on the disk (fsynced). */
  private durableEnd = 0;
  /** The fsync in progress (group commit), and the offset it makes durable at least. */
  private syncing: Promise<void> | null = null;
  private syncingTo = 0;
  /** Called after every append (consumers waiting for records). */
  readonly listeners = new Set<() => void>();
  /** Open read handles, per segment (see SegmentReader). */
  private readonly readers = new Map<Segment, SegmentReader>();
  /** Segments dropped by retention: a read that still holds one opens it uncached. */
  private readonly dropped = new WeakSet<Segment>();

  constructor(o: PartitionOptions) {
    this.topic = o.topic;
    this.partition = o.partition;
    this.dir = o.dir;
    this.segmentBytes = o.segmentBytes;
    this.fsync = o.fsync;
    this.logger = o.logger;
    this.openSegment = o.openSegment;
    this.monitor = o.monitor;
    this.syncSlot = o.syncSlot;
  }

  get beginOffset(): number {
    return this.segments[0]!.base;
  }

  get endOffset(): number {
    return this.segments[this.segments.length - 1]!.next;
  }

  /** Offsets below this are known to be on the disk. */
  get durableOffset(): number {
    return this.durableEnd;
  }

  /** Bytes stored (all segments). */
  get sizeBytes(): number {
    let s = 0;
    for (const seg of this.segments) s += seg.size;
    return s;
  }

  /**
   * Opens the directory: loads sealed segments, recovers the active one (truncating a torn tail).
   * `recoveryPoint` is the end offset this partition had last been flushed to (recovery-points.json):
   * when the recovered log ends below it, flushed data was lost (disk damage, a file cut by hand);
   * the loss is reported as an error naming the missing range, and appends continue at the
   * recovery point, so no offset a checkpoint or a consumer has seen is ever handed out again.
   */
  async open(recoveryPoint = 0): Promise<void> {
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
    let active = segs[segs.length - 1]!;
    if (active.next < recoveryPoint) active = await this.skipLostRange(active, recoveryPoint);
    this.writer = await this.openSegment(active.path, 'append');
    this.durableEnd = active.base;
  }

  /**
   * The log ends below its recovery point: report the lost offsets and start a new segment at the
   * recovery point, so they stay missing (readers skip them) and are never reused.
   */
  private async skipLostRange(active: Segment, recoveryPoint: number): Promise<Segment> {
    this.logger.error(
      {
        event: LifecycleEvent.logDataLost,
        topic: this.topic,
        partition: this.partition,
        missingFrom: active.next,
        missingTo: recoveryPoint - 1,
        segment: active.path,
      },
      `embedded log: ${this.topic}/${this.partition} lost offsets ${active.next}..${recoveryPoint - 1}, which had been flushed to disk (damaged or cut segment file); they are missing from the partition and appends continue at ${recoveryPoint}`,
    );
    const seg: Segment = {
      base: recoveryPoint,
      next: recoveryPoint,
      size: 0,
      maxTime: Number.NEGATIVE_INFINITY,
      path: join(this.dir, segmentName(recoveryPoint) + SEGMENT_SUFFIX),
      idxOffsets: [],
      idxPositions: [],
    };
    if (active.size === 0 && this.segments.length === 1) {
      await fsp.rm(active.path, { force: true });
      this.segments = [seg];
    } else {
      active.next = recoveryPoint;
      await this.writeSidecar(active);
      this.segments = [...this.segments, seg];
    }
    const fh = await this.openSegment(seg.path, 'create');
    await fh.close();
    await fsyncDir(this.dir);
    return seg;
  }

  private async loadSidecar(path: string, base: number): Promise<Segment | null> {
    const idxPath = path.slice(0, -SEGMENT_SUFFIX.length) + INDEX_SUFFIX;
    let raw: string;
    let size: number;
    try {
      [raw, size] = await Promise.all([fsp.readFile(idxPath, 'utf8'), fsp.stat(path).then((st) => st.size)]);
    } catch {
      return null; // no sidecar (a crash before it was written): the segment is scanned
    }
    try {
      const j = JSON.parse(raw) as Partial<Segment> & { size?: number };
      if (j.base !== base || j.size !== size || !Array.isArray(j.idxOffsets) || !Array.isArray(j.idxPositions) || !Number.isSafeInteger(Number(j.next))) {
        throw new Error('index does not match its segment');
      }
      return {
        base,
        next: Number(j.next),
        size,
        maxTime: j.maxTime === null || j.maxTime === undefined ? Number.NEGATIVE_INFINITY : Number(j.maxTime),
        path,
        idxOffsets: j.idxOffsets,
        idxPositions: j.idxPositions,
      };
    } catch (e) {
      this.logger.error(
        { event: LifecycleEvent.fileDamaged, file: idxPath, topic: this.topic, partition: this.partition, reason: (e as Error).message },
        `embedded log: damaged segment index ${idxPath}; it is rebuilt by scanning its segment`,
      );
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
      this.logger.error(
        { event: LifecycleEvent.fileDamaged, file: path, ...at, skippedBytes: scan.skippedBytes },
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

  /** Takes the partition's lock; call the returned function to release it. */
  acquire(): Promise<() => void> {
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const prev = this.lock;
    this.lock = prev.then(() => held);
    return prev.then(() => release);
  }

  private locked<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lock.then(fn, fn);
    this.lock = run.catch(() => undefined);
    return run;
  }

  private where(op: string, path = this.segments[this.segments.length - 1]!.path) {
    return { topic: this.topic, partition: this.partition, path, op };
  }

  /** The active segment's writer, reopened if a failed roll left none; a failed cut-back is redone first. Under the lock. */
  private async writable(): Promise<SegmentFile> {
    if (this.closed) throw new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `embedded log: ${this.topic}/${this.partition} is closed`, { retriable: true });
    const active = this.segments[this.segments.length - 1]!;
    if (!this.writer) {
      try {
        this.writer = await this.openSegment(active.path, 'append');
      } catch (e) {
        this.monitor.failed(e, this.where('reopen'));
        throw writeFailed(`reopening ${active.path}`, e);
      }
    }
    if (this.needsRepair) {
      try {
        await this.writer.truncate(active.size);
        this.needsRepair = false;
      } catch (e) {
        this.monitor.failed(e, this.where('truncate'));
        throw writeFailed(`cutting a failed write off ${active.path}`, e);
      }
    }
    return this.writer;
  }

  /**
   * Encodes records (already routed to this partition) for one write, rolling the segment first
   * when they would grow it past the limit. `into[at[i]]` receives the result of `records[i]`, so
   * results keep the caller's input order across partitions. Call while holding the lock.
   */
  async stage(records: readonly ProduceRecord[], now: number, into: AppendResult[], at: readonly number[]): Promise<StagedAppend> {
    await this.writable();
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
    return { part: this, seg: active, buf, next: offset, now, newOffsets, newPositions };
  }

  /** Writes a staged append (and fsyncs it when `sync`). On failure the partial write is cut off again. Under the lock. */
  async write(s: StagedAppend, sync: boolean): Promise<void> {
    const writer = this.writer!;
    try {
      await writeAll(writer, s.buf);
      if (sync) await writer.datasync();
    } catch (e) {
      this.monitor.failed(e, this.where(sync ? 'write+fsync' : 'write', s.seg.path));
      await this.undo(s);
      throw writeFailed(`appending to ${this.topic}/${this.partition}`, e);
    }
  }

  /** Cuts the file back to its published size (another partition of the same append failed). Under the lock. */
  async undo(s: StagedAppend): Promise<void> {
    try {
      await this.writer!.truncate(s.seg.size);
    } catch {
      // The bytes past the published size are invisible to readers; they are cut before the next write.
      this.needsRepair = true;
    }
  }

  /** Makes a written append visible to readers and consumers. Under the lock. */
  publish(s: StagedAppend, synced: boolean): void {
    const active = s.seg;
    for (let i = 0; i < s.newOffsets.length; i++) {
      active.idxOffsets.push(s.newOffsets[i]!);
      active.idxPositions.push(s.newPositions[i]!);
    }
    active.size += s.buf.length;
    active.next = s.next;
    if (s.now > active.maxTime) active.maxTime = s.now;
    if (synced) this.durableEnd = s.next;
    for (const l of this.listeners) l();
  }

  /**
   * Seals the active segment (fsynced, with its index) and starts a new one at the current end
   * offset. The new segment's writer is opened before the old one is closed, so a failure at any
   * step leaves the old segment active and writable. Call under the lock.
   */
  private async roll(): Promise<Segment> {
    const old = this.segments[this.segments.length - 1]!;
    const base = old.next;
    const path = join(this.dir, segmentName(base) + SEGMENT_SUFFIX);
    let next: SegmentFile;
    try {
      await this.writer!.datasync();
      await this.writeSidecar(old);
      // Created empty: a leftover of a crash mid-roll is stale.
      next = await this.openSegment(path, 'create');
    } catch (e) {
      this.monitor.failed(e, this.where('roll', path));
      throw writeFailed(`starting segment ${path}`, e);
    }
    const seg: Segment = { base, next: base, size: 0, maxTime: Number.NEGATIVE_INFINITY, path, idxOffsets: [], idxPositions: [] };
    const prev = this.writer!;
    this.writer = next;
    this.segments.push(seg);
    this.durableEnd = Math.max(this.durableEnd, base);
    await prev.close().catch(() => undefined);
    // The new file's name must survive a power loss before a checkpoint can cover its records.
    await fsyncDir(this.dir).catch(() => undefined);
    return seg;
  }

  /**
   * Makes every record below `upTo` durable (fsync). Concurrent calls share one fsync; a call
   * made while one runs waits for it and then runs one more if it still needs to.
   */
  flush(upTo: number): Promise<void> {
    const target = Math.min(upTo, this.endOffset);
    if (target <= this.durableEnd) return Promise.resolve();
    if (this.syncing && this.syncingTo >= target) return this.syncing;
    const prev = this.syncing;
    const run = (async () => {
      if (prev) await prev.catch(() => undefined);
      if (target > this.durableEnd) await this.syncSlot(() => this.syncActive());
    })();
    this.syncing = run;
    this.syncingTo = this.endOffset;
    void run.then(
      () => this.syncDone(run),
      () => this.syncDone(run),
    );
    return run;
  }

  private syncDone(run: Promise<void>): void {
    if (this.syncing === run) this.syncing = null;
  }

  private async syncActive(): Promise<void> {
    const to = this.endOffset;
    const w = this.writer;
    try {
      // Without a writer (a roll failed) the sync waits for the lock and reopens the segment.
      if (w) await w.datasync();
      else await this.locked(async () => (await this.writable()).datasync());
    } catch (e) {
      this.monitor.failed(e, this.where('fsync'));
      throw writeFailed(`flushing ${this.topic}/${this.partition} to disk`, e);
    }
    if (to > this.durableEnd) this.durableEnd = to;
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
        this.dropped.add(first);
        // closed before the unlink when no read uses it (some platforms refuse to unlink an open file)
        await this.retireReader(first);
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
      const reader = this.acquireReader(seg);
      try {
        const fh = await reader.fh;
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
        await this.releaseReader(reader);
      }
      si++;
    }
  }

  /** The segment's cached read handle, opened on first use; one use until releaseReader. */
  private acquireReader(seg: Segment): SegmentReader {
    let reader = this.readers.get(seg);
    if (reader) {
      // most recently used last
      this.readers.delete(seg);
      this.readers.set(seg, reader);
    } else {
      const cache = !this.closed && !this.dropped.has(seg);
      if (cache && this.readers.size >= MAX_READERS) void this.retireReader(this.readers.keys().next().value!);
      reader = { fh: fsp.open(seg.path, 'r'), users: 0, retired: !cache };
      if (cache) {
        const r = reader;
        this.readers.set(seg, r);
        // a failed open (retention deleted the file meanwhile) is not cached
        r.fh.catch(() => {
          if (this.readers.get(seg) === r) this.readers.delete(seg);
          r.retired = true;
        });
      }
    }
    reader.users++;
    return reader;
  }

  private async releaseReader(reader: SegmentReader): Promise<void> {
    reader.users--;
    if (reader.retired && reader.users === 0) await closeReader(reader);
  }

  /** Uncaches the segment's read handle; it is closed now (resolves when it is) or by the last read using it. */
  private async retireReader(seg: Segment): Promise<void> {
    const reader = this.readers.get(seg);
    if (!reader) return;
    this.readers.delete(seg);
    reader.retired = true;
    if (reader.users === 0) await closeReader(reader);
  }

  /** Flushes and closes the active segment and writes its index, so the next open needs no scan. */
  async close(): Promise<void> {
    await this.locked(async () => {
      this.closed = true;
      await Promise.all([...this.readers.keys()].map((seg) => this.retireReader(seg)));
      const w = this.writer;
      this.writer = null;
      if (!w) return;
      try {
        await w.datasync();
        this.durableEnd = this.endOffset;
      } catch (e) {
        this.monitor.failed(e, this.where('fsync at close'));
      } finally {
        await w.close().catch(() => undefined);
      }
      await this.writeSidecar(this.segments[this.segments.length - 1]!);
    });
  }
}

async function closeReader(reader: SegmentReader): Promise<void> {
  // a handle whose open failed has nothing to close (the read that awaited it saw the error)
  const fh = await reader.fh.catch(() => null);
  await fh?.close().catch(() => undefined);
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
