/**
 * An obviously-correct reference model of the window semantics (README, "Try it" and "Architecture"): it
 * recomputes every window result from the raw events of one partition, in arrival order, with no
 * incremental state. Lateness is decided per (event, window) from the partition watermark before
 * the event: max earlier event time − maxOutOfOrderMs.
 *
 * Session windows are computed from all accepted events of a key by sorting and splitting where
 * the next event is at or after the previous session's end (touching sessions stay apart). The
 * model does not support late session events: `referenceWindows` throws if an event would be
 * late for a session spec, so tests with late events use tumbling and sliding specs only.
 */
import { aggregateOf, assignWindows, parseWindowSpec } from '../../src/actors/windows/index.ts';
import type { LatePolicy, WindowResult, WindowSpec } from '../../src/actors/windows/index.ts';

export interface RefEvent {
  eventType: string;
  key: string;
  /** epoch ms */
  timestamp: number;
  userId: string | null;
  payload: Record<string, unknown>;
}

export interface RefOptions {
  specs: readonly (WindowSpec | string)[];
  /** Value field per event type. */
  valueField: (eventType: string) => string | null;
  maxOutOfOrderMs: number;
  allowedLatenessMs?: number;
  latePolicy?: LatePolicy;
  resultRetentionMs?: number;
  /** Watermark at the end, to decide `final`; defaults to the watermark after the last event. */
  finalWatermark?: number | null;
}

export interface RefOutcome {
  /** Every window with at least one accepted event, not expired at the final watermark, sorted. */
  results: WindowResult[];
  /** Indexes (into the input) of events rejected as late by at least one window. */
  lateEvents: number[];
}

interface Member {
  ev: RefEvent;
  late: boolean;
}

export function referenceWindows(events: readonly RefEvent[], o: RefOptions): RefOutcome {
  const specs = o.specs.map((s) => (typeof s === 'string' ? parseWindowSpec(s) : s));
  const L = o.allowedLatenessMs ?? 0;
  const R = o.resultRetentionMs ?? 86_400_000;
  const policy = o.latePolicy ?? 'side-output';
  const groups = new Map<string, { eventType: string; key: string; spec: WindowSpec; start: number; end: number; members: Member[] }>();
  const sessionEvents = new Map<string, { eventType: string; key: string; spec: WindowSpec; evs: RefEvent[] }>();
  const lateEvents: number[] = [];
  let maxTs = Number.NEGATIVE_INFINITY;
  events.forEach((ev, idx) => {
    const wm = maxTs - o.maxOutOfOrderMs; // before this event
    let late = false;
    for (const spec of specs) {
      if (spec.kind === 'session') {
        if (ev.timestamp + spec.gap + L <= wm) throw new Error('reference model: late session events are not modelled');
        const k = `${ev.eventType}|${ev.key}|${spec.name}`;
        let g = sessionEvents.get(k);
        if (!g) sessionEvents.set(k, (g = { eventType: ev.eventType, key: ev.key, spec, evs: [] }));
        g.evs.push(ev);
        continue;
      }
      for (const w of assignWindows(spec, ev.timestamp)) {
        const isLate = w.end + L <= wm;
        if (isLate && (policy !== 'update' || w.end < wm - R)) {
          late = true;
          continue;
        }
        const k = `${ev.eventType}|${ev.key}|${spec.name}|${w.start}`;
        let g = groups.get(k);
        if (!g) groups.set(k, (g = { eventType: ev.eventType, key: ev.key, spec, start: w.start, end: w.end, members: [] }));
        g.members.push({ ev, late: isLate });
      }
    }
    if (late) lateEvents.push(idx);
    if (ev.timestamp > maxTs) maxTs = ev.timestamp;
  });
  const finalWm = o.finalWatermark === undefined ? (maxTs === Number.NEGATIVE_INFINITY ? null : maxTs - o.maxOutOfOrderMs) : o.finalWatermark;
  const results: WindowResult[] = [];
  const emit = (eventType: string, key: string, spec: WindowSpec, start: number, end: number, evs: RefEvent[], revision: number) => {
    if (finalWm !== null && end < finalWm - R) return;
    results.push({
      eventType,
      key,
      window: spec.name,
      windowStart: start,
      windowEnd: end,
      ...aggregateOf(evs, o.valueField(eventType)),
      final: finalWm !== null && end + L <= finalWm,
      revision,
    });
  };
  for (const g of groups.values()) {
    const lateCount = g.members.filter((m) => m.late).length;
    const revision = lateCount - (g.members[0]!.late ? 1 : 0);
    emit(
      g.eventType,
      g.key,
      g.spec,
      g.start,
      g.end,
      g.members.map((m) => m.ev),
      revision,
    );
  }
  for (const g of sessionEvents.values()) {
    const sorted = [...g.evs].sort((a, b) => a.timestamp - b.timestamp);
    let cur: RefEvent[] = [];
    let end = Number.NEGATIVE_INFINITY;
    for (const ev of sorted) {
      if (cur.length > 0 && ev.timestamp >= end) {
        emit(g.eventType, g.key, g.spec, cur[0]!.timestamp, end, cur, 0);
        cur = [];
      }
      cur.push(ev);
      end = Math.max(end, ev.timestamp + g.spec.gap);
    }
    if (cur.length > 0) emit(g.eventType, g.key, g.spec, cur[0]!.timestamp, end, cur, 0);
  }
  results.sort(compareResults);
  return { results, lateEvents };
}

export function compareResults(a: WindowResult, b: WindowResult): number {
  return (
    cmp(a.eventType, b.eventType) || cmp(a.key, b.key) || cmp(a.window, b.window) || a.windowStart - b.windowStart || a.windowEnd - b.windowEnd
  );
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Whether two numbers (or nulls) agree within a relative tolerance. */
export function close(a: number | null, b: number | null, rel = 1e-9): boolean {
  if (a === null || b === null) return a === b;
  if (a === b) return true;
  return Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-300);
}

/** Differences between two result sets (sorted by compareResults), as readable strings; empty when equal. */
export function diffResults(actual: readonly WindowResult[], expected: readonly WindowResult[], opts: { revision?: boolean; final?: boolean } = {}): string[] {
  const a = [...actual].sort(compareResults);
  const e = [...expected].sort(compareResults);
  const out: string[] = [];
  const id = (r: WindowResult) => `${r.eventType}|${r.key}|${r.window}|${r.windowStart}-${r.windowEnd}`;
  const am = new Map(a.map((r) => [id(r), r]));
  const em = new Map(e.map((r) => [id(r), r]));
  for (const [k, r] of em) {
    const x = am.get(k);
    if (!x) {
      out.push(`missing ${k}`);
      continue;
    }
    const fields: (keyof WindowResult)[] = ['count', 'valueCount', 'distinctUsers'];
    for (const f of fields) if (x[f] !== r[f]) out.push(`${k} ${f}: got ${x[f]} want ${r[f]}`);
    for (const f of ['sum', 'avg', 'min', 'max'] as const) if (!close(x[f], r[f])) out.push(`${k} ${f}: got ${x[f]} want ${r[f]}`);
    if (opts.final !== false && x.final !== r.final) out.push(`${k} final: got ${x.final} want ${r.final}`);
    if (opts.revision !== false && x.revision !== r.revision) out.push(`${k} revision: got ${x.revision} want ${r.revision}`);
  }
  for (const k of am.keys()) if (!em.has(k)) out.push(`unexpected ${k}`);
  return out;
}
