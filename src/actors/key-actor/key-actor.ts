/**
 * The KeyActor: one key's windows of one event type, as a reducer with explicit persist and
 * restore (XState-style `initial` / `transition` / `toCheckpoint` / `fromCheckpoint`).
 *
 * `transition` is pure (it copies the state first) so the window semantics are testable against a
 * reference model without I/O. The PartitionHost uses the mutating twins `applyEvent` / `advance`
 * on its own copy, because copying per record would cost more than the aggregation itself. Both
 * share one implementation, so what the tests prove about `transition` holds for the host.
 *
 * Failure atomicity: every step that can throw (the poison marker) runs before the first
 * mutation; the mutation phase is arithmetic and Set operations only. A record whose processing
 * throws therefore leaves the state as if it never came.
 */
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { EventEnvelope } from '../../model/index.ts';
import type { WindowSpec } from '../windows/spec.ts';
import type { LatePolicy, WindowResult } from '../../model/index.ts';
import { ENGINE_DEFAULTS } from '../defaults.ts';
import { decodeSnapshot, encodeSnapshot } from './snapshot-codec.ts';
import { type KeyActorState, type WindowState, newKeyState, newWindow, windowResultOf } from './window-state.ts';

export type { KeyActorState, WindowState };

export interface KeyActorConfig {
  eventType: string;
  specs: readonly WindowSpec[];
  /** Payload field aggregated as sum/avg/min/max; null for count and distinct users only. */
  valueField: string | null;
  /** Extra event time a window stays open after its end, ms. @default 0 */
  allowedLatenessMs?: number;
  /** What happens to an event whose window is already final. @default 'side-output' */
  latePolicy?: LatePolicy;
  /** How long a final result stays queryable behind the watermark (event time), ms. @default 86400000 */
  resultRetentionMs?: number;
  /**
   * When true, an event whose `payload.__keyflowPoison === true` makes the reducer throw (a test
   * hook for supervision and DLQ tests; a production process never sets it, so no payload field
   * can make it throw — `KEYFLOW_TEST_HOOKS` turns it on). @default false
   */
  honourPoisonMarker?: boolean;
}

/** Receives each window an actor changed (created, updated, finalised). Implemented by the host and by `transition`. */
export interface WindowChangeSink {
  changed(state: KeyActorState, specIndex: number, w: WindowState): void;
}

export type KeyActorMessage =
  /** One event; `watermark` is the partition watermark before the event (decides lateness). */
  | { type: 'event'; event: EventEnvelope; watermark: number | null }
  /** The partition watermark moved: finalise and expire what is due. */
  | { type: 'watermark'; watermark: number | null };

export interface TransitionResult {
  state: KeyActorState;
  /** Every window changed by the message, as it is afterwards (dead session windows excluded). */
  results: WindowResult[];
  /** Windows that rejected the event as late (0 when it was not late anywhere). */
  lateWindows: number;
}

export interface KeyActorLogic {
  readonly config: Required<KeyActorConfig>;
  initial(key: string): KeyActorState;
  transition(state: KeyActorState, message: KeyActorMessage): TransitionResult;
  toCheckpoint(state: KeyActorState): string;
  fromCheckpoint(data: string): KeyActorState;
  /** In place: applies one event; returns how many windows rejected it as late. Throws only before mutating. */
  applyEvent(state: KeyActorState, event: EventEnvelope, watermark: number | null, sink: WindowChangeSink): number;
  /** In place: finalises windows due at `watermark` and drops expired finals; recomputes `nextTimer`. */
  advance(state: KeyActorState, watermark: number | null, sink: WindowChangeSink): void;
  /** The window's result as emitted and queried. */
  toResult(state: KeyActorState, specIndex: number, w: WindowState): WindowResult;
  /** Every retained window result of the actor (all specs), oldest windowStart first. */
  results(state: KeyActorState): WindowResult[];
}

/** The marker that makes the reducer throw when `honourPoisonMarker` is on. */
export const POISON_MARKER = '__keyflowPoison';

const NO_SINK: WindowChangeSink = { changed() {} };

function addUser(w: WindowState, u: string): void {
  if (w.sealed) return;
  if (w.users !== null) {
    if (!w.users.has(u)) {
      w.users.add(u);
      w.distinct++;
    }
  } else if (w.user1 === null) {
    w.user1 = u;
    w.distinct = 1;
  } else if (w.user1 !== u) {
    w.users = new Set([w.user1, u]);
    w.distinct = 2;
  }
}

function addTo(w: WindowState, value: number | undefined, userId: string | null): void {
  w.count++;
  if (value !== undefined) {
    w.valueCount++;
    w.sum += value;
    if (value < w.min) w.min = value;
    if (value > w.max) w.max = value;
  }
  if (userId !== null) addUser(w, userId);
}

