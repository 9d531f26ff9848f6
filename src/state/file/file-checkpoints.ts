/**
 * The file checkpoint store (embedded mode). Per partition, under
 * `<dataDir>/checkpoints/<topic>/<partition>/`:
 *
 * ```
 * epoch                 the partition's current epoch (replaced atomically: temp, fsync, rename)
 * <generation>.ckpt     a journal: one full snapshot frame, then one delta frame per commit
 * ```
 *
 * A frame is `len:u32be crc32:u32be json`. A commit appends ONE delta frame holding the new
 * offset, the partition state and only the dirty/deleted actor states, so a commit costs what
 * changed, not what is stored. It is atomic because a frame counts only when complete with a
 * valid checksum: a torn frame at the end (crash mid-write) is cut off when the journal is next
 * opened, and the checkpoint is the previous commit, states and offset together. When the journal
 * grows past twice its last snapshot (and past `compactBytes`) it is compacted: the full state is
 * written to `<generation+1>.ckpt` by write-temp, fsync, rename, fsync dir; then the old journal
 * is removed. Loading takes the newest generation whose snapshot frame is valid.
 *
 * The snapshot is encoded and written in slices of about {@link SLICE_CHARS} characters, each
 * slice's write an await, so the event loop serves requests between slices: encoding every
 * actor and final of a partition in one go held the loop 20–45 ms (the gateway runs on the same
 * loop in embedded mode). The frame's length and checksum are written into its header last, and
 * the file only gets its name after that and an fsync, so a crash mid-compaction leaves a
 * `.tmp` file that is ignored (and removed at the next load), never a generation.
 *
 * Damage: every recovery from a damaged file logs an error naming it (`file.damaged`): a journal
 * cut back to its last valid frame (the checkpoint falls back to that commit and the partition
 * replays further), a generation without a valid snapshot (renamed `<name>.corrupt`; an older
 * generation or, when there is none, no checkpoint at all), an epoch file that is not a number.
 * Whether the log still holds the records such a replay needs is checked where the partition is
 * resumed (`resumeOffset` in the log area).
 *
 * Fencing: `acquire` bumps the persisted epoch; `commit` reads the persisted epoch under a
 * per-partition lock shared by every store instance in the process, so a zombie instance's
 * commit under an older epoch fails with FencedError before anything is written. The embedded
 * mode has a single process, so a process-wide lock is enough (Redis does this across nodes).
 */
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { fsyncDir, LifecycleEvent, writeFileAtomic } from '../../core/index.ts';
import { ErrorCode, FencedError, KeyflowError } from '../../model/index.ts';
import type { CheckpointStore, CheckpointWrite, PartitionCheckpoint } from '../port.ts';
import { crc32, crc32Update } from '../../model/index.ts';

export interface FileCheckpointsOptions {
  /** Directory holding all data; checkpoints live in `<dataDir>/checkpoints`. */
  dataDir: string;
  /**
   * fsync the journal on every commit (and the snapshot and directory on compaction). Off, a
   * commit survives a process crash but a power loss may roll the checkpoint back to an earlier
   * one — still consistent (states and offset move together), only replayed further. @default true
   */
  fsync?: boolean;
  /** A journal is compacted only once it is larger than this (and twice its snapshot), bytes. @default 4 MiB */
  compactBytes?: number;
  /** Where recoveries from damaged files are reported (pino-compatible). @default console */
  logger?: StoreLogger;
}

/** Minimal pino-compatible logger of the store. */
export interface StoreLogger {
  error(obj: Record<string, unknown>, msg: string): void;
}

const consoleLogger: StoreLogger = { error: (obj, msg) => console.error(msg, obj) };

/** The file store, with an inspection hook for tests and operators. */
export interface FileCheckpointStore extends CheckpointStore {
  readonly kind: 'file';
  /** Journal size and generation of a partition (after loading it). */
  stats(topic: string, partition: number): Promise<{ generation: number; journalBytes: number; actors: number }>;
}

