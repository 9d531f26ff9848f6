/**
 * The data of a KeyActor: its windows' working state and the few per-key fields around them.
 * Only windows that can still change live here (open windows, plus retained finals under the
 * `update` late policy); a window that became final under `drop` / `side-output` is emitted once
 * and leaves the hot state (the results store keeps it for queries).
 */

import type { WindowResult } from '../../model/index.ts';

/** One window's working state and result. Mutable: owned by exactly one actor. */
export interface WindowState {
  start: number;
  end: number;
  count: number;
  valueCount: number;
  sum: number;
  min: number;
  max: number;
  /** The first distinct user; a Set is allocated only when a second one appears (most keys are one user). */
  user1: string | null;
  users: Set<string> | null;
  distinct: number;
  /** The working state (user set) was dropped after the window became final. */
  sealed: boolean;
  final: boolean;
  revision: number;
  /** Emission bookkeeping of the host (dedupes a window within one batch); not persisted. */
  mark: number;
  /** Merged into another session window; not to be emitted any more. Not persisted. */
  dead: boolean;
}

export interface KeyActorState {
  readonly eventType: string;
  readonly key: string;
  /** Per spec (same index as the config's specs), sorted by start; windows of one spec never share a start. */
  readonly windows: WindowState[][];
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
   * none; only session specs use it): an event overlapping it is late, as it was while it was held.
   */
  readonly sessionTail: number[];
  /**
   * Derived, not persisted: a lower bound of the earliest watermark at which something changes
   * (a window becomes final, or a final result expires). `+Infinity` when nothing is pending.
   */
  nextTimer: number;
}

export function newWindow(start: number, end: number): WindowState {
  return {
    start,
    end,
    count: 0,
    valueCount: 0,
    sum: 0,
    min: Number.POSITIVE_INFINITY,
    max: Number.NEGATIVE_INFINITY,
    user1: null,
    users: null,
    distinct: 0,
    sealed: false,
    final: false,
    revision: 0,
    mark: 0,
    dead: false,
  };
}

export function newKeyState(eventType: string, key: string, nSpecs: number): KeyActorState {
  const windows: WindowState[][] = [];
  const sessionTail: number[] = [];
  for (let i = 0; i < nSpecs; i++) {
    windows.push([]);
    sessionTail.push(Number.NaN, Number.NaN);
  }
  return {
    eventType,
    key,
    windows,
    eventsProcessed: 0,
    lastEventTime: null,
    openWindows: 0,
    finalUntil: Number.NEGATIVE_INFINITY,
    sessionTail,
    nextTimer: Number.POSITIVE_INFINITY,
  };
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
  constructor(st: KeyActorState, window: string, w: WindowState) {
    const has = w.valueCount > 0;
    this.eventType = st.eventType;
    this.key = st.key;
    this.window = window;
    this.windowStart = w.start;
    this.windowEnd = w.end;
    this.count = w.count;
    this.valueCount = w.valueCount;
    this.sum = has ? w.sum : null;
    this.avg = has ? w.sum / w.valueCount : null;
    this.min = has ? w.min : null;
    this.max = has ? w.max : null;
    this.distinctUsers = w.distinct;
    this.final = w.final;
    this.revision = w.revision;
  }
}

/** The result of window `w` (of the spec named `window`) of an actor, as emitted and queried. */
export function windowResultOf(st: KeyActorState, window: string, w: WindowState): WindowResult {
  return new Result(st, window, w);
}
