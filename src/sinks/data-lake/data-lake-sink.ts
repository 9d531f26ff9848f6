/**
 * The data-lake sink: final window results as JSON lines in Hive-style partitions,
 *
 * ```
 * <dir>/eventType=<eventType>/date=<yyyy-mm-dd of windowStart, UTC>/part-<bucket>.jsonl
 * ```
 *
 * one row a line ({@link LAKE_COLUMNS}: the WindowResult fields, times as epoch ms, plus
 * `windowStartIso`/`windowEndIso`).
 * A window always maps to the same file (bucket = hash of key and window spec), so upserting is
 * local to one file: a write APPENDS its rows (cheap, at least once), and the file is compacted
 * — rewritten with one row per window, the highest revision, later line on a tie; temp file then
 * rename — once it has taken as many appended rows as it kept at its last compaction (and at least
 * `compactAfterRows`), so rewriting costs amortised O(1) per row however large the file grows, and
 * by {@link DataLakeSink.compact}.
 * Readers ({@link DataLakeSink.read}, or a query engine that applies the same "max revision per
 * (eventType, key, window, windowStart)" rule) therefore always see exactly one row per window.
 * Single writer: one process writes a directory. Processed (enriched) records live beside the
 * windows under `<dir>/processed/` ({@link createProcessedLake}).
 */
import * as fsp from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '../../core/index.ts';
import { WINDOW_RESULT_FIELDS, type WindowResult, windowIdentity, windowResultSchema } from '../../model/index.ts';
import type { Sink } from '../port.ts';

export interface DataLakeSinkOptions {
  /** Root directory of the lake. */
  dir: string;
  /** Files per (eventType, date) partition; windows are spread over them by hash. @default 8 */
  buckets?: number;
  /** A file is compacted after at least this many appended rows (and as many as it kept at its last compaction). @default 10000 */
  compactAfterRows?: number;
  /** fsync each touched file before write() resolves. @default true */
  fsync?: boolean;
  /** Sink name (metrics, logs). @default 'data-lake' */
  name?: string;
}

export interface DataLakeReadFilter {
  eventType?: string;
  key?: string;
  window?: string;
}

/** The data-lake sink plus a reader (tests, tools) and on-demand compaction. */
export interface DataLakeSink extends Sink {
  /** Every window in the lake (one row each, newest revision), sorted by eventType, key, window, windowStart. */
  read(filter?: DataLakeReadFilter): Promise<WindowResult[]>;
  /** Compacts every file now. */
  compact(): Promise<void>;
}

export interface LakeColumn {
  readonly name: string;
  readonly value: (r: WindowResult) => unknown;
}

const isoOf = (ms: number): string => new Date(ms).toISOString();

/**
 * The columns of a lake row, in order: every WindowResult field as is (times as epoch ms), then
 * ISO-8601 copies of the window's times for people and query engines reading the files.
 */
export const LAKE_COLUMNS: readonly LakeColumn[] = [
  ...WINDOW_RESULT_FIELDS.map((f): LakeColumn => ({ name: f.name, value: (r) => r[f.name] })),
  { name: 'windowStartIso', value: (r) => isoOf(r.windowStart) },
  { name: 'windowEndIso', value: (r) => isoOf(r.windowEnd) },
];

function fnv1a(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

function rowOf(r: WindowResult): string {
  const row: Record<string, unknown> = {};
  for (const c of LAKE_COLUMNS) row[c.name] = c.value(r);
  return JSON.stringify(row);
}

/** Parses JSON lines, skipping a torn or foreign line, and keeps the newest revision per window. */
function dedupe(text: string, into: Map<string, WindowResult>): number {
  let rows = 0;
  for (const line of text.split('\n')) {
    if (line.length === 0) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    // The schema drops the ISO copies and rejects a line that is not a window result.
    const v = windowResultSchema.safeParse(parsed);
    if (!v.success) continue;
    const r = v.data;
    rows++;
    const id = windowIdentity(r);
    const prev = into.get(id);
    if (!prev || r.revision >= prev.revision) into.set(id, r);
  }
  return rows;
}

/** The window files under `dir`; at the lake's root only the `eventType=` partitions (not `processed/`). */
async function walk(dir: string, root = false): Promise<string[]> {
  let entries: import('node:fs').Dirent[];
  try {
    entries = await fsp.readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as { code?: string }).code === 'ENOENT') return [];
    throw e;
  }
  const out: string[] = [];
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      if (!root || e.name.startsWith('eventType=')) out.push(...(await walk(p)));
    }
    else if (e.name.endsWith('.jsonl')) out.push(p);
  }
  return out;
}

/**
 * Creates the data-lake sink.
 *
 * @example
 * const lake = createDataLakeSink({ dir: './data/lake' });
 * await lake.start();
 * await lake.write(finals);
 */
