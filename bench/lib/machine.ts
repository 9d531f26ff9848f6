/** What the figures were measured on: printed at the top of every run. */
import { readFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';

export function machineLine(): string {
  let model = cpus()[0]?.model ?? 'unknown';
  try {
    const m = /^model name\s*:\s*(.*)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) model = m[1].trim();
  } catch {
    // not Linux: os.cpus() is good enough
  }
  const load = loadavg().map((l) => l.toFixed(2)).join(' ');
  return `machine: ${availableParallelism()} CPUs (${model}), ${(totalmem() / 1024 ** 3).toFixed(1)} GiB RAM, node ${process.version}, load average ${load}`;
}
