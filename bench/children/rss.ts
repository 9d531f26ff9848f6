/**
 * RSS with many keys: `node --expose-gc --import tsx bench/children/rss.ts <keys>`. Feeds one
 * iot.sensor event per distinct key through the 12 PartitionHosts of events.iot.sensors (five
 * default windows), generating records batch by batch so that only the actors' state stays
 * alive, then reports RSS and heap after a full GC to the parent as `{type:'result', …}`.
 */
import { readFileSync } from 'node:fs';
import { getHeapSpaceStatistics, getHeapStatistics, writeHeapSnapshot } from 'node:v8';
import { createPartitionHost, type PartitionHost } from '../../src/actors/index.ts';
import type { LogRecord } from '../../src/log/port.ts';
import { createEventTypeRegistry } from '../../src/model/index.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { DEFAULT_WINDOWS } from '../../src/actors/windows/index.ts';
import { tell } from '../lib/child.ts';
import { IOT_PARTITIONS, IOT_TOPIC, T0 } from '../lib/records.ts';

const keys = Number(process.argv[2] ?? 1_000_000);
const snapshotAt = process.argv.indexOf('--heap-snapshot');
const snapshotFile = snapshotAt >= 0 ? process.argv[snapshotAt + 1] : undefined;
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');

function fullGc(): void {
  for (let i = 0; i < 3; i++) gc!();
}

fullGc();
const before = process.memoryUsage();
const registry = createEventTypeRegistry();
const clock = createSimulatedClock(0);
const hosts: PartitionHost[] = [];
for (let p = 0; p < IOT_PARTITIONS; p++) {
  const host = createPartitionHost({
    topic: IOT_TOPIC,
    partition: p,
    registry,
    clock,
    windows: DEFAULT_WINDOWS,
    emitUpdates: false,
    // the key actors' state alone unless `--rollups` (rollups across keys, KEYFLOW_ROLLUPS, keep
    // a tally per key in every open tumbling and sliding window)
    rollups: process.argv.includes('--rollups'),
    output: { onResults: () => {}, onLate: () => {}, onDeadLetter: () => {} },
  });
  host.restore(null, new Map());
  hosts.push(host);
}

const te = new TextEncoder();
const offsets = new Array<number>(IOT_PARTITIONS).fill(0);
const CHUNK = 6000; // ≈ 500 per partition per round
for (let base = 0; base < keys; base += CHUNK) {
  const byP: LogRecord[][] = Array.from({ length: IOT_PARTITIONS }, () => []);
  for (let i = base; i < Math.min(keys, base + CHUNK); i++) {
    const key = `sensor-${i}`;
    const p = partitionForKey(key, IOT_PARTITIONS);
    // the keys arrive over ~17 minutes of event time (1 per ms): tumbling windows close (their
    // finals leave the hot state for the results store), every session stays open
    const value = JSON.stringify({
      eventId: `rss-${i}`,
      timestamp: new Date(T0 + i).toISOString(),
      eventType: 'iot.sensor',
      userId: `user-${i % 50_000}`,
      deviceId: key,
      payload: { value: 20 + (i % 100) / 10, unit: 'celsius', battery: 80 },
      metadata: null,
    });
    byP[p]!.push({ topic: IOT_TOPIC, partition: p, offset: offsets[p]!++, key, value: te.encode(value), headers: {}, appendTime: T0 + i });
  }
  for (let p = 0; p < IOT_PARTITIONS; p++) if (byP[p]!.length) await hosts[p]!.processBatch(byP[p]!);
  // a checkpoint per round, as the processor commits every second: finals leave for the store
  for (const h of hosts) {
    h.checkpoint();
    h.markCommitted();
  }
}
fullGc();
// `--settle <ms>`: an idle pause before measuring (V8's memory reducer runs on idle timers)
const settleAt = process.argv.indexOf('--settle');
if (settleAt >= 0) {
  await new Promise((r) => setTimeout(r, Number(process.argv[settleAt + 1])));
  fullGc();
}
const after = process.memoryUsage();
if (process.argv.includes('--explain')) explainRss();
if (snapshotFile) writeHeapSnapshot(snapshotFile);
tell({
  type: 'result',
  rss: after.rss,
  heapUsed: after.heapUsed,
  external: after.external,
  rss0: before.rss,
  heap0: before.heapUsed,
  actors: hosts.reduce((a, h) => a + h.actorCount, 0),
});
if (process.connected) process.disconnect();
else process.stdout.write(`${JSON.stringify({ rss: after.rss, heapUsed: after.heapUsed, heapTotal: after.heapTotal, external: after.external, keys, hostsAlive: hosts.length })}\n`);

/**
 * `--explain`: where the resident memory is — V8's own view (used / committed / physical) against
 * the resident 256 KiB anonymous mappings (V8 heap pages), from /proc/self/smaps (Linux).
 */
function explainRss(): void {
  const v8 = getHeapStatistics();
  let pages = 0;
  let pageKiB = 0;
  // the rest of the resident memory by kind of mapping: the brk heap and other anonymous
  // mappings (malloc: array buffer backing stores, zlib, V8's large objects), files (code, libraries)
  const other = { brk: 0, anonymous: 0, files: 0 };
  let range = '';
  for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) range = line;
    else if (line.startsWith('Rss:')) {
      const [from, to] = range.split(' ')[0]!.split('-').map((x) => Number.parseInt(x, 16));
      const kib = Number(line.split(/\s+/)[1]);
      const fields = range.trim().split(/\s+/);
      if (to! - from! === 256 * 1024 && fields.length <= 5) {
        pages++;
        pageKiB += kib;
      } else if (fields[5] === '[heap]') other.brk += kib;
      else if (fields.length <= 5 || fields[5]!.startsWith('[')) other.anonymous += kib;
      else other.files += kib;
    }
  }
  const mib = (n: number) => `${(n / 1048576).toFixed(0)} MiB`;
  process.stderr.write(
    `rss ${mib(after.rss)}; V8 heap used ${mib(v8.used_heap_size)}, committed ${mib(v8.total_heap_size)}, physical ${mib(v8.total_physical_size)}; ` +
      `resident 256 KiB anonymous mappings: ${pages} (${mib(pageKiB * 1024)}); ` +
      `other resident: brk heap ${mib(other.brk * 1024)}, other anonymous ${mib(other.anonymous * 1024)}, files ${mib(other.files * 1024)}\n` +
      getHeapSpaceStatistics()
        .map((x) => `  ${x.space_name}: used ${mib(x.space_used_size)}, committed ${mib(x.space_size)}, physical ${mib(x.physical_space_size)}\n`)
        .join(''),
  );
}
