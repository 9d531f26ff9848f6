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
 * Checkpoints: a window is stored under reserved actor ids ({@link ROLLUP_ID_PREFIX}) in the
 * partition's checkpoint write, so it is committed atomically with the partition offset and the
 * key actors: a crash and replay from that offset never loses or doubles a contribution. Expired
 * windows are deleted in the same commit. A window holds a tally per key of the partition, so
 * rewriting every changed window at every commit cost what the windows hold, not what changed
 * (30–50 ms on the event loop per 1 s checkpoint with 10k keys). A window is therefore stored as
 * a base (its id: every tally and user, and the aggregates) plus delta segments (`<id>\u001f<n>`,
 * n = 1, 2, …: the aggregates, the tallies of the keys that changed and the users that appeared
 * since the previous commit). Restore applies the base, then the deltas in order (a later tally
 * replaces an earlier one; the last delta's aggregates are the window's). Once the deltas would
 * hold as many rows as the window itself, the commit rewrites the base and deletes the deltas:
 * the stored rows stay below twice the window, and a commit encodes amortised O(changed rows).
 * Finding the changed rows still scans the window's per-slot change marks (typed arrays, no
 * encoding), O(window) per changed window and commit.
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

/** FNV-1a over UTF-16 code units: one hash per key (and user) per event, reused by every window. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h | 0;
}

const INITIAL_CAPACITY = 8;

/**
 * A window's per-key tallies and users in open-addressing tables (linear probing, power-of-two
 * capacity, at most half full): columns of doubles by slot instead of an object per key, so
 * adding an event to a key already in the window allocates nothing, and a new key or user only
 * when the table doubles.
 */
class RollupWindow {
  count = 0;
  valueCount = 0;
  sum = 0;
  min = Number.POSITIVE_INFINITY;
  max = Number.NEGATIVE_INFINITY;
  /** keys held */
  nKeys = 0;
  kHash = new Int32Array(INITIAL_CAPACITY);
  kStr: (string | undefined)[] = new Array<string | undefined>(INITIAL_CAPACITY).fill(undefined);
  kCount = new Float64Array(INITIAL_CAPACITY);
  kVCount = new Float64Array(INITIAL_CAPACITY);
  kSum = new Float64Array(INITIAL_CAPACITY);
  kMin = new Float64Array(INITIAL_CAPACITY);
  kMax = new Float64Array(INITIAL_CAPACITY);
  /** users held */
  nUsers = 0;
  uHash = new Int32Array(INITIAL_CAPACITY);
  uStr: (string | undefined)[] = new Array<string | undefined>(INITIAL_CAPACITY).fill(undefined);
  /** 0 when committed; else the change sequence number of its last change. */
  dirtySeq = 0;
  /** Per key slot: 0 when its tally is committed, else the change sequence number of its last change. */
  kSeq = new Float64Array(INITIAL_CAPACITY);
  /** Per user slot: 0 when committed, else the change sequence number at which the user appeared. */
  uSeq = new Float64Array(INITIAL_CAPACITY);
  /** Segments in the store: 0 nothing yet, 1 the base only, n the base and deltas 1…n−1. */
  segs = 0;
  /** Rows (tallies + users) held by the stored deltas. */
  deltaRows = 0;
  /** What `segs` / `deltaRows` become when the checkpoint in flight commits (the window is in it). */
  cpSegs = 0;
  cpRows = 0;
  constructor(
    readonly id: string,
    readonly spec: WindowSpec,
    readonly start: number,
    readonly end: number,
  ) {}