export function createDataLakeSink(options: DataLakeSinkOptions): DataLakeSink {
  const root = resolve(options.dir);
  const buckets = Math.max(1, options.buckets ?? 8);
  const compactAfter = Math.max(1, options.compactAfterRows ?? 10_000);
  const fsync = options.fsync ?? true;
  /** Rows appended since the last compaction, per file. */
  const appended = new Map<string, number>();
  /** Rows a file kept at its last compaction in this process. */
  const kept = new Map<string, number>();
  /** Files whose tail was checked for a torn line in this process. */
  const checked = new Set<string>();
  const locks = new Map<string, Promise<unknown>>();
  let started = false;

  function fileFor(r: WindowResult): string {
    const date = isoOf(r.windowStart).slice(0, 10);
    const bucket = String(fnv1a(`${r.key}\u0000${r.window}`) % buckets).padStart(3, '0');
    return join(root, `eventType=${encodeURIComponent(r.eventType)}`, `date=${date}`, `part-${bucket}.jsonl`);
  }

  function locked<T>(file: string, fn: () => Promise<T>): Promise<T> {
    const run = (locks.get(file) ?? Promise.resolve()).then(fn, fn);
    const tail = run.catch(() => undefined);
    locks.set(file, tail);
    void tail.then(() => {
      if (locks.get(file) === tail) locks.delete(file);
    });
    return run;
  }

  async function appendRows(file: string, lines: string[]): Promise<void> {
    await fsp.mkdir(dirname(file), { recursive: true });
    let prefix = '';
    if (!checked.has(file)) {
      // A crash mid-append can leave a line without its newline; start on a fresh line.
      const fh = await fsp.open(file, 'a+');
      try {
        const { size } = await fh.stat();
        if (size > 0) {
          const last = Buffer.alloc(1);
          await fh.read(last, 0, 1, size - 1);
          if (last[0] !== 0x0a) prefix = '\n';
        }
      } finally {
        await fh.close();
      }
      checked.add(file);
    }
    const fh = await fsp.open(file, 'a');
    try {
      await fh.writeFile(prefix + lines.join('\n') + '\n');
      if (fsync) await fh.datasync();
    } finally {
      await fh.close();
    }
    const n = (appended.get(file) ?? 0) + lines.length;
    appended.set(file, n);
    if (n >= Math.max(compactAfter, kept.get(file) ?? 0)) await compactFile(file);
  }

  async function compactFile(file: string): Promise<void> {
    let text: string;
    try {
      text = await fsp.readFile(file, 'utf8');
    } catch (e) {
      if ((e as { code?: string }).code === 'ENOENT') return;
      throw e;
    }
    const rows = new Map<string, WindowResult>();
    dedupe(text, rows);
    const sorted = [...rows.values()].sort((a, b) => a.windowStart - b.windowStart || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    await writeFileAtomic(file, sorted.map(rowOf).join('\n') + (sorted.length > 0 ? '\n' : ''), { fsync });
    appended.set(file, 0);
    kept.set(file, sorted.length);
    checked.add(file);
  }

  return {
    name: options.name ?? 'data-lake',

    async start() {
      await fsp.mkdir(root, { recursive: true });
      started = true;
    },

    async close() {
      await Promise.all([...locks.values()]);
      started = false;
    },

    async write(results) {
      if (!started) await fsp.mkdir(root, { recursive: true });
      const byFile = new Map<string, string[]>();
      for (const r of results) {
        // Only finals belong in the lake; updates are for live subscribers.
        if (!r.final) continue;
        const f = fileFor(r);
        let l = byFile.get(f);
        if (!l) byFile.set(f, (l = []));
        l.push(rowOf(r));
      }
      await Promise.all([...byFile].map(([file, lines]) => locked(file, () => appendRows(file, lines))));
    },

    async read(filter = {}) {
      let base = root;
      if (filter.eventType !== undefined) base = join(root, `eventType=${encodeURIComponent(filter.eventType)}`);
      const rows = new Map<string, WindowResult>();
      for (const file of await walk(base, base === root)) {
        const text = await locked(file, () => fsp.readFile(file, 'utf8').catch(() => ''));
        dedupe(text, rows);
      }
      return [...rows.values()]
        .filter((r) => (filter.key === undefined || r.key === filter.key) && (filter.window === undefined || r.window === filter.window))
        .sort(
          (a, b) =>
            cmp(a.eventType, b.eventType) || cmp(a.key, b.key) || cmp(a.window, b.window) || a.windowStart - b.windowStart,
        );
    },

    async compact() {
      for (const file of await walk(root, true)) await locked(file, () => compactFile(file));
    },

    async healthy() {
      try {
        await fsp.access(root);
        return { connected: true };
      } catch (e) {
        return { connected: false, detail: `data lake dir not accessible: ${(e as Error).message}` };
      }
    },
  };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
