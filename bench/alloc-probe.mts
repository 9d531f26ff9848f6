/**
 * Where the processing path allocates: runs the GC probe's workload (`bench/gc-probe.mts`: the
 * processing bench's input through the 12 PartitionHosts, finals only, periodic checkpoints) under
 * V8's sampling heap profiler with collected objects included, and prints the bytes allocated per
 * function and its two callers. The input's generation is allocated too (the first lines); what
 * follows is the processing.
 *
 *   node --import tsx bench/alloc-probe.mts 300000
 *
 * (BENCHMARKS.md, issue 7 session 5: ~200 MB of result objects, ~240 MB of finals' store rows and
 * ~160 MB of record decoding per 300k events.)
 */
import { Session } from 'node:inspector/promises';

interface ProfileNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: ProfileNode[];
}

const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
await import('./gc-probe.mts');
const { profile } = (await session.post('HeapProfiler.stopSampling')) as unknown as { profile: { head: ProfileNode } };

const bySite = new Map<string, number>();
let total = 0;
const nameOf = (n: ProfileNode) => n.callFrame.functionName || '(anonymous)';
function walk(n: ProfileNode, callers: readonly string[]): void {
  if (n.selfSize > 0) {
    const where = `${nameOf(n)} ${n.callFrame.url.replace(/^.*?\/(src|bench|node_modules)\//, '$1/')}:${n.callFrame.lineNumber + 1}`;
    const site = `${where}  <  ${callers.slice(-2).join(' < ')}`;
    bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  for (const c of n.children) walk(c, [...callers, nameOf(n)]);
}
walk(profile.head, []);
process.stderr.write(`total sampled allocation ${(total / 1e6).toFixed(0)} MB\n`);
for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, 30)) {
  process.stderr.write(`${(bytes / 1e6).toFixed(1).padStart(7)} MB ${((100 * bytes) / total).toFixed(1).padStart(5)}%  ${site}\n`);
}