  /** The slot of `key` (hash `h`), inserted with zero tallies when absent. */
  keySlot(key: string, h: number): number {
    let mask = this.kStr.length - 1;
    let i = h & mask;
    for (;;) {
      const k = this.kStr[i];
      if (k === undefined) break;
      if (this.kHash[i] === h && k === key) return i;
      i = (i + 1) & mask;
    }
    if (2 * (this.nKeys + 1) > this.kStr.length) {
      this.growKeys();
      mask = this.kStr.length - 1;
      i = h & mask;
      while (this.kStr[i] !== undefined) i = (i + 1) & mask;
    }
    this.nKeys++;
    this.kStr[i] = key;
    this.kHash[i] = h;
    this.kCount[i] = 0;
    this.kVCount[i] = 0;
    this.kSum[i] = 0;
    this.kMin[i] = Number.POSITIVE_INFINITY;
    this.kMax[i] = Number.NEGATIVE_INFINITY;
    this.kSeq[i] = 0;
    return i;
  }

  private growKeys(): void {
    const { kHash, kStr, kCount, kVCount, kSum, kMin, kMax, kSeq } = this;
    const cap = kStr.length * 2;
    const mask = cap - 1;
    this.kHash = new Int32Array(cap);
    this.kStr = new Array<string | undefined>(cap).fill(undefined);
    this.kCount = new Float64Array(cap);
    this.kVCount = new Float64Array(cap);
    this.kSum = new Float64Array(cap);
    this.kMin = new Float64Array(cap);
    this.kMax = new Float64Array(cap);
    this.kSeq = new Float64Array(cap);
    for (let j = 0; j < kStr.length; j++) {
      const k = kStr[j];
      if (k === undefined) continue;
      let i = kHash[j]! & mask;
      while (this.kStr[i] !== undefined) i = (i + 1) & mask;
      this.kStr[i] = k;
      this.kHash[i] = kHash[j]!;
      this.kCount[i] = kCount[j]!;
      this.kVCount[i] = kVCount[j]!;
      this.kSum[i] = kSum[j]!;
      this.kMin[i] = kMin[j]!;
      this.kMax[i] = kMax[j]!;
      this.kSeq[i] = kSeq[j]!;
    }
  }

  /** Adds a user (when absent), marked with change sequence number `seq` (0: already committed). */
  addUser(user: string, h: number, seq: number): void {
    let mask = this.uStr.length - 1;
    let i = h & mask;
    for (;;) {
      const u = this.uStr[i];
      if (u === undefined) break;
      if (this.uHash[i] === h && u === user) return;
      i = (i + 1) & mask;
    }
    if (2 * (this.nUsers + 1) > this.uStr.length) {
      const { uHash, uStr, uSeq } = this;
      const cap = uStr.length * 2;
      mask = cap - 1;
      this.uHash = new Int32Array(cap);
      this.uStr = new Array<string | undefined>(cap).fill(undefined);
      this.uSeq = new Float64Array(cap);
      for (let j = 0; j < uStr.length; j++) {
        const u = uStr[j];
        if (u === undefined) continue;
        let k = uHash[j]! & mask;
        while (this.uStr[k] !== undefined) k = (k + 1) & mask;
        this.uStr[k] = u;
        this.uHash[k] = uHash[j]!;
        this.uSeq[k] = uSeq[j]!;
      }
      i = h & mask;
      while (this.uStr[i] !== undefined) i = (i + 1) & mask;
    }
    this.nUsers++;
    this.uStr[i] = user;
    this.uHash[i] = h;
    this.uSeq[i] = seq;
  }

  /** Rows (tallies + users) changed since the last commit. */
  changedRows(): number {
    let n = 0;
    for (let i = 0; i < this.kSeq.length; i++) if (this.kSeq[i] !== 0) n++;
    for (let i = 0; i < this.uSeq.length; i++) if (this.uSeq[i] !== 0) n++;
    return n;
  }

  /** Marks every change up to sequence number `upTo` committed. */
  committedUpTo(upTo: number): void {
    const { kSeq, uSeq } = this;
    for (let i = 0; i < kSeq.length; i++) if (kSeq[i] !== 0 && kSeq[i]! <= upTo) kSeq[i] = 0;
    for (let i = 0; i < uSeq.length; i++) if (uSeq[i] !== 0 && uSeq[i]! <= upTo) uSeq[i] = 0;
  }

