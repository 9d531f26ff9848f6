/**
 * The data of a KeyActor: its windows' working state and the few per-key fields around them.
 * Only windows that can still change live here (open windows, plus retained finals under the
 * `update` late policy); a window that became final under `drop` / `side-output` is emitted once
 * and leaves the hot state (the results store keeps it for queries).
 *
 * Layout: the windows of an actor are rows of {@link STRIDE} unboxed doubles in one packed array
 * (`w`), sorted by spec index, then start; their user sets sit at the same row index in `u`. One
 * array of doubles per actor instead of an object per window (plus a boxed number per double
 * field, plus an array per spec) is what keeps a million keys in well under a gigabyte.
 */

import type { WindowResult } from '../../model/index.ts';

/** Doubles per window row. */
export const STRIDE = 12;
// field offsets within a row
export const SPEC = 0;
export const START = 1;
export const END = 2;
export const COUNT = 3;
export const VCOUNT = 4;
export const SUM = 5;
export const MIN = 6;
export const MAX = 7;
export const DISTINCT = 8;
export const REVISION = 9;
export const FLAGS = 10;
/** Emission bookkeeping of the change sink (dedupes a window within one round); not persisted. */
export const MARK = 11;

// FLAGS bits
export const FINAL = 1;
/** The working state (user set) was dropped after the window became final. */
export const SEALED = 2;

/** The distinct users of one window: none, one (most keys are one user), or a set. */
export type Users = string | Set<string> | null;

export interface KeyActorState {
  readonly eventType: string;
  readonly key: string;
  /**
   * Window rows, {@link STRIDE} doubles each, sorted by spec then start; windows of one spec never
   * share a start. Only the first {@link KeyActorState.rows} rows are in use: a closing window
   * does not shorten the array (V8 would trim its backing store and the next window would copy it
   * into a new one — most of what the processor promoted to the old generation); `trimRows` cuts
   * the room off when the actor is checkpointed.
   */
  w: number[];
  /** Users of each window row (same index as the row; null beyond `rows`). */
  u: Users[];
  /** Rows in use. */
  rows: number;
  /** The row arrays may have room beyond their rows (see `trimRows`). */
  slack: boolean;
  eventsProcessed: number;
  /** Latest event time seen for this key (epoch ms), null before the first event. */
  lastEventTime: number | null;
  /** Windows not final yet. */
  openWindows: number;
  /**
   * Latest end of a final window that left the hot state (epoch ms), −∞ when none: the actor is
   * kept (for `keyState`, and as the owner of its stored finals) until that final's retention ends.
   */
  finalUntil: number;
  /**
   * Per spec, `[start, end]` of the newest final session window that left the hot state (NaN when
   * none; only session specs use it; null until the first): an event overlapping it is late, as it
   * was while it was held.
   */
  tails: number[] | null;
  /**
   * Derived, not persisted: a lower bound of the earliest watermark at which something changes
   * (a window becomes final, or a final result expires). `+Infinity` when nothing is pending.
   */
  nextTimer: number;
}

export function newKeyState(eventType: string, key: string): KeyActorState {
  return {
    eventType,
    key,
    w: [],
    u: [],
    rows: 0,
    slack: false,
    eventsProcessed: 0,
    lastEventTime: null,
    openWindows: 0,
    finalUntil: Number.NEGATIVE_INFINITY,
    tails: null,
    nextTimer: Number.POSITIVE_INFINITY,
  };
}

/**
 * Receives each window an actor changed (created, updated, finalised), by row index. Implemented
 * by the host's emit buffer and by `transition`.
 */
export interface WindowChangeSink {
  /** The window in `row` changed; it is still held after the call. */
  changed(state: KeyActorState, specIndex: number, row: number): void;
  /** The window in `row` became final and leaves the hot state right after the call. */
  evicted(state: KeyActorState, specIndex: number, row: number): void;
  /** The held final in `row` passed its retention and leaves the hot state right after the call. */
  expired(state: KeyActorState, specIndex: number, row: number): void;
  /** The window in `row` is about to get a new start (a session extended backwards). */
  moved(state: KeyActorState, row: number): void;
}

/** Number of window rows held. */
export function windowCount(st: KeyActorState): number {
  return st.rows;
}

