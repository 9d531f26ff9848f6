/**
 * The rollup partial of one partition: per (event type, fixed window spec, window start) the
 * aggregates across every key of the partition — count, valueCount, sum, min, max — plus each
 * key's own tally (for an exact top-N) and the window's distinct users (merged across partitions
 * at query time: users are not partition-aligned, keys are).
 *
 * An event joins a rollup window exactly when it joins its key's window: the same lateness rule
 * (`end + allowedLateness <= watermark` before the event is late; under `update` a late event
 * still counts while the window is within its retention), the same retention. Session specs have
 * no shared window starts across keys, so rollups cover tumbling and sliding specs only.
 *
 * Checkpoints: each changed window is one snapshot in the partition's checkpoint write, under a
 * reserved actor id ({@link ROLLUP_ID_PREFIX}), so it is committed atomically with the partition
 * offset and the key actors: a crash and replay from that offset never loses or doubles a
 * contribution. Expired windows are deleted in the same commit.
 *
 * The per-event update ({@link PartitionRollups.apply}) allocates only when a window or a key's
 * tally within a window appears for the first time.
 */
import type { EventEnvelope, LatePolicy } from '../../model/index.ts';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import { ScannedEvent } from '../record-scan.ts';
import type { WindowSpec } from '../windows/spec.ts';
import type { RollupOrder, RollupPartial, RollupQuery, RollupTally } from './rollup-types.ts';

/**
 * Prefix of a rollup window's id in the checkpoint store. It starts with the actor-id separator
 * and an empty event type, which no key actor id of a registered type has.
 */
export const ROLLUP_ID_PREFIX = '\u001frollup\u001f';
const SEP = '\u001f';

/** Whether a checkpoint-store id is a rollup window's (not a key actor's). */
export function isRollupId(id: string): boolean {
  return id.startsWith(ROLLUP_ID_PREFIX);
}

/** What rollups need of an event type's key-actor configuration (`KeyActorLogic.config`). */
export interface RollupTypeConfig {
  readonly eventType: string;
  readonly specs: readonly WindowSpec[];
  readonly valueField: string | null;
}

export interface RollupSettings {
  allowedLatenessMs: number;
  latePolicy: LatePolicy;
  resultRetentionMs: number;
}

class KeyTally {
  count = 0;
  valueCount = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
}

class RollupWindow {
  count = 0;
  valueCount = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  readonly keys = new Map<string, KeyTally>();
  readonly users = new Set<string>();
  /** 0 when committed; else the change sequence number of its last change. */
  dirtySeq = 0;
  constructor(
    readonly id: string,
    readonly spec: WindowSpec,
    readonly start: number,
    readonly end: number,
  ) {}
}

class RollupType {
  /** Fixed (tumbling, sliding) specs only. */
  readonly specs: WindowSpec[];
  /** Per spec (same index): windows by start. */
  readonly byStart: Map<number, RollupWindow>[];
  readonly valueField: string | null;
  constructor(readonly eventType: string, config: RollupTypeConfig) {
    this.specs = config.specs.filter((s) => s.kind !== 'session');
    this.byStart = this.specs.map(() => new Map());
    this.valueField = config.valueField;
  }
  specIndex(name: string): number {
    return this.specs.findIndex((s) => s.name === name);
  }
}

interface StoredWindow {
  v: 1;
  t: string;
  w: string;
  s: number;
  e: number;
  /** count, valueCount, sum, min, max of the window (min/max null when valueCount is 0) */
  a: [number, number, number, number | null, number | null];
  /** [key, count, valueCount, sum, min, max] per key */
  k: [string, number, number, number, number | null, number | null][];
  u: string[];
}

export class PartitionRollups {
  private readonly types = new Map<string, RollupType>();
  private readonly L: number;
  private readonly R: number;
  private readonly update: boolean;
  private readonly dirty = new Set<RollupWindow>();
  private readonly deleted = new Map<string, number>();
  private seq = 0;
  private cpSeq = -1;
  /** Lowest window end held: nothing expires before the watermark passes it + retention. */
  private minEnd = Number.POSITIVE_INFINITY;

  constructor(settings: RollupSettings) {
    this.L = settings.allowedLatenessMs;
    this.R = settings.resultRetentionMs;
    this.update = settings.latePolicy === 'update';
  }

  private typeOf(config: RollupTypeConfig): RollupType {
    let t = this.types.get(config.eventType);
    if (t === undefined) {
      t = new RollupType(config.eventType, config);
      this.types.set(config.eventType, t);
    }
    return t;
  }

  private touch(w: RollupWindow): void {
    if (w.dirtySeq === 0) this.dirty.add(w);
    w.dirtySeq = ++this.seq;
  }

