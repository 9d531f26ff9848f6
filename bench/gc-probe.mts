/**
 * What the processing path promotes to V8's old generation: the processing bench's input (2 h of
 * event time, 10k keys) through the 12 PartitionHosts, finals only, a checkpoint every 25 rounds
 * (NOCP=1: none). Run under --trace-gc-nvp and sum the scavenges after START:
 *
 *   node --import tsx --trace-gc-nvp bench/gc-probe.mts 300000 2>&1 > /tmp/nvp.log
 *   awk '/START/{f=1} f && /gc=s/ {for(i=1;i<=NF;i++){split($i,a,"="); if(a[1]=="promoted")p+=a[2]; if(a[1]=="pause")t+=a[2]} n++}
 *        END {printf "scavenges %d, pause %.0f ms, promoted %.1f MB\n", n, t, p/1e6}' /tmp/nvp.log
 *
 * (BENCHMARKS.md, issue 7 session 4: the row count took 165 → 95 MB per 300k events with NOCP=1.)
 */
import { createPartitionHost } from '../src/actors/index.ts';
import { DEFAULT_WINDOWS } from '../src/actors/windows/index.ts';
import { createSimulatedClock } from '../src/core/clock.ts';
import { createEventTypeRegistry } from '../src/model/index.ts';
import { IOT_PARTITIONS, IOT_TOPIC, iotInputs, readFramed, toFramedPartitions, toPartitionedRecords } from './lib/records.ts';

const events = Number(process.argv[2] ?? 300_000);
const parts = toFramedPartitions(toPartitionedRecords(iotInputs(events, 10_000, 42, 2 * 3_600_000 * events / 1_000_000)));
const registry = createEventTypeRegistry();
const clock = createSimulatedClock(0);
const hosts = Array.from({ length: IOT_PARTITIONS }, (_, p) => {
  const h = createPartitionHost({ topic: IOT_TOPIC, partition: p, registry, clock, windows: DEFAULT_WINDOWS, emitUpdates: false, rollups: false, output: { onResults: () => {}, onLate: () => {}, onDeadLetter: () => {} } });
  h.restore(null, new Map());
  return h;
});
const rounds = Math.max(...parts.map((p) => Math.ceil(p.starts.length / 500)));
let cpMs = 0;
let nf = 0;
let nd = 0;
process.stderr.write('START\n');
const cpu0 = process.cpuUsage();
for (let r = 0; r < rounds; r++) {
  for (let p = 0; p < hosts.length; p++) {
    const b = readFramed(parts[p]!, r * 500, (r + 1) * 500);
    if (b.length) await hosts[p]!.processBatch(b);
  }
  if (!process.env.NOCP && (r + 1) % 25 === 0) {
    const c0 = process.cpuUsage();
    for (const h of hosts) {
      const w = h.checkpoint();
      nf += w.finals?.length ?? 0;
      nd += w.dirty.size;
      h.markCommitted();
    }
    const c1 = process.cpuUsage(c0);
    cpMs += (c1.user + c1.system) / 1000;
  }
}
const c = process.cpuUsage(cpu0);
process.stderr.write(`checkpoints: ${cpMs.toFixed(0)} ms cpu, ${nf} finals, ${nd} snapshots\n`);
process.stderr.write(`END cpu ${(c.user + c.system) / 1000} ms, ${Math.round(events / ((c.user + c.system) / 1e6))} ev/cpu-s\n`);
