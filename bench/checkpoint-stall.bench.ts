/**
 * What the processor's checkpoint does on the event loop, in CPU time: the latency bench's
 * partitions (iot.sensor: 12 PartitionHosts, the 5 default windows, rollups across keys on, 10k
 * keys) over the file checkpoint store (fsync on), warmed with one event of every key, then
 * rounds of `rate` events (one second of `publishEvent` at that rate) each followed by a
 * checkpoint round as the processor takes it (`host.checkpoint()`, `commit`, `markCommitted` per
 * partition, started one loop turn apart). A setImmediate ticker records the CPU the process
 * used between consecutive turns of the event loop: the longest of those stretches is what a
 * request arriving then waits for. CPU of the main thread, not wall time, so other jobs on a
 * shared machine do not inflate it (on a runtime without `process.threadCpuUsage` the whole
 * process's CPU: GC helper threads and fsync in the thread pool too, an upper bound). Not a test.
 *
 *   npx tsx bench/checkpoint-stall.bench.ts [rate=100] [rounds=30] [keys=10000] [--rounds]   (--rounds: a line per round)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPartitionHost } from '../src/actors/index.ts';
import { createSimulatedClock } from '../src/core/clock.ts';
import type { LogRecord } from '../src/log/port.ts';
import { createEventTypeRegistry, partitionForKey } from '../src/model/index.ts';
import { createFileCheckpoints } from '../src/state/file/file-checkpoints.ts';
import { IOT_PARTITIONS, IOT_TOPIC, iotInputs } from './lib/records.ts';

const RATE = Number(process.argv[2] ?? 100);
const ROUNDS = Number(process.argv[3] ?? 30);
const KEYS = Number(process.argv[4] ?? 10_000);
const te = new TextEncoder();

const inputs = iotInputs(KEYS + RATE * ROUNDS, KEYS, 13);
const offsets = new Array<number>(IOT_PARTITIONS).fill(0);
const records: LogRecord[] = inputs.map((e) => {
  const key = String(e.deviceId);
  const p = partitionForKey(key, IOT_PARTITIONS);
  return { topic: IOT_TOPIC, partition: p, offset: offsets[p]!++, key, value: te.encode(JSON.stringify(e)), headers: {}, appendTime: Date.parse(e.timestamp) };
});

const dir = mkdtempSync(join(tmpdir(), 'keyflow-ckpt-stall-'));
const store = createFileCheckpoints({ dataDir: dir });
await store.start();
const clock = createSimulatedClock(Date.parse('2026-01-15T10:00:00.000Z'));
const registry = createEventTypeRegistry();
const hosts = await Promise.all(
  Array.from({ length: IOT_PARTITIONS }, async (_, partition) => {
    const host = createPartitionHost({
      topic: IOT_TOPIC,
      partition,
      registry,
      clock,
      loadActor: (id) => store.loadActor(IOT_TOPIC, partition, id),
      loadFinals: (id) => store.loadFinals(IOT_TOPIC, partition, id),
      output: { onResults: () => {}, onLate: () => {}, onDeadLetter: () => {} },
    });
    host.restore(null, new Map());
    return { host, partition, epoch: await store.acquire(IOT_TOPIC, partition) };
  }),
);

async function feed(from: number, to: number): Promise<void> {
  const by: LogRecord[][] = Array.from({ length: IOT_PARTITIONS }, () => []);
  for (let i = from; i < to; i++) by[records[i]!.partition]!.push(records[i]!);
  for (const h of hosts) if (by[h.partition]!.length > 0) await h.host.processBatch(by[h.partition]!);
}

async function checkpointRound(): Promise<void> {
  const runs: Promise<void>[] = [];
  for (const h of hosts) {
    if (runs.length > 0) await new Promise<void>((r) => setImmediate(r));
    const write = h.host.checkpoint();
    runs.push(store.commit(IOT_TOPIC, h.partition, h.epoch, write).then(() => h.host.markCommitted()));
  }
  await Promise.all(runs);
}

/** CPU of the main thread (the event loop's), ms: GC helper threads and the fs thread pool (fsync) are left out where the runtime can tell them apart (Node ≥ 22.19). */
const threadCpu = (process as { threadCpuUsage?: () => NodeJS.CpuUsage }).threadCpuUsage;
const cpuNow = () => {
  const c = threadCpu ? threadCpu() : process.cpuUsage();
  return (c.user + c.system) / 1000;
};

await feed(0, KEYS);
await checkpointRound();
const stretches: number[] = [];
let ticking = true;
let last = cpuNow();
const tick = () => {
  const now = cpuNow();
  stretches.push(now - last);
  last = now;
  if (ticking) setImmediate(tick);
};
const roundCpu: number[] = [];
const verbose = process.argv.includes('--rounds');
for (let r = 0; r < ROUNDS; r++) {
  const n0 = stretches.length;
  await feed(KEYS + r * RATE, KEYS + (r + 1) * RATE);
  await new Promise<void>((res) => setImmediate(res));
  last = cpuNow();
  ticking = true;
  setImmediate(tick);
  const c0 = cpuNow();
  await checkpointRound();
  roundCpu.push(cpuNow() - c0);
  ticking = false;
  if (verbose) console.log(`round ${r}: CPU ${roundCpu.at(-1)!.toFixed(1)} ms, longest stretch ${Math.max(...stretches.slice(n0)).toFixed(1)} ms`);
  await new Promise<void>((res) => setImmediate(res));
}
const sorted = [...stretches].sort((a, b) => a - b);
const pct = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const stats = await Promise.all(hosts.map((h) => store.stats(IOT_TOPIC, h.partition)));
console.log(
  `checkpoint-stall: ${IOT_PARTITIONS} partitions, ${KEYS} keys, rollups on, file store; ${ROUNDS} rounds of ${RATE} events then a checkpoint of every partition: ` +
    `CPU per checkpoint round ${mean(roundCpu).toFixed(1)} ms (max ${Math.max(...roundCpu).toFixed(1)}); CPU between two event-loop turns during checkpoints: ` +
    `p50 ${pct(0.5).toFixed(2)} ms, p99 ${pct(0.99).toFixed(2)} ms, max ${sorted.at(-1)!.toFixed(2)} ms, ${sorted.filter((s) => s >= 5).length} stretches ≥ 5 ms of ${sorted.length}; ` +
    `journal ${(stats.reduce((a, s) => a + s.journalBytes, 0) / 2 ** 20).toFixed(1)} MiB over ${IOT_PARTITIONS} partitions, generations ${stats.map((s) => s.generation).join(',')}`,
);
await store.close();
rmSync(dir, { recursive: true, force: true });
