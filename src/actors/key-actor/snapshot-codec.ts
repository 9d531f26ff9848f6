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
import { JsonWriter } from './json-writer.ts';
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
  SEALED,
  SPEC,
  START,
  STRIDE,
  SUM,
  VCOUNT,
} from './window-state.ts';

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

/** A JSON string literal of a user id or key. */
function str(s: string): string {
  return JSON.stringify(s);
}

/**
 * The snapshot's JSON text, built by hand from the window rows (the same text `JSON.stringify` of
 * the {@link SnapshotV2} object gives, property for property; a dirty actor is encoded on every
 * checkpoint, so this is on the hot path). Spec names are `[a-z0-9-]` and need no escaping.
 */
export function encodeSnapshot(specs: readonly WindowSpec[], st: KeyActorState): string {
  return writeSnapshot(specs, st) ?? encodeSnapshotText(specs, st);
}

const out = new JsonWriter();

/** {@link encodeSnapshot} into the shared byte buffer: one string per snapshot; undefined when not ASCII. */
function writeSnapshot(specs: readonly WindowSpec[], st: KeyActorState): string | undefined {
  const w = st.w;
  const o = out;
  o.raw('{"v":2,"t":');
  o.str(st.eventType);
  o.raw(',"k":');
  o.str(st.key);
  o.raw(',"n":');
  o.num(st.eventsProcessed);
  o.raw(',"l":');
  if (st.lastEventTime === null) o.raw('null');
  else o.num(st.lastEventTime);
  o.raw(',"u":');
  if (st.finalUntil === Number.NEGATIVE_INFINITY) o.raw('null');
  else o.num(st.finalUntil);
  o.raw(',"w":{');
  let spec = -1;
  for (let b = 0; b < st.rows * STRIDE; b += STRIDE) {
    const i = w[b + SPEC]!;
    if (i !== spec) {
      if (spec >= 0) o.raw(']],');
      o.ch(34);
      o.raw(specs[i]!.name);
      o.raw('":[[');
      spec = i;
    } else o.raw('],[');
    const has = w[b + VCOUNT]! > 0;
    const flags = w[b + FLAGS]!;
    const sealed = (flags & SEALED) !== 0;
    o.num(w[b + START]!);
    o.ch(44);
    o.num(w[b + END]!);
    o.ch(44);
    o.num(w[b + COUNT]!);
    o.ch(44);
    o.num(w[b + VCOUNT]!);
    o.ch(44);
    o.num(w[b + SUM]!);
    o.ch(44);
    if (has) o.num(w[b + MIN]!);
    else o.raw('null');
    o.ch(44);
    if (has) o.num(w[b + MAX]!);
    else o.raw('null');
    o.ch(44);
    o.num(w[b + DISTINCT]!);
    o.ch(44);
    const users = st.u[b / STRIDE];
    if (sealed) o.raw('null');
    else if (users === null || users === undefined) o.raw('[]');
    else if (typeof users === 'string') {
      o.ch(91);
      o.str(users);
      o.ch(93);
    } else {
      o.ch(91);
      let first = true;
      for (const u of users) {
        if (!first) o.ch(44);
        o.str(u);
        first = false;
      }
      o.ch(93);
    }
    o.raw((flags & FINAL) !== 0 ? ',1,' : ',0,');
    o.num(w[b + REVISION]!);
    o.raw(sealed ? ',1' : ',0');
  }
  if (spec >= 0) o.raw(']]');
  o.ch(125);
  const tails = st.tails;
  if (tails !== null) {
    let any = false;
    for (let i = 0; i < specs.length; i++) {
      if (Number.isNaN(tails[2 * i]!)) continue;
      o.raw(any ? ',"' : ',"s":{"');
      o.raw(specs[i]!.name);
      o.raw('":[');
      o.num(tails[2 * i]!);
      o.ch(44);
      o.num(tails[2 * i + 1]!);
      o.ch(93);
      any = true;
    }
    if (any) o.ch(125);
  }
  o.ch(125);
  return o.take();
}

