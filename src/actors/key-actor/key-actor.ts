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

import type { EventEnvelope, LatePolicy, WindowResult } from '../../model/index.ts';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import { ENGINE_DEFAULTS } from '../defaults.ts';
import { ScannedEvent } from '../record-scan.ts';
import type { WindowSpec } from '../windows/spec.ts';
import { EmitBuffer } from './emit-buffer.ts';
import { decodeSnapshot, encodeSnapshot } from './snapshot-codec.ts';
import {
  COUNT,
  DISTINCT,
  END,
  FINAL,
  FLAGS,
  insertRow,
  type KeyActorState,
  MAX,
  MIN,
  newKeyState,
  REVISION,
  removeRows,
  SEALED,
  SPEC,
  START,
  STRIDE,
  SUM,
  trimRows,
  VCOUNT,
  type WindowChangeSink,
  windowResultOf,
} from './window-state.ts';

export type { KeyActorState, WindowChangeSink };

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
  /** The names of `config.specs`, by spec index. */
  readonly specNames: readonly string[];
  initial(key: string): KeyActorState;
  transition(state: KeyActorState, message: KeyActorMessage): TransitionResult;
  toCheckpoint(state: KeyActorState): string;
  fromCheckpoint(data: string): KeyActorState;
  /** In place: applies one event; returns how many windows rejected it as late. Throws only before mutating. */
  applyEvent(state: KeyActorState, event: EventEnvelope, watermark: number | null, sink: WindowChangeSink): number;
  /** In place: finalises windows due at `watermark` and drops expired finals; recomputes `nextTimer`. */
  advance(state: KeyActorState, watermark: number | null, sink: WindowChangeSink): void;
  /** The result of the window in `row`, as emitted and queried. */
  toResult(state: KeyActorState, row: number): WindowResult;
  /** Every retained window result of the actor (all specs), oldest windowStart first. */
  results(state: KeyActorState): WindowResult[];
}

/** The marker that makes the reducer throw when `honourPoisonMarker` is on. */
export const POISON_MARKER = '__keyflowPoison';


/** A sink that takes nothing. */
export const NO_SINK: WindowChangeSink = { changed() {}, evicted() {}, expired() {}, moved() {} };

const S = STRIDE;

function addUser(st: KeyActorState, r: number, u: string): void {
  const w = st.w;
  const b = r * S;
  if ((w[b + FLAGS]! & SEALED) !== 0) return;
  const cur = st.u[r];
  if (cur === null || cur === undefined) {
    st.u[r] = u;
    w[b + DISTINCT] = 1;
  } else if (typeof cur === 'string') {
    if (cur !== u) {
      st.u[r] = new Set([cur, u]);
      w[b + DISTINCT] = 2;
    }
  } else if (!cur.has(u)) {
    cur.add(u);
    w[b + DISTINCT] = cur.size;
  }
}

function addTo(st: KeyActorState, r: number, value: number | undefined, userId: string | null): void {
  const w = st.w;
  const b = r * S;
  w[b + COUNT]!++;
  if (value !== undefined) {
    w[b + VCOUNT]!++;
    w[b + SUM] = w[b + SUM]! + value;
    if (value < w[b + MIN]!) w[b + MIN] = value;
    if (value > w[b + MAX]!) w[b + MAX] = value;
  }
  if (userId !== null) addUser(st, r, userId);
}

/** Folds row `src` into row `dst` (session merge). */
function absorb(st: KeyActorState, dst: number, src: number): void {
  const w = st.w;
  const d = dst * S;
  const s = src * S;
  w[d + COUNT] = w[d + COUNT]! + w[s + COUNT]!;
  w[d + VCOUNT] = w[d + VCOUNT]! + w[s + VCOUNT]!;
  w[d + SUM] = w[d + SUM]! + w[s + SUM]!;
  if (w[s + MIN]! < w[d + MIN]!) w[d + MIN] = w[s + MIN]!;
  if (w[s + MAX]! > w[d + MAX]!) w[d + MAX] = w[s + MAX]!;
  if (((w[s + FLAGS]! | w[d + FLAGS]!) & SEALED) !== 0) {
    // A sealed window lost its user set: the union can only be bounded; keep the larger count.
    // Happens only when a checkpoint written under another late policy is reopened under `update`.
    w[d + DISTINCT] = Math.max(w[d + DISTINCT]!, w[s + DISTINCT]!);
    w[d + FLAGS] = w[d + FLAGS]! | SEALED;
    st.u[dst] = null;
    return;
  }
  const users = st.u[src];
  if (typeof users === 'string') addUser(st, dst, users);
  else if (users) for (const u of users) addUser(st, dst, u);
}

