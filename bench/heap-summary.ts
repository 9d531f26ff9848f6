/**
 * Summarises a V8 .heapsnapshot: self size and count by constructor (objects) or by node type
 * (strings, arrays, hidden, …). Used for the RSS-with-1M-keys notes.
 *
 *   npx tsx bench/heap-summary.ts <file.heapsnapshot> [--top 25]
 *   (bench/children/rss.ts writes one with: node --expose-gc --import tsx bench/children/rss.ts 20000 --heap-snapshot /tmp/x.heapsnapshot)
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const args = process.argv.slice(2);
const t = args.indexOf('--top');
const top = t >= 0 ? Number(args.splice(t, 2)[1]) : 25;
const file = args[0];
if (!file) {
  process.stderr.write('usage: npx tsx bench/heap-summary.ts <file.heapsnapshot> [--top N]\n');
  process.exit(2);
}
const s = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = s.snapshot.meta.node_fields;
const types = s.snapshot.meta.node_types[0];
const width = fields.length;
const fType = fields.indexOf('type');
const fName = fields.indexOf('name');
const fSize = fields.indexOf('self_size');
const by = new Map<string, { size: number; count: number }>();
let total = 0;
for (let i = 0; i < s.nodes.length; i += width) {
  const type = types[s.nodes[i + fType]!]!;
  const size = s.nodes[i + fSize]!;
  total += size;
  const key = type === 'object' || type === 'closure' ? `${type} ${s.strings[s.nodes[i + fName]!]}` : `(${type})`;
  const e = by.get(key) ?? { size: 0, count: 0 };
  e.size += size;
  e.count++;
  by.set(key, e);
}
process.stdout.write(`heap ${(total / 1024 / 1024).toFixed(1)} MiB in ${(s.nodes.length / width).toLocaleString('en-US')} nodes\n`);
for (const [k, e] of [...by].sort((a, b) => b[1].size - a[1].size).slice(0, top)) {
  process.stdout.write(`  ${((e.size / total) * 100).toFixed(1).padStart(5)}%  ${(e.size / 1024 / 1024).toFixed(1).padStart(7)} MiB  ${e.count.toLocaleString('en-US').padStart(11)}×  ${k}\n`);
}