/** Folds `src` into `dst` (session merge). */
function absorb(dst: WindowState, src: WindowState): void {
  dst.count += src.count;
  dst.valueCount += src.valueCount;
  dst.sum += src.sum;
  if (src.min < dst.min) dst.min = src.min;
  if (src.max > dst.max) dst.max = src.max;
  if (src.sealed || dst.sealed) {
    // A sealed window lost its user set: the union can only be bounded; keep the larger count.
    // Happens only when a checkpoint written under another late policy is reopened under `update`.
    dst.distinct = Math.max(dst.distinct, src.distinct);
    dst.sealed = true;
    dst.user1 = null;
    dst.users = null;
    return;
  }
  if (src.users !== null) for (const u of src.users) addUser(dst, u);
  else if (src.user1 !== null) addUser(dst, src.user1);
}

function seal(w: WindowState): void {
  w.sealed = true;
  w.user1 = null;
  w.users = null;
}

function cloneWindow(w: WindowState): WindowState {
  return { ...w, users: w.users === null ? null : new Set(w.users) };
}

/** Index of the window of `arr` (sorted by start) with exactly `start`, or −(insertion point) − 1. */
function findStart(arr: WindowState[], start: number): number {
  let i = arr.length - 1;
  // Scans from the newest: events are mostly in order, so the match is at or next to the end.
  while (i >= 0 && arr[i]!.start > start) i--;
  if (i >= 0 && arr[i]!.start === start) return i;
  return -(i + 1) - 1;
}