  private windowAt(t: RollupType, i: number, start: number, end: number): RollupWindow {
    const m = t.byStart[i]!;
    let w = m.get(start);
    if (w === undefined) {
      const spec = t.specs[i]!;
      const id = `${ROLLUP_ID_PREFIX}${t.eventType}${SEP}${spec.name}${SEP}${start}`;
      w = new RollupWindow(id, spec, start, end);
      m.set(start, w);
      if (this.deleted.size > 0) this.deleted.delete(id);
      if (end < this.minEnd) this.minEnd = end;
    }
    return w;
  }

  private add(t: RollupType, i: number, start: number, end: number, wm: number, key: string, value: number | undefined, userId: string | null): void {
    if (end + this.L <= wm && (!this.update || end < wm - this.R)) return; // late for this window
    const w = this.windowAt(t, i, start, end);
    w.count++;
    let k = w.keys.get(key);
    if (k === undefined) {
      k = new KeyTally();
      w.keys.set(key, k);
    }
    k.count++;
    if (value !== undefined) {
      w.valueCount++;
      w.sum += value;
      if (value < w.min) w.min = value;
      if (value > w.max) w.max = value;
      k.valueCount++;
      k.sum += value;
      if (value < k.min) k.min = value;
      if (value > k.max) k.max = value;
    }
    if (userId !== null) w.users.add(userId);
    this.touch(w);
  }

  /**
   * Adds one event that its key actor accepted (call it right after `applyEvent` succeeded, with
   * the watermark the actor was given: the partition watermark before the event).
   */
  apply(config: RollupTypeConfig, ev: EventEnvelope, key: string, watermark: number | null): void {
    const t = this.typeOf(config);
    const specs = t.specs;
    if (specs.length === 0) return;
    const ts = ev.timestamp;
    const wm = watermark ?? Number.NEGATIVE_INFINITY;
    const vf = t.valueField;
    let value: number | undefined;
    if (vf !== null) {
      if (ev instanceof ScannedEvent && ev.valueField === vf) value = ev.value;
      else {
        const v = ev.payload[vf];
        if (typeof v === 'number' && Number.isFinite(v)) value = v;
      }
    }
    const userId = ev.userId;
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      const size = s.size;
      if (s.kind === 'tumbling') {
        const start = Math.floor(ts / size) * size;
        this.add(t, i, start, start + size, wm, key, value, userId);
      } else {
        const slide = s.slide;
        let k = Math.floor((ts - size) / slide) + 1;
        for (let start = k * slide; start <= ts; start = ++k * slide) this.add(t, i, start, start + size, wm, key, value, userId);
      }
    }
  }

  /** Drops final windows past their retention (end < watermark − retention), as key actors drop theirs; their ids go with the next checkpoint as deleted. */
  advance(watermark: number | null): void {
    if (watermark === null || !(this.minEnd < watermark - this.R)) return;
    const cut = watermark - this.R;
    let minEnd = Number.POSITIVE_INFINITY;
    for (const t of this.types.values()) {
      for (const m of t.byStart) {
        for (const [start, w] of m) {
          if (w.end < cut && w.end + this.L <= watermark) {
            m.delete(start);
            if (w.dirtySeq !== 0) {
              this.dirty.delete(w);
              w.dirtySeq = 0;
            }
            this.deleted.set(w.id, ++this.seq);
          } else if (w.end < minEnd) minEnd = w.end;
        }
      }
    }
    this.minEnd = minEnd;
  }

  /** Adds the changed windows' snapshots to `dirty` and returns the ids of the expired ones. */
  checkpoint(dirty: Map<string, string>): string[] {
    this.cpSeq = this.seq;
    for (const w of this.dirty) dirty.set(w.id, JSON.stringify(encodeWindow(w)));
    return [...this.deleted.keys()];
  }

  /** The last `checkpoint()` was committed. */
  markCommitted(): void {
    const upTo = this.cpSeq;
    if (upTo < 0) return;
    for (const w of this.dirty) {
      if (w.dirtySeq <= upTo) {
        w.dirtySeq = 0;
        this.dirty.delete(w);
      }
    }
    for (const [id, s] of this.deleted) if (s <= upTo) this.deleted.delete(id);
    this.cpSeq = -1;
  }

  /**
   * Replaces all state with the rollup windows of a checkpoint (ids for which {@link isRollupId}
   * holds). `configOf` gives the current configuration of an event type (undefined: not
   * registered any more); a window whose type or spec is gone is dropped from the store.
   */
  restore(entries: Iterable<[string, string]>, configOf: (eventType: string) => RollupTypeConfig | undefined): void {
    this.types.clear();
    this.dirty.clear();
    this.deleted.clear();
    this.cpSeq = -1;
    this.minEnd = Number.POSITIVE_INFINITY;
    for (const [id, data] of entries) {
      const s = decodeStored(id, data);
      const config = configOf(s.t);
      const t = config && this.typeOf(config);
      const i = t ? t.specIndex(s.w) : -1;
      if (!t || i < 0) {
        this.deleted.set(id, ++this.seq);
        continue;
      }
      const w = this.windowAt(t, i, s.s, s.e);
      [w.count, w.valueCount, w.sum] = s.a;
      w.min = s.a[3] ?? Number.POSITIVE_INFINITY;
      w.max = s.a[4] ?? Number.NEGATIVE_INFINITY;
      for (const [key, count, valueCount, sum, min, max] of s.k) {
        const k = new KeyTally();
        k.count = count;
        k.valueCount = valueCount;
        k.sum = sum;
        k.min = min ?? Number.POSITIVE_INFINITY;
        k.max = max ?? Number.NEGATIVE_INFINITY;
        w.keys.set(key, k);
      }
      for (const u of s.u) w.users.add(u);
    }
  }

  /** This partition's part of a rollup query: one partial per held window of the spec, oldest first. */
  partials(q: RollupQuery, watermark: number | null): RollupPartial[] {
    const t = this.types.get(q.eventType);
    const i = t ? t.specIndex(q.window) : -1;
    if (!t || i < 0) return [];
    const out: RollupPartial[] = [];
    const top = Math.max(0, Math.floor(q.top ?? 10));
    const by = q.by ?? 'count';
    for (const w of t.byStart[i]!.values()) {
      if (q.from != null && w.start < q.from) continue;
      if (q.to != null && w.start >= q.to) continue;
      const has = w.valueCount > 0;
      out.push({
        eventType: t.eventType,
        window: w.spec.name,
        windowStart: w.start,
        windowEnd: w.end,
        count: w.count,
        valueCount: w.valueCount,
        sum: has ? w.sum : null,
        min: has ? w.min : null,
        max: has ? w.max : null,
        distinctKeys: w.keys.size,
        users: [...w.users],
        top: topKeys(w.keys, top, by),
        final: watermark !== null && w.end + this.L <= watermark,
      });
    }
    out.sort((a, b) => a.windowStart - b.windowStart);
    return out;
  }
}