  users(): string[] {
    const out: string[] = [];
    for (const u of this.uStr) if (u !== undefined) out.push(u);
    return out;
  }
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

/** A delta segment: the window's aggregates at the commit, the tallies that changed, the users that appeared. */
interface StoredDelta {
  v: 1;
  a: StoredWindow['a'];
  k: StoredWindow['k'];
  u: string[];
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
  /** The windows written by the checkpoint in flight (`cpSegs`/`cpRows` set). */
  private inFlight: RollupWindow[] = [];
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

  /** Marks the window changed; returns the change's sequence number. */
  private touch(w: RollupWindow): number {
    if (w.dirtySeq === 0) this.dirty.add(w);
    w.dirtySeq = ++this.seq;
    return w.dirtySeq;
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

  private add(t: RollupType, i: number, start: number, end: number, wm: number, key: string, kh: number, value: number | undefined, userId: string | null, uh: number): void {
    if (end + this.L <= wm && (!this.update || end < wm - this.R)) return; // late for this window
    const w = this.windowAt(t, i, start, end);
    const seq = this.touch(w);
    w.count++;
    const k = w.keySlot(key, kh);
    w.kCount[k]!++;
    w.kSeq[k] = seq;
    if (value !== undefined) {
      w.valueCount++;
      w.sum += value;
      if (value < w.min) w.min = value;
      if (value > w.max) w.max = value;
      w.kVCount[k]!++;
      w.kSum[k] = w.kSum[k]! + value;
      if (value < w.kMin[k]!) w.kMin[k] = value;
      if (value > w.kMax[k]!) w.kMax[k] = value;
    }
    if (userId !== null) w.addUser(userId, uh, seq);
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
    const kh = hashString(key);
    const uh = userId === null ? 0 : hashString(userId);
    for (let i = 0; i < specs.length; i++) {
      const s = specs[i]!;
      const size = s.size;
      if (s.kind === 'tumbling') {
        const start = Math.floor(ts / size) * size;
        this.add(t, i, start, start + size, wm, key, kh, value, userId, uh);
      } else {
        const slide = s.slide;
        let k = Math.floor((ts - size) / slide) + 1;
        for (let start = k * slide; start <= ts; start = ++k * slide) this.add(t, i, start, start + size, wm, key, kh, value, userId, uh);
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
            const s = ++this.seq;
            this.deleted.set(w.id, s);
            // its deltas too, including one the checkpoint in flight may be writing
            const segs = Math.max(w.segs, this.inFlight.includes(w) ? w.cpSegs : 0);
            for (let n = 1; n < segs; n++) this.deleted.set(segmentId(w.id, n), s);
          } else if (w.end < minEnd) minEnd = w.end;
        }
      }
    }
    this.minEnd = minEnd;
  }

  /**
   * Adds what changed in the windows since the last commit to `dirty` (a delta segment per
   * changed window, or its base when it is new or its deltas would outgrow it) and returns the
   * ids to delete: expired windows and the deltas a rewritten base replaces.
   */
  checkpoint(dirty: Map<string, string>): string[] {
    this.cpSeq = this.seq;
    const gone = [...this.deleted.keys()];
    this.inFlight = [];
    for (const w of this.dirty) {
      this.inFlight.push(w);
      const changed = w.changedRows();
      if (w.segs === 0 || w.deltaRows + changed >= w.nKeys + w.nUsers) {
        dirty.set(w.id, JSON.stringify(encodeWindow(w)));
        for (let n = 1; n < w.segs; n++) gone.push(segmentId(w.id, n));
        w.cpSegs = 1;
        w.cpRows = 0;
      } else {
        dirty.set(segmentId(w.id, w.segs), JSON.stringify(encodeDelta(w)));
        w.cpSegs = w.segs + 1;
        w.cpRows = w.deltaRows + changed;
      }
    }
    return gone;
  }

