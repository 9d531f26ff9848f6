/**
 * Answers `windows(…)` for one actor from its three sources: finals in the results store, finals
 * made since the last commit, and the windows the actor holds (open ones, and finals held under
 * `update`). One row per window — the newest revision, a held window over any stored one — within
 * the retention, filtered by the query, oldest windowStart first.
 */
import type { WindowQuery, WindowResult } from '../../model/index.ts';

export interface WindowSources {
  stored: readonly WindowResult[];
  uncommitted: readonly WindowResult[];
  held: readonly WindowResult[];
  /** Windows ending before this (watermark − retention) have expired. */
  oldestEnd: number;
}

export function mergeWindows(q: WindowQuery, s: WindowSources): WindowResult[] {
  const byWindow = new Map<string, WindowResult>();
  const put = (r: WindowResult) => {
    const id = `${r.window}|${r.windowStart}`;
    const had = byWindow.get(id);
    if (had === undefined || r.revision >= had.revision) byWindow.set(id, r);
  };
  for (const r of s.stored) put(r);
  for (const r of s.uncommitted) put(r);
  // held windows last: an open window or a final held under `update` is the newest state of its window
  for (const r of s.held) byWindow.set(`${r.window}|${r.windowStart}`, r);
  const out: WindowResult[] = [];
  for (const r of byWindow.values()) {
    if (
      (!q.window || r.window === q.window) &&
      (q.from === undefined || q.from === null || r.windowStart >= q.from) &&
      (q.to === undefined || q.to === null || r.windowStart < q.to) &&
      (!q.finalOnly || r.final) &&
      r.windowEnd >= s.oldestEnd
    ) {
      out.push(r);
    }
  }
  out.sort((a, b) => a.windowStart - b.windowStart || a.windowEnd - b.windowEnd || (a.window < b.window ? -1 : a.window > b.window ? 1 : 0));
  return out;
}
