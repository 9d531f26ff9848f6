/**
 * RSS with many keys: `node --expose-gc --import tsx bench/children/rss.ts <keys>`. Feeds one
 * iot.sensor event per distinct key through the 12 PartitionHosts of events.iot.sensors (five
 * default windows), generating records batch by batch so that only the actors' state stays
 * alive, then reports RSS and heap after a full GC to the parent as `{type:'result', …}`.
 */
import { writeHeapSnapshot } from 'node:v8';
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
const after = process.memoryUsage();
if (snapshotFile) writeHeapSnapshot(snapshotFile);
tell({
  type: 'result',
  rss: after.rss,
  heapUsed: after.heapUsed,
  rss0: before.rss,
  heap0: before.heapUsed,
  actors: hosts.reduce((a, h) => a + h.actorCount, 0),
});
if (process.connected) process.disconnect();
else process.stdout.write(`${JSON.stringify({ rss: after.rss, heapUsed: after.heapUsed, keys, hostsAlive: hosts.length })}\n`);