function seal(st: KeyActorState, r: number): void {
  st.w[r * S + FLAGS] = st.w[r * S + FLAGS]! | SEALED;
  st.u[r] = null;
}

/** First row at or after `from` whose spec is not `spec` (rows are sorted by spec). */
function specEnd(st: KeyActorState, spec: number, from: number): number {
  const w = st.w;
  const n = st.rows;
  let r = from;
  while (r < n && w[r * S + SPEC] === spec) r++;
  return r;
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
  const specNames = specs.map((s) => s.name);
  const nSpecs = specs.length;
  const L = config.allowedLatenessMs;
  const R = config.resultRetentionMs;
  const update = config.latePolicy === 'update';
  const valueField = config.valueField;
  const kinds = specs.map((s) => (s.kind === 'tumbling' ? 0 : s.kind === 'sliding' ? 1 : 2));
  const sizes = specs.map((s) => s.size);
  const slides = specs.map((s) => s.slide);

  function initial(key: string): KeyActorState {
    return newKeyState(config.eventType, key);
  }

  /** Rows inserted (+1) or removed (−n) by the last `applyFixed` / `applySession`. */
  let delta = 0;

  /**
   * Row of spec i's window starting at `start` within rows [lo, hi) (>= 0), or −(insertion row) − 1.
   * `from`: −1 to search, else a row known to hold no start >= `start` before it, whose window
   * (if any, below `hi`) starts at or after `start` — the successor of the previous window of the
   * same sliding assignment. Starts of one spec are multiples of its slide, so the next start of
   * an assignment is either that window or not present at all.
   */
  function locate(w: number[], lo: number, hi: number, start: number, from: number): number {
    if (from >= 0) return from < hi && w[from * S + START] === start ? from : -from - 1;
    // scans from the newest: events are mostly in order, so the match is at or next to the end
    let r = hi - 1;
    while (r >= lo && w[r * S + START]! > start) r--;
    if (r >= lo && w[r * S + START] === start) return r;
    return -(r + 1) - 1;
  }

  /** Adds the event to spec i's fixed window [start, end) within rows [lo, hi); returns its row, −1 when late. */
  function applyFixed(
    st: KeyActorState,
    i: number,
    start: number,
    end: number,
    wm: number,
    value: number | undefined,
    userId: string | null,
    sink: WindowChangeSink,
    lo: number,
    hi: number,
    from: number,
  ): number {
    delta = 0;
    const late = end + L <= wm;
    if (late && (!update || end < wm - R)) return -1;
    let r = locate(st.w, lo, hi, start, from);
    if (r >= 0) {
      const b = r * S;
      if ((st.w[b + FLAGS]! & FINAL) !== 0) st.w[b + REVISION]!++;
    } else {
      r = -r - 1;
      insertRow(st, r, i, start, end);
      delta = 1;
      if (late) {
        // Created by a late event under `update`: final from birth, first emission is revision 0.
        st.w[r * S + FLAGS] = FINAL;
        const purgeAt = end + R + 1;
        if (purgeAt < st.nextTimer) st.nextTimer = purgeAt;
      } else {
        st.openWindows++;
        if (end + L < st.nextTimer) st.nextTimer = end + L;
      }
    }
    addTo(st, r, value, userId);
    sink.changed(st, i, r);
    return r;
  }

  /** Adds the event at t to spec i's sessions within rows [lo, hi); returns 1 when late. */
  function applySession(
    st: KeyActorState,
    i: number,
    t: number,
    wm: number,
    value: number | undefined,
    userId: string | null,
    sink: WindowChangeSink,
    lo: number,
    hi: number,
  ): number {
    delta = 0;
    const w = st.w;
    const cEnd = t + sizes[i]!;
    // Overlapping the newest session that became final and left the hot state: late, as it was
    // while that session was held (an older one could only be overlapped by a late candidate).
    const tails = st.tails;
    if (!update && tails !== null && tails[2 * i + 1]! > t && tails[2 * i]! < cEnd) return 1;
    // Windows of one spec are disjoint and sorted, so the ones overlapping [t, cEnd) are contiguous.
    let last = hi - 1;
    while (last >= lo && w[last * S + START]! >= cEnd) last--;
    let first = last;
    while (first >= lo && w[first * S + END]! > t) first--;
    first++;
    if (first > last) {
      const late = cEnd + L <= wm;
      if (late && (!update || cEnd < wm - R)) return 1;
      insertRow(st, first, i, t, cEnd);
      delta = 1;
      if (late) {
        st.w[first * S + FLAGS] = FINAL;
        if (cEnd + R + 1 < st.nextTimer) st.nextTimer = cEnd + R + 1;
      } else {
        st.openWindows++;
        if (cEnd + L < st.nextTimer) st.nextTimer = cEnd + L;
      }
      addTo(st, first, value, userId);
      sink.changed(st, i, first);
      return 0;
    }
    let anyFinal = false;
    let maxRevision = 0;
    for (let r = first; r <= last; r++) {
      if ((w[r * S + FLAGS]! & FINAL) !== 0) {
        anyFinal = true;
        if (w[r * S + REVISION]! > maxRevision) maxRevision = w[r * S + REVISION]!;
      }
    }
    // A final session cannot grow under drop / side-output: the event is late for this spec.
    if (anyFinal && !update) return 1;
    const target = first;
    const tb = target * S;
    const wasOpen = (w[tb + FLAGS]! & FINAL) === 0;
    for (let r = first + 1; r <= last; r++) {
      absorb(st, target, r);
      if ((w[r * S + FLAGS]! & FINAL) === 0) st.openWindows--;
    }
    const newEnd = Math.max(w[last * S + END]!, cEnd);
    if (last > first) {
      removeRows(st, first + 1, last - first);
      delta = -(last - first);
    }
    const ww = st.w;
    if (t < ww[tb + START]!) {
      sink.moved(st, target);
      ww[tb + START] = t;
    }
    ww[tb + END] = newEnd;
    addTo(st, target, value, userId);
    if (anyFinal) {
      ww[tb + REVISION] = maxRevision + 1;
      const nowFinal = newEnd + L <= wm;
      if (nowFinal === wasOpen || wasOpen) {
        // reopened (the merged session reaches past the watermark) or closed by the merge
        if (wasOpen) st.openWindows--;
        if (!nowFinal) st.openWindows++;
        ww[tb + FLAGS] = nowFinal ? ww[tb + FLAGS]! | FINAL : ww[tb + FLAGS]! & ~FINAL;
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
    let lo = 0;
    for (let i = 0; i < nSpecs; i++) {
      // rows of spec i are [lo, hi)
      let hi = specEnd(st, i, lo);
      // Finality is monotone in the window end and ends are sorted, so the open windows are a suffix.
      let p = hi;
      while (p > lo && (st.w[(p - 1) * S + FLAGS]! & FINAL) === 0) p--;
      let q = p;
      for (; q < hi; q++) {
        const b = q * S;
        const end = st.w[b + END]!;
        if (end + L > wm) break;
        st.w[b + FLAGS] = st.w[b + FLAGS]! | FINAL;
        st.openWindows--;
        if (end > st.finalUntil) st.finalUntil = end;
        if (update) sink.changed(st, i, q);
        else {
          seal(st, q);
          sink.evicted(st, i, q);
        }
      }
      if (!update && q > p) {
        if (kinds[i] === 2) {
          const tb = (q - 1) * S;
          if (st.tails === null) st.tails = new Array<number>(2 * nSpecs).fill(Number.NaN);
          st.tails[2 * i] = st.w[tb + START]!;
          st.tails[2 * i + 1] = st.w[tb + END]!;
        }
        removeRows(st, p, q - p);
        hi -= q - p;
        q = p;
      }
      if (q < hi) {
        const due = st.w[q * S + END]! + L;
        if (due < next) next = due;
      }
      // finals still held (under `update`, or from a v1 snapshot) expire after the retention
      let e = lo;
      while (e < q && st.w[e * S + END]! < wm - R) {
        sink.expired(st, i, e);
        e++;
      }
      if (e > lo) {
        removeRows(st, lo, e - lo);
        hi -= e - lo;
      }
      if (lo < hi && (st.w[lo * S + FLAGS]! & FINAL) !== 0) {
        const due = st.w[lo * S + END]! + R + 1;
        if (due < next) next = due;
      }
      lo = hi;
    }
    if (next === Number.POSITIVE_INFINITY && st.finalUntil !== Number.NEGATIVE_INFINITY && st.finalUntil + R + 1 > wm) {
      // nothing held any more, but the actor's last final is still retained: keep the actor until then
      next = st.finalUntil + R + 1;
    }
    st.nextTimer = next;
  }

  function applyEvent(st: KeyActorState, ev: EventEnvelope, watermark: number | null, sink: WindowChangeSink): number {
    // --- prepare: everything that may throw happens before the first mutation ---
    if (config.honourPoisonMarker && ev.payload[POISON_MARKER] === true) {
      throw new KeyflowError(ErrorCode.INTERNAL, `event ${ev.eventId} carries the poison marker ${POISON_MARKER}; the reducer rejects it`);
    }
    const t = ev.timestamp;
    if (!Number.isFinite(t)) throw new KeyflowError(ErrorCode.SCHEMA_VALIDATION_FAILED, `event ${ev.eventId} has no valid timestamp`);
    let value: number | undefined;
    if (valueField !== null) {
      if (ev instanceof ScannedEvent && ev.valueField === valueField) value = ev.value;
      else {
        const v = ev.payload[valueField];
        if (typeof v === 'number' && Number.isFinite(v)) value = v;
      }
    }
    const userId = ev.userId;
    const wm = watermark ?? Number.NEGATIVE_INFINITY;
    // --- commit: no throws below ---
    if (st.nextTimer <= wm) advance(st, watermark, sink);
    let late = 0;
    let lo = 0;
    for (let i = 0; i < nSpecs; i++) {
      // rows of spec i are [lo, hi); each step below moves hi by the rows it inserted or removed
      let hi = specEnd(st, i, lo);
      const kind = kinds[i]!;
      if (kind === 0) {
        const size = sizes[i]!;
        const start = Math.floor(t / size) * size;
        if (applyFixed(st, i, start, start + size, wm, value, userId, sink, lo, hi, -1) < 0) late++;
        hi += delta;
      } else if (kind === 1) {
        const size = sizes[i]!;
        const slide = slides[i]!;
        // oldest first keeps inserts at the end of the rows for in-order events; after the first
        // window, each next one is the successor of the previous (or inserted there)
        let k = Math.floor((t - size) / slide) + 1;
        let from = -1;
        for (let start = k * slide; start <= t; start = ++k * slide) {
          const r = applyFixed(st, i, start, start + size, wm, value, userId, sink, lo, hi, from);
          hi += delta;
          if (r < 0) late++;
          from = r < 0 ? -1 : r + 1;
        }
      } else {
        late += applySession(st, i, t, wm, value, userId, sink, lo, hi);
        hi += delta;
      }
      lo = hi;
    }
    st.eventsProcessed++;
    if (st.lastEventTime === null || t > st.lastEventTime) st.lastEventTime = t;
    return late;
  }

  function toResult(st: KeyActorState, row: number): WindowResult {
    return windowResultOf(st, specNames[st.w[row * S + SPEC]!]!, row);
  }

  function results(st: KeyActorState): WindowResult[] {
    const out: WindowResult[] = [];
    const n = st.rows;
    for (let r = 0; r < n; r++) out.push(toResult(st, r));
    out.sort((a, b) => a.windowStart - b.windowStart || a.windowEnd - b.windowEnd || (a.window < b.window ? -1 : a.window > b.window ? 1 : 0));
    return out;
  }

  function cloneState(st: KeyActorState): KeyActorState {
    return {
      ...st,
      w: st.w.slice(0, st.rows * S),
      u: st.u.slice(0, st.rows).map((x) => (x instanceof Set ? new Set(x) : x)),
      slack: false,
      tails: st.tails === null ? null : st.tails.slice(),
    };
  }

  function transition(state: KeyActorState, message: KeyActorMessage): TransitionResult {
    const st = cloneState(state);
    const sink = new EmitBuffer(() => specNames, true);
    sink.open();
    let lateWindows = 0;
    if (message.type === 'event') lateWindows = applyEvent(st, message.event, message.watermark, sink);
    else advance(st, message.watermark, sink);
    return { state: st, results: sink.drain(), lateWindows };
  }

  function toCheckpoint(st: KeyActorState): string {
    trimRows(st);
    return encodeSnapshot(specs, st);
  }

  function fromCheckpoint(data: string): KeyActorState {
    const st = decodeSnapshot(specs, config.eventType, data);
    trimRows(st);
    recomputeTimer(st);
    return st;
  }

  /** Computes `nextTimer` from the windows as they are, without finalising anything (after restore). */
  function recomputeTimer(st: KeyActorState): void {
    let next = Number.POSITIVE_INFINITY;
    const w = st.w;
    for (let b = 0; b < st.rows * S; b += S) {
      const due = (w[b + FLAGS]! & FINAL) !== 0 ? w[b + END]! + R + 1 : w[b + END]! + L;
      if (due < next) next = due;
    }
    if (next === Number.POSITIVE_INFINITY && st.finalUntil !== Number.NEGATIVE_INFINITY) next = st.finalUntil + R + 1;
    st.nextTimer = next;
  }

  return {
    config,
    specNames,
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
