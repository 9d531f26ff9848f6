// allocation sampling (incl. collected objects) over the gc-probe workload
import { Session } from 'node:inspector/promises';
const session = new Session();
session.connect();
await session.post('HeapProfiler.enable');
await session.post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true } as never);
await import('./gc-probe.mts');
const { profile } = (await session.post('HeapProfiler.stopSampling')) as { profile: { head: Node } };
interface Node { callFrame: { functionName: string; url: string; lineNumber: number }; selfSize: number; children: Node[] }
const by = new Map<string, number>();
let total = 0;
(function walk(n: Node, stack: string[]) {
  const name = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*\/work\/main\//, '').replace(/.*node_modules\//, 'nm/')}:${n.callFrame.lineNumber + 1}`;
  if (n.selfSize) {
    const k = `${name}  <  ${stack.slice(-2).join(' < ')}`;
    by.set(k, (by.get(k) ?? 0) + n.selfSize);
    total += n.selfSize;
  }
  for (const c of n.children) walk(c, [...stack, (n.callFrame.functionName || '(anon)')]);
})(profile.head, []);
console.error(`total sampled allocation ${(total / 1e6).toFixed(0)} MB`);
for (const [k, v] of [...by].sort((a, b) => b[1] - a[1]).slice(0, 30)) console.error(`${(v / 1e6).toFixed(1).padStart(7)} MB ${(100 * v / total).toFixed(1).padStart(5)}%  ${k}`);