function tallyOf(key: string, k: KeyTally): RollupTally {
  const has = k.valueCount > 0;
  return {
    key,
    count: k.count,
    valueCount: k.valueCount,
    sum: has ? k.sum : null,
    avg: has ? k.sum / k.valueCount : null,
    min: has ? k.min : null,
    max: has ? k.max : null,
  };
}

/** The measure a top-N list is ordered by (descending); null: the key has no value and is not ranked. */
export function rankOf(t: RollupTally, by: RollupOrder): number | null {
  return by === 'count' ? t.count : by === 'sum' ? t.sum : by === 'avg' ? t.avg : by === 'max' ? t.max : t.min;
}

/** Orders tallies: higher measure first (lower for `min`), then key ascending. */
export function compareTallies(by: RollupOrder): (a: RollupTally, b: RollupTally) => number {
  const sign = by === 'min' ? -1 : 1;
  return (a, b) => sign * (rankOf(b, by)! - rankOf(a, by)!) || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0);
}

function topKeys(keys: Map<string, KeyTally>, n: number, by: RollupOrder): RollupTally[] {
  if (n === 0) return [];
  const all: RollupTally[] = [];
  for (const [key, k] of keys) if (by === 'count' || k.valueCount > 0) all.push(tallyOf(key, k));
  all.sort(compareTallies(by));
  if (all.length > n) all.length = n;
  return all;
}

function encodeWindow(w: RollupWindow): StoredWindow {
  const has = w.valueCount > 0;
  const k: StoredWindow['k'] = [];
  for (const [key, t] of w.keys) {
    const th = t.valueCount > 0;
    k.push([key, t.count, t.valueCount, t.sum, th ? t.min : null, th ? t.max : null]);
  }
  const [, t] = splitId(w.id);
  return { v: 1, t, w: w.spec.name, s: w.start, e: w.end, a: [w.count, w.valueCount, w.sum, has ? w.min : null, has ? w.max : null], k, u: [...w.users] };
}

function splitId(id: string): [string, string] {
  const rest = id.slice(ROLLUP_ID_PREFIX.length);
  const i = rest.indexOf(SEP);
  return [id, rest.slice(0, i)];
}

function decodeStored(id: string, data: string): StoredWindow {
  let s: StoredWindow;
  try {
    s = JSON.parse(data) as StoredWindow;
  } catch (cause) {
    throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `rollup snapshot ${JSON.stringify(id)} is not JSON; the partition cannot be restored`, { cause });
  }
  if (s?.v !== 1 || typeof s.t !== 'string' || typeof s.w !== 'string' || !Array.isArray(s.a) || !Array.isArray(s.k) || !Array.isArray(s.u)) {
    throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `rollup snapshot ${JSON.stringify(id)} has an unknown shape; the partition cannot be restored`);
  }
  return s;
}