/** A stored final: actor, window id, window end, data. */
type FinalRow = [string, string, number, string];

interface SnapshotFrame {
  t: 's';
  e: number;
  o: number;
  p: string;
  a: [string, string][];
  f?: FinalRow[];
}
interface DeltaFrame {
  t: 'd';
  e: number;
  o: number;
  p: string;
  d: [string, string][];
  x?: string[];
  f?: FinalRow[];
}
type Frame = SnapshotFrame | DeltaFrame;

interface PartitionFiles {
  dir: string;
  loaded: boolean;
  generation: number;
  /** Valid bytes of the current journal. */
  journalBytes: number;
  snapshotBytes: number;
  checkpoint: PartitionCheckpoint | null;
  actors: Map<string, string>;
  /** The results store: actor → window id → [window end, data]. */
  finals: Map<string, Map<string, [number, string]>>;
  /** Finals ending before this are past retention: left out of the next snapshot. */
  retainFrom: number;
  writer: FileHandle | null;
}

function putFinal(finals: PartitionFiles['finals'], row: FinalRow): void {
  let m = finals.get(row[0]);
  if (!m) finals.set(row[0], (m = new Map()));
  m.set(row[1], [row[2], row[3]]);
}

/** Applies one commit's changes to the in-memory view. */
function applyChanges(p: PartitionFiles, dirty: Iterable<[string, string]>, deleted: readonly string[] | undefined, finals: readonly FinalRow[] | undefined): void {
  for (const [k, v] of dirty) p.actors.set(k, v);
  if (finals) for (const f of finals) putFinal(p.finals, f);
  if (deleted) {
    for (const k of deleted) {
      p.actors.delete(k);
      p.finals.delete(k);
    }
  }
}

const JOURNAL_SUFFIX = '.ckpt';
/** A compaction's snapshot in the making (renamed to its generation's name once complete). */
const TEMP_SUFFIX = '.ckpt.tmp';
/** Characters of snapshot JSON encoded per slice of a compaction (about a millisecond of work). */
export const SLICE_CHARS = 128 * 1024;

/** Per-partition locks shared by every store instance of this process (keyed by directory). */
const locks = new Map<string, Promise<unknown>>();

function withLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  const prev = locks.get(key) ?? Promise.resolve();
  const run = prev.then(fn, fn);
  const tail = run.catch(() => undefined);
  locks.set(key, tail);
  void tail.then(() => {
    if (locks.get(key) === tail) locks.delete(key);
  });
  return run;
}

function encodeFrame(frame: Frame): Buffer {
  const body = Buffer.from(JSON.stringify(frame), 'utf8');
  const out = Buffer.allocUnsafe(8 + body.length);
  out.writeUInt32BE(body.length, 0);
  out.writeUInt32BE(crc32(body), 4);
  body.copy(out, 8);
  return out;
}

/** Valid frames of a journal image, and where the valid part ends. */
function decodeFrames(buf: Buffer): { frames: Frame[]; validEnd: number } {
  const frames: Frame[] = [];
  let pos = 0;
  while (pos + 8 <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const end = pos + 8 + len;
    if (end > buf.length) break;
    if (crc32(buf, pos + 8, end) !== buf.readUInt32BE(pos + 4)) break;
    let frame: Frame;
    try {
      frame = JSON.parse(buf.toString('utf8', pos + 8, end)) as Frame;
    } catch {
      break;
    }
    frames.push(frame);
    pos = end;
  }
  return { frames, validEnd: pos };
}

function genName(gen: number): string {
  return String(gen).padStart(12, '0') + JOURNAL_SUFFIX;
}

