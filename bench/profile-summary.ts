/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`): top functions by self time, with their
 * share of the samples, and top files. Prints; used to write the "what limits it" notes.
 *
 *   npx tsx bench/profile-summary.ts <file.cpuprofile>… [--top 25] [--from µs --to µs]
 *
 * --from/--to restrict it to a timed section (the bench prints them when run under --cpu-prof).
 */
import { readFileSync } from 'node:fs';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** `from`/`to`: only samples in this window (µs, the profile's monotonic clock = process.hrtime). */
export function summarizeProfile(p: CpuProfile, top = 25, from = 0, to = Number.POSITIVE_INFINITY): string {
  const byId = new Map<number, ProfileNode>();
  for (const n of p.nodes) byId.set(n.id, n);
  const selfUs = new Map<number, number>();
  let t = p.startTime;
  for (let i = 0; i < p.samples.length; i++) {
    t += p.timeDeltas[i] ?? 0;
    if (t < from || t > to) continue;
    const id = p.samples[i]!;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const byFn = new Map<string, number>();
  const byFile = new Map<string, number>();
  let idle = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id)!.callFrame;
    const name = f.functionName || '(anonymous)';
    if (name === '(idle)') idle += us;
    const file = f.url.replace(/^file:\/\/.*?\/(src|bench|node_modules)\//, '$1/') || '(native)';
    const key = `${name}  ${file}${f.url ? `:${f.lineNumber + 1}` : ''}`;
    byFn.set(key, (byFn.get(key) ?? 0) + us);
    const fileKey = file.startsWith('node_modules/') ? file.split('/').slice(0, file.startsWith('node_modules/@') ? 3 : 2).join('/') : file;
    byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
  }
  const pct = (us: number) => `${((us / total) * 100).toFixed(1).padStart(5)}%`;
  const lines = [`total ${(total / 1e6).toFixed(2)} s sampled, idle ${pct(idle)}`, '', 'top self time by function:'];
  for (const [k, us] of [...byFn].sort((a, b) => b[1] - a[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${k}`);
  lines.push('', 'self time by file / package:');
  for (const [k, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) lines.push(`  ${pct(us)}  ${k}`);
  return lines.join('\n');
}

if (process.argv[1]?.endsWith('profile-summary.ts')) {
  const args = process.argv.slice(2);
  const t = args.indexOf('--top');
  const top = t >= 0 ? Number(args.splice(t, 2)[1]) : 25;
  const f = args.indexOf('--from');
  const from = f >= 0 ? Number(args.splice(f, 2)[1]) : 0;
  const e = args.indexOf('--to');
  const to = e >= 0 ? Number(args.splice(e, 2)[1]) : Number.POSITIVE_INFINITY;
  if (args.length === 0) {
    process.stderr.write('usage: npx tsx bench/profile-summary.ts <file.cpuprofile>… [--top N]\n');
    process.exit(2);
  }
  for (const file of args) {
    const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    // tsx's loader thread writes a profile too; it only shows module loading
    process.stdout.write(`== ${file}\n${summarizeProfile(p, top, from, to)}\n\n`);
  }
}
