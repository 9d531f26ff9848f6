/** Merges the partials of every partition of an event type's topic into rollups. Pure. */
import { compareTallies } from './rollup-state.ts';
import type { Rollup, RollupOrder, RollupPartial } from './rollup-types.ts';

/**
 * `perPartition[p]` is partition p's partials. Counts, sums and distinct keys add up (keys are
 * partition-aligned), users are merged as sets, and the top N is taken from the union of the
 * partitions' top N lists (a key's whole tally lives in one partition, so this is exact).
 * Sums are added in partition order, so the same state always gives the same floats.
 */
export function mergeRollups(perPartition: readonly (readonly RollupPartial[])[], top: number, by: RollupOrder): Rollup[] {
  const acc = new Map<number, { r: Rollup; users: Set<string> }>();
  for (const partials of perPartition) {
    for (const p of partials) {
      let a = acc.get(p.windowStart);
      if (a === undefined) {
        a = {
          r: {
            eventType: p.eventType,
            window: p.window,
            windowStart: p.windowStart,
            windowEnd: p.windowEnd,
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
        };
        acc.set(p.windowStart, a);
      }
      const r = a.r;
      r.count += p.count;
      r.distinctKeys += p.distinctKeys;
      r.valueCount += p.valueCount;
      if (p.sum !== null) r.sum = (r.sum ?? 0) + p.sum;
      if (p.min !== null && (r.min === null || p.min < r.min)) r.min = p.min;
      if (p.max !== null && (r.max === null || p.max > r.max)) r.max = p.max;
      r.final &&= p.final;
      for (const u of p.users) a.users.add(u);
      r.topKeys.push(...p.top);
    }
  }
  const order = compareTallies(by);
  const out: Rollup[] = [];
  for (const { r, users } of acc.values()) {
    r.distinctUsers = users.size;
    r.avg = r.sum === null ? null : r.sum / r.valueCount;
    r.topKeys.sort(order);
    if (r.topKeys.length > top) r.topKeys.length = top;
    out.push(r);
  }
  out.sort((a, b) => a.windowStart - b.windowStart);
  return out;
}