  /** The last `checkpoint()` was committed. */
  markCommitted(): void {
    const upTo = this.cpSeq;
    if (upTo < 0) return;
    for (const w of this.inFlight) {
      w.segs = w.cpSegs;
      w.deltaRows = w.cpRows;
      w.committedUpTo(upTo);
    }
    this.inFlight = [];
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
    this.inFlight = [];
    this.cpSeq = -1;
    this.minEnd = Number.POSITIVE_INFINITY;
    /** Delta segments by their base's id: [n, id, data]. */
    const deltas = new Map<string, [number, string, string][]>();
    const bases: [string, string][] = [];
    for (const [id, data] of entries) {
      const n = segmentOf(id);
      if (n === 0) bases.push([id, data]);
      else {
        const baseId = id.slice(0, id.lastIndexOf(SEP));
        let list = deltas.get(baseId);
        if (!list) deltas.set(baseId, (list = []));
        list.push([n, id, data]);
      }
    }
    for (const [id, data] of bases) {
      const s = decodeStored(id, data);
      const config = configOf(s.t);
      const t = config && this.typeOf(config);
      const i = t ? t.specIndex(s.w) : -1;
      const ds = deltas.get(id);
      deltas.delete(id);
      if (!t || i < 0) {
        this.deleted.set(id, ++this.seq);
        for (const [, did] of ds ?? []) this.deleted.set(did, ++this.seq);
        continue;
      }
      const w = this.windowAt(t, i, s.s, s.e);
      applyStored(w, s);
      w.segs = 1;
      w.deltaRows = 0;
      if (ds) {
        ds.sort((a, b) => a[0] - b[0]);
        for (const [n, did, ddata] of ds) {
          if (n !== w.segs) throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `rollup window ${JSON.stringify(id)} misses delta ${w.segs} (found ${n}); the partition cannot be restored`);
          const d = decodeDelta(did, ddata);
          applyStored(w, d);
          w.segs = n + 1;
          w.deltaRows += d.k.length + d.u.length;
        }
      }
    }
    for (const [id] of deltas) {
      throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `rollup window ${JSON.stringify(id)} has delta segments but no base; the partition cannot be restored`);
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
        distinctKeys: w.nKeys,
        users: w.users(),
        top: topKeys(w, top, by),
        final: watermark !== null && w.end + this.L <= watermark,
      });
    }
    out.sort((a, b) => a.windowStart - b.windowStart);
    return out;
  }
}