/** {@link encodeSnapshot} by string concatenation: any key and user id (used when not ASCII). */
export function encodeSnapshotText(specs: readonly WindowSpec[], st: KeyActorState): string {
  const w = st.w;
  let out = `{"v":2,"t":${str(st.eventType)},"k":${str(st.key)},"n":${st.eventsProcessed},"l":${num(st.lastEventTime)},"u":${
    st.finalUntil === Number.NEGATIVE_INFINITY ? 'null' : num(st.finalUntil)
  },"w":{`;
  let spec = -1;
  for (let b = 0; b < st.rows * STRIDE; b += STRIDE) {
    const i = w[b + SPEC]!;
    if (i !== spec) {
      out += `${spec < 0 ? '' : ']],'}"${specs[i]!.name}":[[`;
      spec = i;
    } else out += '],[';
    const has = w[b + VCOUNT]! > 0;
    const flags = w[b + FLAGS]!;
    const sealed = (flags & SEALED) !== 0;
    const users = st.u[b / STRIDE];
    let us: string;
    if (sealed) us = 'null';
    else if (users === null || users === undefined) us = '[]';
    else if (typeof users === 'string') us = `[${str(users)}]`;
    else {
      us = '[';
      let first = true;
      for (const u of users) {
        us += first ? str(u) : `,${str(u)}`;
        first = false;
      }
      us += ']';
    }
    out += `${w[b + START]},${w[b + END]},${w[b + COUNT]},${w[b + VCOUNT]},${num(w[b + SUM]!)},${has ? num(w[b + MIN]!) : 'null'},${
      has ? num(w[b + MAX]!) : 'null'
    },${w[b + DISTINCT]},${us},${(flags & FINAL) !== 0 ? 1 : 0},${w[b + REVISION]},${sealed ? 1 : 0}`;
  }
  if (spec >= 0) out += ']]';
  out += '}';
  const tails = st.tails;
  if (tails !== null) {
    let s = '';
    for (let i = 0; i < specs.length; i++) {
      if (Number.isNaN(tails[2 * i]!)) continue;
      s += `${s === '' ? '' : ','}"${specs[i]!.name}":[${tails[2 * i]},${tails[2 * i + 1]}]`;
    }
    if (s !== '') out += `,"s":{${s}}`;
  }
  return `${out}}`;
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
  const st = newKeyState(eventType, raw.k);
  st.eventsProcessed = raw.n;
  st.lastEventTime = raw.l;
  st.finalUntil = typeof raw.u === 'number' ? raw.u : Number.NEGATIVE_INFINITY;
  for (let i = 0; i < specs.length; i++) {
    // specs removed from the configuration are dropped; new ones start empty
    const name = specs[i]!.name;
    const tail = raw.s?.[name];
    if (tail) {
      if (st.tails === null) st.tails = new Array<number>(2 * specs.length).fill(Number.NaN);
      st.tails[2 * i] = tail[0];
      st.tails[2 * i + 1] = tail[1];
    }
    const rows = raw.w[name];
    if (!rows) continue;
    for (const r of rows) {
      const row = st.rows;
      insertRow(st, row, i, r[0], r[1]);
      const b = row * STRIDE;
      const w = st.w;
      w[b + COUNT] = r[2];
      w[b + VCOUNT] = r[3];
      w[b + SUM] = r[4];
      if (r[3]) {
        w[b + MIN] = r[5] ?? Number.POSITIVE_INFINITY;
        w[b + MAX] = r[6] ?? Number.NEGATIVE_INFINITY;
      }
      w[b + DISTINCT] = r[7];
      const users = r[8];
      if (users && users.length === 1) st.u[row] = users[0]!;
      else if (users && users.length > 1) st.u[row] = new Set(users);
      w[b + FLAGS] = (r[9] === 1 ? FINAL : 0) | (r[11] === 1 ? SEALED : 0);
      w[b + REVISION] = r[10];
      if (r[9] !== 1) st.openWindows++;
    }
  }
  return st;
}

/** A final window result as the results store keeps it: one row per (actor, window, start). */
export interface StoredFinal {
  /** The actor it belongs to (the results store's `FinalWrite.actor`). */
  actor: string;
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
export function encodeFinal(r: WindowResult, actor = ''): StoredFinal {
  const o = out;
  o.raw('["');
  o.raw(r.window);
  o.raw('",');
  o.num(r.windowStart);
  o.ch(44);
  o.num(r.windowEnd);
  o.ch(44);
  o.num(r.count);
  o.ch(44);
  o.num(r.valueCount);
  o.ch(44);
  if (r.sum === null) o.raw('null');
  else o.num(r.sum);
  o.ch(44);
  if (r.min === null) o.raw('null');
  else o.num(r.min);
  o.ch(44);
  if (r.max === null) o.raw('null');
  else o.num(r.max);
  o.ch(44);
  o.num(r.distinctUsers);
  o.ch(44);
  o.num(r.revision);
  o.ch(93);
  const data =
    o.take() ??
    `["${r.window}",${r.windowStart},${r.windowEnd},${r.count},${r.valueCount},${num(r.sum)},${num(r.min)},${num(r.max)},${r.distinctUsers},${r.revision}]`;
  return { actor, id: `${r.window}|${r.windowStart}`, windowEnd: r.windowEnd, data };
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
