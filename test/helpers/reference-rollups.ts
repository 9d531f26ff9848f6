/**
 * The reference for rollups across keys, recomputed from the raw events with no incremental
 * state: each partition's events (in arrival order) go through the reference window model
 * (reference-model.ts) — so an event joins a rollup window exactly when it joins its key's window —
 * and the per-key windows of one (spec, windowStart) are then merged across keys and partitions.
 * Distinct users are recounted from the accepted raw events themselves (the window model only
 * keeps their number per key).
 */
import { assignWindows, parseWindowSpec } from '../../src/actors/windows/index.ts';
import type { Rollup, RollupOrder, RollupTally } from '../../src/actors/index.ts';
import { close, type RefEvent, type RefOptions, referenceWindows } from './reference-model.ts';

export interface RefRollupOptions extends Omit<RefOptions, 'finalWatermark' | 'specs'> {
  eventType: string;
  window: string;
  top: number;
  by: RollupOrder;
  /** The final watermark of each partition (default: after its last event). */
  finalWatermark?: (partition: number) => number | null;
}

function measure(t: RollupTally, by: RollupOrder): number | null {
  return by === 'count' ? t.count : t[by];
}

/** `byPartition[p]`: partition p's events in arrival order. */
export function referenceRollups(byPartition: readonly (readonly RefEvent[])[], o: RefRollupOptions): Rollup[] {
  const spec = parseWindowSpec(o.window);
  const L = o.allowedLatenessMs ?? 0;
  const R = o.resultRetentionMs ?? 86_400_000;
  const policy = o.latePolicy ?? 'side-output';
  const acc = new Map<number, { r: Rollup; users: Set<string>; tallies: RollupTally[] }>();
  byPartition.forEach((events, p) => {
    if (events.length === 0) return;
    const finalWm = o.finalWatermark?.(p);
    const { eventType: _t, window: _w, top: _n, by: _b, finalWatermark: _f, ...model } = o;
    const { results } = referenceWindows(events, { ...model, specs: [spec], ...(finalWm === undefined ? {} : { finalWatermark: finalWm }) });
    // users: the same acceptance rule, replayed over the raw events of the partition
    const users = new Map<number, Set<string>>();
    let maxTs = Number.NEGATIVE_INFINITY;
    for (const ev of events) {
      const wm = maxTs - o.maxOutOfOrderMs;
      if (ev.eventType === o.eventType) {
        for (const w of assignWindows(spec, ev.timestamp)) {
          if (w.end + L <= wm && (policy !== 'update' || w.end < wm - R)) continue;
          let s = users.get(w.start);
          if (!s) users.set(w.start, (s = new Set()));
          if (ev.userId !== null) s.add(ev.userId);
        }
      }
      if (ev.timestamp > maxTs) maxTs = ev.timestamp;
    }
    for (const k of results) {
      if (k.eventType !== o.eventType) continue;
      let a = acc.get(k.windowStart);
      if (!a) {
        a = {
          r: {
            eventType: o.eventType,
            window: spec.name,
            windowStart: k.windowStart,
            windowEnd: k.windowEnd,
            count: 0,
            distinctKeys: 0,
            distinctUsers: 0,
            valueCount: 0,
            sum: null,
            avg: null,
            min: null,
            max: null,
            final: true,
            topKeys: [],
          },
          users: new Set(),
          tallies: [],
        };
        acc.set(k.windowStart, a);
      }
      const r = a.r;
      r.count += k.count;
      r.distinctKeys++;
      r.valueCount += k.valueCount;
      if (k.sum !== null) r.sum = (r.sum ?? 0) + k.sum;
      if (k.min !== null && (r.min === null || k.min < r.min)) r.min = k.min;
      if (k.max !== null && (r.max === null || k.max > r.max)) r.max = k.max;
      r.final &&= k.final;
      for (const u of users.get(k.windowStart) ?? []) a.users.add(u);
      a.tallies.push({ key: k.key, count: k.count, valueCount: k.valueCount, sum: k.sum, avg: k.avg, min: k.min, max: k.max });
    }
  });
  const out: Rollup[] = [];
  for (const { r, users, tallies } of acc.values()) {
    r.distinctUsers = users.size;
    r.avg = r.sum === null ? null : r.sum / r.valueCount;
    const ranked = tallies.filter((t) => measure(t, o.by) !== null);
    const sign = o.by === 'min' ? -1 : 1;
    ranked.sort((x, y) => sign * (measure(y, o.by)! - measure(x, o.by)!) || (x.key < y.key ? -1 : 1));
    r.topKeys = ranked.slice(0, o.top);
    out.push(r);
  }
  return out.sort((a, b) => a.windowStart - b.windowStart);
}

/**
 * Differences between rollups and their reference, as readable strings; empty when equal. Sums
 * and averages are compared with a relative tolerance (the summation order differs), everything
 * else exactly. `final: false` leaves out `final` (it depends on processing time in a cluster).
 */
export function diffRollups(actual: readonly Rollup[], expected: readonly Rollup[], options: { final?: boolean } = {}): string[] {
  const fields = options.final === false ? (['windowEnd', 'count', 'distinctKeys', 'distinctUsers', 'valueCount'] as const) : (['windowEnd', 'count', 'distinctKeys', 'distinctUsers', 'valueCount', 'final'] as const);
  const out: string[] = [];
  const am = new Map(actual.map((r) => [r.windowStart, r]));
  for (const e of expected) {
    const a = am.get(e.windowStart);
    am.delete(e.windowStart);
    const id = `${e.window}@${new Date(e.windowStart).toISOString()}`;
    if (!a) {
      out.push(`missing ${id}`);
      continue;
    }
    for (const f of fields) if (a[f] !== e[f]) out.push(`${id} ${f}: got ${a[f]} want ${e[f]}`);
    for (const f of ['sum', 'avg', 'min', 'max'] as const) if (!close(a[f], e[f])) out.push(`${id} ${f}: got ${a[f]} want ${e[f]}`);
    const keys = (r: Rollup) => r.topKeys.map((t) => `${t.key}:${t.count}:${t.valueCount}:${t.min}:${t.max}`).join(' ');
    if (keys(a) !== keys(e)) out.push(`${id} topKeys: got ${keys(a)} want ${keys(e)}`);
    a.topKeys.forEach((t, i) => {
      if (!close(t.sum, e.topKeys[i]?.sum ?? null)) out.push(`${id} topKeys[${i}].sum: got ${t.sum} want ${e.topKeys[i]?.sum}`);
    });
  }
  for (const a of am.values()) out.push(`unexpected ${a.window}@${new Date(a.windowStart).toISOString()}`);
  return out;
}