export function createKeyActorLogic(cfg: KeyActorConfig): KeyActorLogic {
  const config: Required<KeyActorConfig> = {
    eventType: cfg.eventType,
    specs: cfg.specs,
    valueField: cfg.valueField,
    allowedLatenessMs: Math.max(0, Math.floor(cfg.allowedLatenessMs ?? ENGINE_DEFAULTS.allowedLatenessMs)),
    latePolicy: cfg.latePolicy ?? ENGINE_DEFAULTS.latePolicy,
    resultRetentionMs: Math.max(0, Math.floor(cfg.resultRetentionMs ?? ENGINE_DEFAULTS.resultRetentionMs)),
    honourPoisonMarker: cfg.honourPoisonMarker ?? false,
  };
  const specs = config.specs;
  const nSpecs = specs.length;
  const L = config.allowedLatenessMs;
  const R = config.resultRetentionMs;
  const update = config.latePolicy === 'update';
  const valueField = config.valueField;
  const kinds = specs.map((s) => (s.kind === 'tumbling' ? 0 : s.kind === 'sliding' ? 1 : 2));
  const sizes = specs.map((s) => s.size);
  const slides = specs.map((s) => s.slide);

  function initial(key: string): KeyActorState {
    return newKeyState(config.eventType, key, nSpecs);
  }

  /**
   * Index in `arr` of the window starting at `start` (>= 0), or −(insertion point) − 1. `from`:
   * −1 to search, else a position known to hold no start >= `start` before it, whose window (if
   * any) starts at or after `start` unless it is the end — the successor of the previous window
   * of the same sliding assignment. Starts of one spec are multiples of its slide, so the next
   * start of an assignment is either that window or not present at all.
   */
  function locate(arr: WindowState[], start: number, from: number): number {
    if (from < 0) return findStart(arr, start);
    return from < arr.length && arr[from]!.start === start ? from : -from - 1;
  }

  /** Index of the last window touched by `applyFixed` (−1 when the event was late for it). */
  let lastIdx = -1;

  /** Adds the event to the fixed window [start, end) of spec i; returns 1 when rejected as late. */
  function applyFixed(
    st: KeyActorState,
    i: number,
    start: number,
    end: number,
    wm: number,
    value: number | undefined,
    userId: string | null,
    sink: WindowChangeSink,
    from: number,
  ): number {
    const arr = st.windows[i]!;
    const late = end + L <= wm;
    if (late && (!update || end < wm - R)) {
      lastIdx = -1;
      return 1;
    }
    let idx = locate(arr, start, from);
    let w: WindowState;
    if (idx >= 0) {
      w = arr[idx]!;
      if (w.final) w.revision++;
    } else {
      idx = -idx - 1;
      w = newWindow(start, end);
      arr.splice(idx, 0, w);
      if (late) {
        // Created by a late event under `update`: final from birth, first emission is revision 0.
        w.final = true;
        const purgeAt = end + R + 1;
        if (purgeAt < st.nextTimer) st.nextTimer = purgeAt;
      } else {
        st.openWindows++;
        if (end + L < st.nextTimer) st.nextTimer = end + L;
      }
    }
    addTo(w, value, userId);
    sink.changed(st, i, w);
    lastIdx = idx;
    return 0;
  }

  function applySession(
    st: KeyActorState,
    i: number,
    t: number,
    wm: number,
    value: number | undefined,
    userId: string | null,
    sink: WindowChangeSink,
  ): number {
    const arr = st.windows[i]!;
    const cEnd = t + sizes[i]!;
    // Overlapping the newest session that became final and left the hot state: late, as it was
    // while that session was held (an older one could only be overlapped by a late candidate).
    if (!update && st.sessionTail[2 * i + 1]! > t && st.sessionTail[2 * i]! < cEnd) return 1;
    // Windows of one spec are disjoint and sorted, so the ones overlapping [t, cEnd) are contiguous.
    let hi = arr.length - 1;
    while (hi >= 0 && arr[hi]!.start >= cEnd) hi--;
    let lo = hi;
    while (lo >= 0 && arr[lo]!.end > t) lo--;
    lo++;
    if (lo > hi) {
      const late = cEnd + L <= wm;
      if (late && (!update || cEnd < wm - R)) return 1;
      const w = newWindow(t, cEnd);
      arr.splice(lo, 0, w);
      if (late) {
        w.final = true;
        if (cEnd + R + 1 < st.nextTimer) st.nextTimer = cEnd + R + 1;
      } else {
        st.openWindows++;
        if (cEnd + L < st.nextTimer) st.nextTimer = cEnd + L;
      }
      addTo(w, value, userId);
      sink.changed(st, i, w);
      return 0;
    }
    let anyFinal = false;
    let maxRevision = 0;
    for (let j = lo; j <= hi; j++) {
      const w = arr[j]!;
      if (w.final) {
        anyFinal = true;
        if (w.revision > maxRevision) maxRevision = w.revision;
      }
    }
    // A final session cannot grow under drop / side-output: the event is late for this spec.
    if (anyFinal && !update) return 1;
    const target = arr[lo]!;
    const wasOpen = !target.final;
    for (let j = lo + 1; j <= hi; j++) {
      const w = arr[j]!;
      absorb(target, w);
      if (!w.final) st.openWindows--;
      w.dead = true;
    }
    const newEnd = Math.max(arr[hi]!.end, cEnd);
    if (hi > lo) arr.splice(lo + 1, hi - lo);
    if (t < target.start) target.start = t;
    target.end = newEnd;
    addTo(target, value, userId);
    if (anyFinal) {
      target.revision = maxRevision + 1;
      const nowFinal = newEnd + L <= wm;
      if (nowFinal !== target.final || wasOpen) {
        // reopened (the merged session reaches past the watermark) or closed by the merge
        if (wasOpen) st.openWindows--;
        if (!nowFinal) st.openWindows++;
        target.final = nowFinal;
      }
      const due = nowFinal ? newEnd + R + 1 : newEnd + L;
      if (due < st.nextTimer) st.nextTimer = due;
    }
    sink.changed(st, i, target);
    return 0;
  }

  /**
   * Finalises the windows due at `watermark` (emitting each once) and, under `drop` /
   * `side-output`, evicts them from the hot state: nothing can change them any more. Under
   * `update` finals stay (a late event may still revise them) until their retention ends.
   */
  function advance(st: KeyActorState, watermark: number | null, sink: WindowChangeSink): void {
    const wm = watermark ?? Number.NEGATIVE_INFINITY;
    let next = Number.POSITIVE_INFINITY;
    for (let i = 0; i < nSpecs; i++) {
      const arr = st.windows[i]!;
      // Finality is monotone in the window end and ends are sorted, so the open windows are a suffix.
      let p = arr.length;
      while (p > 0 && !arr[p - 1]!.final) p--;
      let q = p;
      for (; q < arr.length; q++) {
        const w = arr[q]!;
        if (w.end + L > wm) break;
        w.final = true;
        st.openWindows--;
        if (!update) seal(w);
        if (w.end > st.finalUntil) st.finalUntil = w.end;
        sink.changed(st, i, w);
      }
      if (!update && q > p) {
        if (kinds[i] === 2) {
          const tail = arr[q - 1]!;
          st.sessionTail[2 * i] = tail.start;
          st.sessionTail[2 * i + 1] = tail.end;
        }
        arr.splice(p, q - p);
        q = p;
      }
      if (q < arr.length) {
        const due = arr[q]!.end + L;
        if (due < next) next = due;
      }
      // finals still held (under `update`, or from a v1 snapshot) expire after the retention
      let e = 0;
      while (e < q && arr[e]!.end < wm - R) e++;
      if (e > 0) arr.splice(0, e);
      if (arr.length > 0 && arr[0]!.final) {
        const due = arr[0]!.end + R + 1;
        if (due < next) next = due;
      }
    }
    if (next === Number.POSITIVE_INFINITY && st.finalUntil !== Number.NEGATIVE_INFINITY && st.finalUntil + R + 1 > wm) {
      // nothing held any more, but the actor's last final is still retained: keep the actor until then
      next = st.finalUntil + R + 1;
    }
    st.nextTimer = next;
  }

  function applyEvent(st: KeyActorState, ev: EventEnvelope, watermark: number | null, sink: WindowChangeSink): number {
    // --- prepare: everything that may throw happens before the first mutation ---
    const payload = ev.payload;
    if (config.honourPoisonMarker && payload[POISON_MARKER] === true) {
      throw new KeyflowError(ErrorCode.INTERNAL, `event ${ev.eventId} carries the poison marker ${POISON_MARKER}; the reducer rejects it`);
    }
    const t = ev.timestamp;
    if (!Number.isFinite(t)) throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `event ${ev.eventId} has no valid timestamp`);
    let value: number | undefined;
    if (valueField !== null) {
      const v = payload[valueField];
      if (typeof v === 'number' && Number.isFinite(v)) value = v;
    }
    const userId = ev.userId;
    const wm = watermark ?? Number.NEGATIVE_INFINITY;
    // --- commit: no throws below ---
    if (st.nextTimer <= wm) advance(st, watermark, sink);
    let late = 0;
    for (let i = 0; i < nSpecs; i++) {
      const kind = kinds[i]!;
      if (kind === 0) {
        const size = sizes[i]!;
        const start = Math.floor(t / size) * size;
        late += applyFixed(st, i, start, start + size, wm, value, userId, sink, -1);
      } else if (kind === 1) {
        const size = sizes[i]!;
        const slide = slides[i]!;
        // oldest first keeps inserts at the end of the sorted array for in-order events; after
        // the first window, each next one is the successor of the previous (or inserted there)
        let k = Math.floor((t - size) / slide) + 1;
        let from = -1;
        for (let start = k * slide; start <= t; start = ++k * slide) {
          late += applyFixed(st, i, start, start + size, wm, value, userId, sink, from);
          from = lastIdx < 0 ? -1 : lastIdx + 1;
        }
      } else {
        late += applySession(st, i, t, wm, value, userId, sink);
      }
    }
    st.eventsProcessed++;
    if (st.lastEventTime === null || t > st.lastEventTime) st.lastEventTime = t;
    return late;
  }

  function toResult(st: KeyActorState, i: number, w: WindowState): WindowResult {
    return windowResultOf(st, specs[i]!.name, w);
  }

  function results(st: KeyActorState): WindowResult[] {
    const out: WindowResult[] = [];
    for (let i = 0; i < nSpecs; i++) for (const w of st.windows[i]!) out.push(toResult(st, i, w));
    out.sort((a, b) => a.windowStart - b.windowStart || a.windowEnd - b.windowEnd || (a.window < b.window ? -1 : a.window > b.window ? 1 : 0));
    return out;
  }

  function cloneState(st: KeyActorState): KeyActorState {
    return { ...st, windows: st.windows.map((arr) => arr.map(cloneWindow)), sessionTail: [...st.sessionTail] };
  }

  function transition(state: KeyActorState, message: KeyActorMessage): TransitionResult {
    const st = cloneState(state);
    const changed = new Map<WindowState, number>();
    const sink: WindowChangeSink = { changed: (_s, i, w) => void changed.set(w, i) };
    let lateWindows = 0;
    if (message.type === 'event') lateWindows = applyEvent(st, message.event, message.watermark, sink);
    else advance(st, message.watermark, sink);
    const out: WindowResult[] = [];
    for (const [w, i] of changed) if (!w.dead) out.push(toResult(st, i, w));
    return { state: st, results: out, lateWindows };
  }

  function toCheckpoint(st: KeyActorState): string {
    return encodeSnapshot(specs, st);
  }

  function fromCheckpoint(data: string): KeyActorState {
    const st = decodeSnapshot(specs, config.eventType, data);
    recomputeTimer(st);
    return st;
  }

  /** Computes `nextTimer` from the windows as they are, without finalising anything (after restore). */
  function recomputeTimer(st: KeyActorState): void {
    let next = Number.POSITIVE_INFINITY;
    for (let i = 0; i < nSpecs; i++) {
      for (const w of st.windows[i]!) {
        const due = w.final ? w.end + R + 1 : w.end + L;
        if (due < next) next = due;
      }
    }
    if (next === Number.POSITIVE_INFINITY && st.finalUntil !== Number.NEGATIVE_INFINITY) next = st.finalUntil + R + 1;
    st.nextTimer = next;
  }

  return {
    config,
    initial,
    transition,
    toCheckpoint,
    fromCheckpoint,
    applyEvent,
    advance: (st, wm, sink = NO_SINK) => advance(st, wm, sink),
    toResult,
    results,
  };
}
