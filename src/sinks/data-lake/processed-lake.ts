/**
 * The data lake's `processed/` partition: the processed (enriched) records of the types with
 * enrichment rules, the same JSON the processor writes to `events.processed`, as JSON lines in
 * Hive-style partitions beside the window partitions:
 *
 * ```
 * <dir>/processed/eventType=<eventType>/date=<yyyy-mm-dd of the event time, UTC>/part-<source topic>-<partition>.jsonl
 * ```
 *
 * Written by the processor before the checkpoint that covers the records (at least once: after a
 * crash a replay appends the same records again, with the same `recordId`); readers keep one row
 * per `recordId` ({@link ProcessedLake.read} does). Single writer: one process writes a directory.
 */
import * as fsp from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import type { ProcessedRecord } from '../../model/index.ts';

export interface ProcessedLake {
  /** Appends processed records (their JSON text, one per line); resolves once they are on the disk. */
  write(lines: readonly string[]): Promise<void>;
  /** Every processed record in the lake, one per recordId (the last line), optionally of one type. */
  read(filter?: { eventType?: string }): Promise<ProcessedRecord[]>;
}

export interface ProcessedLakeOptions {
  /** Root directory of the lake (the window sink's). */
  dir: string;
  /** fsync each touched file before write() resolves. @default true */
  fsync?: boolean;
}

const SAFE = /[^A-Za-z0-9._-]/g;

export function createProcessedLake(options: ProcessedLakeOptions): ProcessedLake {
  const root = join(resolve(options.dir), 'processed');
  const fsync = options.fsync ?? true;

  function fileOf(r: ProcessedRecord): string {
    const t = String(r.original.eventType ?? 'unknown');
    const date = typeof r.original.timestamp === 'string' ? r.original.timestamp.slice(0, 10) : 'unknown';
    const [topic = 'unknown', partition = '0'] = r.metadata.source.split('/');
    return join(root, `eventType=${encodeURIComponent(t)}`, `date=${date}`, `part-${topic.replace(SAFE, '_')}-${partition.replace(SAFE, '_')}.jsonl`);
  }

  async function files(dir: string): Promise<string[]> {
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
      if (e.isDirectory()) out.push(...(await files(p)));
      else if (e.name.endsWith('.jsonl')) out.push(p);
    }
    return out;
  }

  return {
    async write(lines) {
      const byFile = new Map<string, string[]>();
      for (const line of lines) {
        const f = fileOf(JSON.parse(line) as ProcessedRecord);
        let l = byFile.get(f);
        if (!l) byFile.set(f, (l = []));
        l.push(line);
      }
      for (const [file, ls] of byFile) {
        await fsp.mkdir(dirname(file), { recursive: true });
        const h = await fsp.open(file, 'a');
        try {
          await h.appendFile(`${ls.join('\n')}\n`);
          if (fsync) await h.sync();
        } finally {
          await h.close();
        }
      }
    },
    async read(filter = {}) {
      const base = filter.eventType === undefined ? root : join(root, `eventType=${encodeURIComponent(filter.eventType)}`);
      const byId = new Map<string, ProcessedRecord>();
      for (const f of await files(base)) {
        for (const line of (await fsp.readFile(f, 'utf8')).split('\n')) {
          if (line.trim() === '') continue;
          try {
            const r = JSON.parse(line) as ProcessedRecord;
            if (typeof r.recordId === 'string') byId.set(r.recordId, r);
          } catch {
            // a line cut short by a crash mid-append: its record is written again by the replay
          }
        }
      }
      return [...byId.values()];
    },
  };
}