/** The epoch file's number; 0 when missing, null when it holds something else (damage). */
async function readEpoch(path: string): Promise<number | null> {
  let raw: string;
  try {
    raw = await fsp.readFile(path, 'utf8');
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return 0;
    throw e;
  }
  const n = Number(raw.trim());
  return raw.trim() !== '' && Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/**
 * Creates the file checkpoint store.
 *
 * @example
 * const store = createFileCheckpoints({ dataDir: './data' });
 * await store.start();
 * const epoch = await store.acquire('events.iot.sensors', 3);
 * await store.commit('events.iot.sensors', 3, epoch, { nextOffset: 120, partitionState: '{}', dirty: new Map([['dev-1', '{…}']]) });
 */
export function createFileCheckpoints(options: FileCheckpointsOptions): FileCheckpointStore {
  const root = resolve(options.dataDir, 'checkpoints');
  const fsync = options.fsync ?? true;
  const compactBytes = options.compactBytes ?? 4 * 1024 * 1024;
  const logger = options.logger ?? consoleLogger;
  const parts = new Map<string, PartitionFiles>();
  let started = false;

  function requireStarted(): void {
    if (!started) throw new KeyflowError(ErrorCode.STORE_UNAVAILABLE, 'file checkpoint store is not started (call start() first) or was closed', { retriable: true });
  }

  function filesOf(topic: string, partition: number): PartitionFiles {
    requireStarted();
    const dir = join(root, encodeURIComponent(topic), String(partition));
    let p = parts.get(dir);
    if (!p) {
      p = {
        dir,
        loaded: false,
        generation: 0,
        journalBytes: 0,
        snapshotBytes: 0,
        checkpoint: null,
        actors: new Map(),
        finals: new Map(),
        retainFrom: Number.NEGATIVE_INFINITY,
        writer: null,
      };
      parts.set(dir, p);
    }
    return p;
  }

  async function unload(p: PartitionFiles): Promise<void> {
    await p.writer?.close().catch(() => undefined);
    p.writer = null;
    p.loaded = false;
    p.actors = new Map();
    p.finals = new Map();
    p.checkpoint = null;
  }

  /** Reads the newest valid generation; cuts a torn tail off its journal. Call under the lock. */
  async function load(p: PartitionFiles): Promise<void> {
    await unload(p);
    await fsp.mkdir(p.dir, { recursive: true });
    const names = await fsp.readdir(p.dir);
    // a compaction a crash interrupted: its old generation is still the checkpoint
    for (const n of names) if (n.endsWith(TEMP_SUFFIX)) await fsp.rm(join(p.dir, n), { force: true });
    const gens = names
      .filter((n) => n.endsWith(JOURNAL_SUFFIX))
      .map((n) => Number(n.slice(0, -JOURNAL_SUFFIX.length)))
      .filter((g) => Number.isSafeInteger(g))
      .sort((a, b) => b - a);
    p.generation = 0;
    p.journalBytes = 0;
    p.snapshotBytes = 0;
    for (const gen of gens) {
      const path = join(p.dir, genName(gen));
      const buf = await fsp.readFile(path);
      const { frames, validEnd } = decodeFrames(buf);
      const first = frames[0];
      if (first?.t !== 's') {
        // Generations appear only by rename after a complete write, so this is damage: set the
        // file aside (for inspection) and fall back to an older generation if there is one.
        await fsp.rename(path, `${path}.corrupt`);
        const older = gens.some((g) => g < gen);
        logger.error(
          { event: LifecycleEvent.fileDamaged, file: path, setAsideAs: `${path}.corrupt` },
          `checkpoint journal ${path} has no valid snapshot; set aside as ${path}.corrupt, ${older ? 'falling back to the previous generation' : 'the partition has no checkpoint now and is rebuilt from the log'}`,
        );
        continue;
      }
      p.actors = new Map<string, string>(first.a);
      p.finals = new Map();
      applyChanges(p, [], undefined, first.f);
      let last: Frame = first;
      for (let i = 1; i < frames.length; i++) {
        const f = frames[i] as DeltaFrame;
        applyChanges(p, f.d, f.x, f.f);
        last = f;
      }
      if (validEnd < buf.length) {
        await fsp.truncate(path, validEnd);
        logger.error(
          { event: LifecycleEvent.fileDamaged, file: path, validBytes: validEnd, discardedBytes: buf.length - validEnd, nextOffset: last.o },
          `checkpoint journal ${path} is damaged at byte ${validEnd} (torn or corrupt frame); cut back to its last valid commit (next offset ${last.o}), the partition replays the log from there`,
        );
      }
      p.generation = gen;
      p.journalBytes = validEnd;
      p.snapshotBytes = 8 + Buffer.byteLength(JSON.stringify(first));
      p.checkpoint = { nextOffset: last.o, partitionState: last.p, epoch: last.e };
      break;
    }
    p.loaded = true;
  }

  async function ensureLoaded(p: PartitionFiles): Promise<void> {
    if (!p.loaded) await withLock(p.dir, () => (p.loaded ? Promise.resolve() : load(p)));
  }

  /**
   * Writes the full state as generation+1 (temp, fsync, rename, fsync dir), then drops the old
   * journal. Runs under the partition's lock, so nothing changes the state it encodes meanwhile;
   * the snapshot frame (`len crc json`) is encoded and written in slices that let the event loop
   * turn, its header written last.
   */
  async function compact(p: PartitionFiles, e: number, o: number, state: string): Promise<void> {
    const next = p.generation + 1;
    const path = join(p.dir, genName(next));
    const tmp = join(p.dir, String(next).padStart(12, '0') + TEMP_SUFFIX);
    const fh = await fsp.open(tmp, 'w');
    let bytes = 8;
    try {
      let crc = 0;
      let parts: string[] = [];
      let chars = 0;
      const put = (text: string): boolean => {
        parts.push(text);
        chars += text.length;
        return chars >= SLICE_CHARS;
      };
      const flush = async (): Promise<void> => {
        const buf = Buffer.from(parts.join(''), 'utf8');
        parts = [];
        chars = 0;
        crc = crc32Update(crc, buf);
        await fh.write(buf, 0, buf.length, bytes);
        bytes += buf.length;
      };
      put(`{"t":"s","e":${e},"o":${o},"p":${JSON.stringify(state)},"a":[`);
      let sep = '';
      for (const entry of p.actors) {
        if (put(sep + JSON.stringify(entry))) await flush();
        sep = ',';
      }
      put('],"f":[');
      sep = '';
      for (const [actor, m] of p.finals) {
        for (const [id, [end, data]] of m) {
          if (end < p.retainFrom) {
            m.delete(id);
            continue;
          }
          if (put(sep + JSON.stringify([actor, id, end, data] satisfies FinalRow))) await flush();
          sep = ',';
        }
        if (m.size === 0) p.finals.delete(actor);
      }
      put(']}');
      await flush();
      const header = Buffer.allocUnsafe(8);
      header.writeUInt32BE(bytes - 8, 0);
      header.writeUInt32BE(crc, 4);
      await fh.write(header, 0, 8, 0);
      if (fsync) await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true }).catch(() => undefined);
      throw err;
    }
    await fh.close();
    await fsp.rename(tmp, path);
    if (fsync) await fsyncDir(p.dir);
    await p.writer?.close().catch(() => undefined);
    p.writer = null;
    const old = p.generation;
    p.generation = next;
    p.journalBytes = bytes;
    p.snapshotBytes = bytes;
    if (old > 0) await fsp.rm(join(p.dir, genName(old)), { force: true });
  }

  const store: FileCheckpointStore = {
    kind: 'file',

    async start() {
      await fsp.mkdir(root, { recursive: true });
      started = true;
    },

    async close() {
      started = false;
      for (const p of parts.values()) await withLock(p.dir, () => unload(p));
      parts.clear();
    },

    acquire(topic, partition) {
      const p = filesOf(topic, partition);
      return withLock(p.dir, async () => {
        await fsp.mkdir(p.dir, { recursive: true });
        const path = join(p.dir, 'epoch');
        // Reload: another owner (instance) may have committed since this instance last looked.
        await load(p);
        let stored = await readEpoch(path);
        if (stored === null) {
          logger.error({ event: LifecycleEvent.fileDamaged, file: path }, `checkpoint epoch file ${path} does not hold a number; rewritten from the journal's epoch`);
          stored = 0;
        }
        const epoch = Math.max(stored, p.checkpoint?.epoch ?? 0) + 1;
        await writeFileAtomic(path, String(epoch), { fsync });
        return epoch;
      });
    },

    async load(topic, partition) {
      const p = filesOf(topic, partition);
      await ensureLoaded(p);
      return p.checkpoint ? { ...p.checkpoint } : null;
    },

    async loadActor(topic, partition, key) {
      const p = filesOf(topic, partition);
      await ensureLoaded(p);
      return p.actors.get(key) ?? null;
    },

    async loadFinals(topic, partition, actor) {
      const p = filesOf(topic, partition);
      await ensureLoaded(p);
      const m = p.finals.get(actor);
      return m ? [...m.values()].map((v) => v[1]) : [];
    },

    async loadActors(topic, partition) {
      const p = filesOf(topic, partition);
      await ensureLoaded(p);
      return new Map(p.actors);
    },

    commit(topic, partition, epoch, write: CheckpointWrite) {
      const p = filesOf(topic, partition);
      return withLock(p.dir, async () => {
        const current = (await readEpoch(join(p.dir, 'epoch'))) ?? 0;
        if (current === 0 || epoch !== current) throw new FencedError(topic, partition, epoch, current === 0 ? null : current);
        if (!p.loaded) await load(p);
        else if (p.generation > 0) {
          // Another instance in this process may have written (it had the epoch before us).
          const st = await fsp.stat(join(p.dir, genName(p.generation))).catch(() => null);
          if (!st || st.size !== p.journalBytes) await load(p);
        }
        const finals: FinalRow[] | undefined = write.finals?.map((f) => [f.actor, f.id, f.windowEnd, f.data]);
        if (write.retainFinalsFrom !== undefined && write.retainFinalsFrom > p.retainFrom) p.retainFrom = write.retainFinalsFrom;
        try {
          if (p.generation === 0) {
            applyChanges(p, write.dirty, write.deleted, finals);
            await compact(p, epoch, write.nextOffset, write.partitionState);
          } else {
            const frame = encodeFrame({
              t: 'd',
              e: epoch,
              o: write.nextOffset,
              p: write.partitionState,
              d: [...write.dirty],
              ...(write.deleted && write.deleted.length > 0 ? { x: [...write.deleted] } : {}),
              ...(finals && finals.length > 0 ? { f: finals } : {}),
            });
            if (!p.writer) p.writer = await fsp.open(join(p.dir, genName(p.generation)), 'a');
            await p.writer.write(frame);
            if (fsync) await p.writer.datasync();
            p.journalBytes += frame.length;
            applyChanges(p, write.dirty, write.deleted, finals);
            if (p.journalBytes > compactBytes && p.journalBytes > 2 * p.snapshotBytes) {
              await compact(p, epoch, write.nextOffset, write.partitionState);
            }
          }
        } catch (e) {
          // The in-memory view may be ahead of the disk now: reload on next use.
          await unload(p);
          throw new KeyflowError(ErrorCode.CHECKPOINT_FAILED, `checkpoint of ${topic}/${partition} could not be written; the previous checkpoint stays in force`, {
            retriable: true,
            cause: e,
          });
        }
        p.checkpoint = { nextOffset: write.nextOffset, partitionState: write.partitionState, epoch };
      });
    },

    async healthy() {
      if (!started) return { connected: false, detail: 'file checkpoint store not started' };
      try {
        await fsp.access(root);
        return { connected: true };
      } catch (e) {
        return { connected: false, detail: `checkpoint dir not accessible: ${(e as Error).message}` };
      }
    },

    async stats(topic, partition) {
      const p = filesOf(topic, partition);
      await ensureLoaded(p);
      return { generation: p.generation, journalBytes: p.journalBytes, actors: p.actors.size };
    },
  };
  return store;
}
