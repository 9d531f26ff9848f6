/**
 * The KeyActor's persisted forms: the actor snapshot (its hot state, written to the checkpoint
 * store when dirty) and a stored final (one window result, written once to the results store in
 * the checkpoint commit that made it final).
 *
 * Snapshot v2: `{ v: 2, t, k, n, l, u, s, w }` — event type, key, events processed, last event
 * time, `finalUntil` (null for −∞), session tails by spec name, and the windows by spec name as
 * rows. v1 (every retained final inside the snapshot) is still read: those finals stay in the hot
 * state until their retention ends.
 */
import { ErrorCode, KeyflowError, type WindowResult } from '../../model/index.ts';
import type { WindowSpec } from '../windows/spec.ts';
import { type KeyActorState, newKeyState, newWindow } from './window-state.ts';

type Row = [number, number, number, number, number, number | null, number | null, number, string[] | null, 0 | 1, number, 0 | 1];

interface SnapshotV2 {
  v: 1 | 2;
  t: string;
  k: string;
  n: number;
  l: number | null;
  u?: number | null;
  s?: Record<string, [number, number]>;
  w: Record<string, Row[]>;
}

export function encodeSnapshot(specs: readonly WindowSpec[], st: KeyActorState): string {
  const w: Record<string, Row[]> = {};
  let s: Record<string, [number, number]> | undefined;
  for (let i = 0; i < specs.length; i++) {
    const name = specs[i]!.name;
    const tailStart = st.sessionTail[2 * i]!;
    if (!Number.isNaN(tailStart)) (s ??= {})[name] = [tailStart, st.sessionTail[2 * i + 1]!];
    const arr = st.windows[i]!;
    if (arr.length === 0) continue;
    w[name] = arr.map((x) => [
      x.start,
      x.end,
      x.count,
      x.valueCount,
      x.sum,
      x.valueCount ? x.min : null,
      x.valueCount ? x.max : null,
      x.distinct,
      x.sealed ? null : x.users !== null ? [...x.users] : x.user1 !== null ? [x.user1] : [],
      x.final ? 1 : 0,
      x.revision,
      x.sealed ? 1 : 0,
    ]);
  }
  const snap: SnapshotV2 = {
    v: 2,
    t: st.eventType,
    k: st.key,
    n: st.eventsProcessed,
    l: st.lastEventTime,
    u: st.finalUntil === Number.NEGATIVE_INFINITY ? null : st.finalUntil,
    w,
  };
  if (s) snap.s = s;
  return JSON.stringify(snap);
}

/** Rebuilds the hot state; `nextTimer` is left at +∞ for the caller to recompute. */
export function decodeSnapshot(specs: readonly WindowSpec[], eventType: string, data: string): KeyActorState {
  let raw: SnapshotV2;
  try {
    raw = JSON.parse(data);
  } catch (cause) {
    throw new KeyflowError(ErrorCode.CORRUPT_RECORD, 'actor snapshot is not JSON; the actor cannot be restored', { cause });
  }
  if (raw === null || typeof raw !== 'object' || (raw.v !== 1 && raw.v !== 2) || typeof raw.k !== 'string' || typeof raw.w !== 'object') {
    throw new KeyflowError(ErrorCode.CORRUPT_RECORD, 'actor snapshot has an unknown format; the actor cannot be restored');
  }
  const st = newKeyState(eventType, raw.k, specs.length);
  st.eventsProcessed = raw.n;
  st.lastEventTime = raw.l;
  st.finalUntil = typeof raw.u === 'number' ? raw.u : Number.NEGATIVE_INFINITY;
  for (let i = 0; i < specs.length; i++) {
    // specs removed from the configuration are dropped; new ones start empty
    const name = specs[i]!.name;
    const tail = raw.s?.[name];
    if (tail) {
      st.sessionTail[2 * i] = tail[0];
      st.sessionTail[2 * i + 1] = tail[1];
    }
    const rows = raw.w[name];
    if (!rows) continue;
    const arr = st.windows[i]!;
    for (const r of rows) {
      const w = newWindow(r[0], r[1]);
      w.count = r[2];
      w.valueCount = r[3];
      w.sum = r[4];
      if (w.valueCount) {
        w.min = r[5] ?? Number.POSITIVE_INFINITY;
        w.max = r[6] ?? Number.NEGATIVE_INFINITY;
      }
      w.distinct = r[7];
      const users = r[8];
      if (users && users.length === 1) w.user1 = users[0]!;
      else if (users && users.length > 1) w.users = new Set(users);
      w.final = r[9] === 1;
      w.revision = r[10];
      w.sealed = r[11] === 1;
      if (!w.final) st.openWindows++;
      arr.push(w);
    }
  }
  return st;
}

/** A final window result as the results store keeps it: one row per (actor, window, start). */
export interface StoredFinal {
  /** `window|windowStart`: the same window written again (a revision under `update`) replaces it. */
  id: string;
  windowEnd: number;
  /** {@link encodeFinal}'s output. */
  data: string;
}

type FinalRow = [string, number, number, number, number, number | null, number | null, number | null, number, number];

/** A number as JSON writes it (non-finite → null). */
function num(x: number | null): string {
  return x !== null && Number.isFinite(x) ? String(x) : 'null';
}

/**
 * The JSON text of a {@link FinalRow}, built by hand: one final per window per key is on the hot
 * path, and this is several times cheaper than `JSON.stringify` of an array. Window names are
 * spec names (`[a-z0-9-]`), so they need no escaping; `decodeFinal` reads it with `JSON.parse`.
 */
export function encodeFinal(r: WindowResult): StoredFinal {
  const data = `["${r.window}",${r.windowStart},${r.windowEnd},${r.count},${r.valueCount},${num(r.sum)},${num(r.min)},${num(r.max)},${r.distinctUsers},${r.revision}]`;
  return { id: `${r.window}|${r.windowStart}`, windowEnd: r.windowEnd, data };
}

export function decodeFinal(eventType: string, key: string, data: string): WindowResult {
  let row: FinalRow;
  try {
    row = JSON.parse(data) as FinalRow;
  } catch (cause) {
    throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `stored final of ${eventType}/${key} is not JSON`, { cause });
  }
  if (!Array.isArray(row) || row.length !== 10 || typeof row[0] !== 'string') {
    throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `stored final of ${eventType}/${key} has an unknown format`);
  }
  const [window, windowStart, windowEnd, count, valueCount, sum, min, max, distinctUsers, revision] = row;
  return {
    eventType,
    key,
    window,
    windowStart,
    windowEnd,
    count,
    valueCount,
    sum,
    avg: valueCount > 0 && sum !== null ? sum / valueCount : null,
    min,
    max,
    distinctUsers,
    final: true,
    revision,
  };
}