function tallyOf(w: RollupWindow, i: number): RollupTally {
  const vc = w.kVCount[i]!;
  const has = vc > 0;
  return {
    key: w.kStr[i]!,
    count: w.kCount[i]!,
    valueCount: vc,
    sum: has ? w.kSum[i]! : null,
    avg: has ? w.kSum[i]! / vc : null,
    min: has ? w.kMin[i]! : null,
    max: has ? w.kMax[i]! : null,
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

function topKeys(w: RollupWindow, n: number, by: RollupOrder): RollupTally[] {
  if (n === 0) return [];
  const all: RollupTally[] = [];
  for (let i = 0; i < w.kStr.length; i++) if (w.kStr[i] !== undefined && (by === 'count' || w.kVCount[i]! > 0)) all.push(tallyOf(w, i));
  all.sort(compareTallies(by));
  if (all.length > n) all.length = n;
  return all;
}

function encodeWindow(w: RollupWindow): StoredWindow {
  const has = w.valueCount > 0;
  const k: StoredWindow['k'] = [];
  for (let i = 0; i < w.kStr.length; i++) {
    const key = w.kStr[i];
    if (key === undefined) continue;
    const th = w.kVCount[i]! > 0;
    k.push([key, w.kCount[i]!, w.kVCount[i]!, w.kSum[i]!, th ? w.kMin[i]! : null, th ? w.kMax[i]! : null]);
  }
  const [, t] = splitId(w.id);
  return { v: 1, t, w: w.spec.name, s: w.start, e: w.end, a: [w.count, w.valueCount, w.sum, has ? w.min : null, has ? w.max : null], k, u: w.users() };
}

/** A window's changes since its last commit: the aggregates, the changed tallies, the new users. */
function encodeDelta(w: RollupWindow): StoredDelta {
  const has = w.valueCount > 0;
  const k: StoredWindow['k'] = [];
  for (let i = 0; i < w.kStr.length; i++) {
    if (w.kSeq[i] === 0) continue;
    const th = w.kVCount[i]! > 0;
    k.push([w.kStr[i]!, w.kCount[i]!, w.kVCount[i]!, w.kSum[i]!, th ? w.kMin[i]! : null, th ? w.kMax[i]! : null]);
  }
  const u: string[] = [];
  for (let i = 0; i < w.uStr.length; i++) if (w.uSeq[i] !== 0) u.push(w.uStr[i]!);
  return { v: 1, a: [w.count, w.valueCount, w.sum, has ? w.min : null, has ? w.max : null], k, u };
}

/** Sets the aggregates, replaces (or adds) the tallies and adds the users of a stored base or delta. */
function applyStored(w: RollupWindow, s: StoredDelta): void {
  [w.count, w.valueCount, w.sum] = s.a;
  w.min = s.a[3] ?? Number.POSITIVE_INFINITY;
  w.max = s.a[4] ?? Number.NEGATIVE_INFINITY;
  for (const [key, count, valueCount, sum, min, max] of s.k) {
    const k = w.keySlot(key, hashString(key));
    w.kCount[k] = count;
    w.kVCount[k] = valueCount;
    w.kSum[k] = sum;
    w.kMin[k] = min ?? Number.POSITIVE_INFINITY;
    w.kMax[k] = max ?? Number.NEGATIVE_INFINITY;
  }
  for (const u of s.u) w.addUser(u, hashString(u), 0);
}

/** The id of a window's delta segment `n` (≥ 1); the base is stored under the window's id. */
function segmentId(id: string, n: number): string {
  return `${id}${SEP}${n}`;
}

/** 0 for a window's base id, else the delta segment number of the id. */
function segmentOf(id: string): number {
  // base: prefix type SEP spec SEP start; delta: … SEP n
  let seps = 0;
  for (let i = ROLLUP_ID_PREFIX.length; i < id.length; i++) if (id.charCodeAt(i) === 0x1f) seps++;
  if (seps < 3) return 0;
  const n = Number(id.slice(id.lastIndexOf(SEP) + 1));
  if (!Number.isSafeInteger(n) || n < 1) throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `rollup id ${JSON.stringify(id)} has an unknown shape; the partition cannot be restored`);
  return n;
}

function decodeDelta(id: string, data: string): StoredDelta {
  return parseStored<StoredDelta>('delta', id, data, (s) => s.v === 1 && Array.isArray(s.a) && Array.isArray(s.k) && Array.isArray(s.u));
}

/** A stored base or delta, parsed and checked by `valid`; CORRUPT_RECORD naming it otherwise. */
function parseStored<T>(what: string, id: string, data: string, valid: (s: T) => boolean): T {
  let s: T;
  try {
    s = JSON.parse(data) as T;
  } catch (cause) {
    throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `rollup ${what} ${JSON.stringify(id)} is not JSON; the partition cannot be restored`, { cause });
  }
  if (s === null || typeof s !== 'object' || !valid(s)) {
    throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `rollup ${what} ${JSON.stringify(id)} has an unknown shape; the partition cannot be restored`);
  }
  return s;
}

function splitId(id: string): [string, string] {
  const rest = id.slice(ROLLUP_ID_PREFIX.length);
  const i = rest.indexOf(SEP);
  return [id, rest.slice(0, i)];
}

function decodeStored(id: string, data: string): StoredWindow {
  return parseStored<StoredWindow>(
    'snapshot',
    id,
    data,
    (s) => s.v === 1 && typeof s.t === 'string' && typeof s.w === 'string' && Array.isArray(s.a) && Array.isArray(s.k) && Array.isArray(s.u),
  );
}