/** Inserts an empty window row at row index `r`. */
export function insertRow(st: KeyActorState, r: number, spec: number, start: number, end: number): void {
  const w = st.w;
  const u = st.u;
  const rows = st.rows;
  const len = rows * STRIDE;
  const b = r * STRIDE;
  if (len + STRIDE > w.length) {
    // no room left: grow by one row at the end, in index order (a store past the end would make
    // the array holey for good); V8 grows the backing store by half, so this is amortised
    st.slack = true;
    for (let i = 0; i < STRIDE; i++) w.push(0);
    u.push(null);
  }
  if (r < rows) {
    // shift the rows from r up by one; plain loops, the rows are few
    for (let i = len - 1; i >= b; i--) w[i + STRIDE] = w[i]!;
    for (let k = rows; k > r; k--) u[k] = u[k - 1]!;
  }
  st.rows = rows + 1;
  w[b + SPEC] = spec;
  w[b + START] = start;
  w[b + END] = end;
  w[b + COUNT] = 0;
  w[b + VCOUNT] = 0;
  w[b + SUM] = 0;
  w[b + MIN] = Number.POSITIVE_INFINITY;
  w[b + MAX] = Number.NEGATIVE_INFINITY;
  w[b + DISTINCT] = 0;
  w[b + REVISION] = 0;
  w[b + FLAGS] = 0;
  w[b + MARK] = 0;
  u[r] = null;
}

/** Removes `n` window rows from row index `r` (the arrays keep their length; see {@link KeyActorState.w}). */
export function removeRows(st: KeyActorState, r: number, n: number): void {
  if (n <= 0) return;
  const w = st.w;
  const u = st.u;
  const rows = st.rows;
  const len = rows * STRIDE;
  for (let i = (r + n) * STRIDE; i < len; i++) w[i - n * STRIDE] = w[i]!;
  for (let k = r + n; k < rows; k++) u[k - n] = u[k]!;
  // the freed rows hold no user set: nothing stays reachable from a window that is gone
  for (let k = rows - n; k < rows; k++) u[k] = null;
  st.rows = rows - n;
  st.slack = true;
}

/**
 * Copies the rows to arrays of their exact size when they may have room to spare. An array keeps
 * the capacity of its largest size, so a million idle keys would each hold the room of every
 * window they ever had open at once. Called when the actor is checkpointed (at most once per
 * commit while it changes), not on each eviction: an actor whose windows come and go would copy
 * its rows on every event.
 */
export function trimRows(st: KeyActorState): void {
  if (!st.slack) return;
  st.w = st.w.slice(0, st.rows * STRIDE);
  st.u = st.u.slice(0, st.rows);
  st.slack = false;
}

/** The latest end of a held window, −∞ when none. */
export function heldUntil(st: KeyActorState): number {
  const w = st.w;
  let end = Number.NEGATIVE_INFINITY;
  for (let b = 0; b < st.rows * STRIDE; b += STRIDE) if (w[b + END]! > end) end = w[b + END]!;
  return end;
}

/**
 * A window result. Built by a constructor, not an object literal: V8 tracks an allocation site
 * per literal and, when a run of finals-only batches happens to see many of them survive a
 * scavenge, starts allocating that literal's objects straight in the old generation ("allocation
 * site pretenuring"). Updates, ~9 per event, then cost 2-3x as much (old-space allocation plus a
 * write barrier per field). Constructed objects carry no allocation site. Own enumerable fields
 * only, in the order of the interface, so they serialise and compare like the literal did.
 */
class Result implements WindowResult {
  eventType: string;
  key: string;
  window: string;
  windowStart: number;
  windowEnd: number;
  count: number;
  valueCount: number;
  sum: number | null;
  avg: number | null;
  min: number | null;
  max: number | null;
  distinctUsers: number;
  final: boolean;
  revision: number;
  constructor(st: KeyActorState, window: string, b: number) {
    const w = st.w;
    const vc = w[b + VCOUNT]!;
    const has = vc > 0;
    this.eventType = st.eventType;
    this.key = st.key;
    this.window = window;
    this.windowStart = w[b + START]!;
    this.windowEnd = w[b + END]!;
    this.count = w[b + COUNT]!;
    this.valueCount = vc;
    this.sum = has ? w[b + SUM]! : null;
    this.avg = has ? w[b + SUM]! / vc : null;
    this.min = has ? w[b + MIN]! : null;
    this.max = has ? w[b + MAX]! : null;
    this.distinctUsers = w[b + DISTINCT]!;
    this.final = (w[b + FLAGS]! & FINAL) !== 0;
    this.revision = w[b + REVISION]!;
  }
}

/** The result of the window in row `r` of an actor (of the spec named `window`), as emitted and queried. */
export function windowResultOf(st: KeyActorState, window: string, r: number): WindowResult {
  return new Result(st, window, r * STRIDE);
}
