/**
 * Embedded log throughput: appends in batches of 500 (keyed, ~200-byte JSON values, murmur2
 * partitioning over 12 partitions), then reads everything back per partition.
 * Run: npx tsx bench/embedded-log.bench.ts [records=200000] [fsync=0]
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLog } from '../src/log/embedded/file-log.ts';
import type { ProduceRecord } from '../src/log/port.ts';
import { createFileCheckpoints } from '../src/state/file/file-checkpoints.ts';

const total = Number(process.argv[2] ?? 200_000);
const fsync = process.argv[3] === '1';
const BATCH = 500;
const PARTITIONS = 12;
const topic = 'bench.events';

function rate(n: number, ms: number): string {
  return `${Math.round((n / ms) * 1000).toLocaleString('en-US')}/s`;
}

async function benchLog(dir: string): Promise<void> {
  const log = createFileLog({ dataDir: dir, fsync });
  await log.start();
  await log.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
  const batches: ProduceRecord[][] = [];
  for (let b = 0; b < total / BATCH; b++) {
    const batch: ProduceRecord[] = [];
    for (let i = 0; i < BATCH; i++) {
      const n = b * BATCH + i;
      const key = `device-${n % 5000}`;
      batch.push({
        key,
        value: JSON.stringify({
          eventId: `e-${n}`,
          timestamp: new Date(1_700_000_000_000 + n).toISOString(),
          eventType: 'iot.sensor',
          deviceId: key,
          userId: null,
          payload: { value: n % 100, unit: 'C', sensor: 'temp' },
          metadata: null,
        }),
        headers: { 'content-type': 'application/json' },
      });
    }
    batches.push(batch);
  }
  const half = Math.floor(batches.length / 2);
  let t0 = performance.now();
  for (const batch of batches.slice(0, half)) await log.append(topic, batch);
  let ms = performance.now() - t0;
  const n1 = half * BATCH;
  const bytes1 = log.sizes(topic).reduce((a, b) => a + b, 0);
  console.log(`append  ${n1} records, one append of ${BATCH} at a time (fsync=${fsync}): ${ms.toFixed(0)} ms, ${rate(n1, ms)}, ${(bytes1 / 1024 / 1024 / (ms / 1000)).toFixed(1)} MiB/s`);
  // Eight producers at once (as several gateway requests would be).
  const rest = batches.slice(half);
  t0 = performance.now();
  await Promise.all(
    Array.from({ length: 8 }, async (_, w) => {
      for (let i = w; i < rest.length; i += 8) await log.append(topic, rest[i]!);
    }),
  );
  ms = performance.now() - t0;
  const n2 = rest.length * BATCH;
  const bytes = log.sizes(topic).reduce((a, b) => a + b, 0);
  console.log(`append  ${n2} records, 8 concurrent appenders of ${BATCH}: ${ms.toFixed(0)} ms, ${rate(n2, ms)}, ${((bytes - bytes1) / 1024 / 1024 / (ms / 1000)).toFixed(1)} MiB/s`);

  t0 = performance.now();
  let read = 0;
  for (let p = 0; p < PARTITIONS; p++) {
    let offset = 0;
    for (;;) {
      const recs = await log.read(topic, p, offset, BATCH);
      if (recs.length === 0) break;
      read += recs.length;
      offset = recs[recs.length - 1]!.offset + 1;
    }
  }
  ms = performance.now() - t0;
  console.log(`read    ${read} records (${BATCH} per read): ${ms.toFixed(0)} ms, ${rate(read, ms)}`);

  t0 = performance.now();
  await log.close();
  const reopened = createFileLog({ dataDir: dir });
  await reopened.start();
  ms = performance.now() - t0;
  console.log(`reopen  ${PARTITIONS} partitions, ${(bytes / 1024 / 1024).toFixed(1)} MiB: ${ms.toFixed(0)} ms`);
  await reopened.close();
}

async function benchCheckpoints(dir: string): Promise<void> {
  const store = createFileCheckpoints({ dataDir: dir });
  await store.start();
  const epoch = await store.acquire(topic, 0);
  const state = (i: number) => JSON.stringify({ key: `device-${i}`, windows: [{ spec: 'tumbling-1m', start: 1_700_000_000_000, count: i, sum: i * 2.5, users: [`u${i}`] }], seen: i });
  const all = new Map<string, string>();
  for (let i = 0; i < 10_000; i++) all.set(`device-${i}`, state(i));
  let t0 = performance.now();
  await store.commit(topic, 0, epoch, { nextOffset: 10_000, partitionState: '{"watermark":0}', dirty: all });
  console.log(`checkpoint first commit, 10000 keys (full snapshot): ${(performance.now() - t0).toFixed(1)} ms`);
  const rounds = 50;
  t0 = performance.now();
  for (let r = 0; r < rounds; r++) {
    const dirty = new Map<string, string>();
    for (let i = 0; i < 500; i++) dirty.set(`device-${(r * 500 + i) % 10_000}`, state(r + i));
    await store.commit(topic, 0, epoch, { nextOffset: 10_000 + r, partitionState: '{"watermark":1}', dirty });
  }
  console.log(`checkpoint dirty commit, 500 of 10000 keys (fsync, incl. compactions): ${((performance.now() - t0) / rounds).toFixed(1)} ms each`);
  t0 = performance.now();
  const reopened = createFileCheckpoints({ dataDir: dir });
  await reopened.start();
  const n = (await reopened.loadActors(topic, 0)).size;
  console.log(`checkpoint load of ${n} actors after restart: ${(performance.now() - t0).toFixed(1)} ms`);
  await Promise.all([store.close(), reopened.close()]);
}

const dir = await mkdtemp(join(tmpdir(), 'keyflow-bench-'));
try {
  await benchLog(dir);
  await benchCheckpoints(dir);
} finally {
  await rm(dir, { recursive: true, force: true });
}
