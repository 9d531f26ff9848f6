/**
 * The embedded dedupe index (issue 8, part 1): memory per entry and claim/complete cost, before
 * (an LRU `Map<eventId, { receipt, expiresAt }>`, reproduced here as it was) and after (the
 * compact index: 64-bit fingerprint + receipt in typed arrays), with 256-character eventIds; and
 * the start-up rebuild of the index from the embedded log (records per second).
 *
 *   npm run bench -- --only dedupe [--quick]
 *
 * Memory is the growth of V8's heap plus array buffers after a forced GC, divided by the entries,
 * with the eventId strings the publishes carried no longer referenced by anything but the index.
 * Cost is CPU time (process.cpuUsage) per claim + complete of a new eventId.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMemoryDedupe } from '../src/ingest/dedupe/memory.ts';
import type { StoredReceipt } from '../src/ingest/dedupe/port.ts';
import { createFileLog } from '../src/log/embedded/file-log.ts';
import { encodeEnvelope } from '../src/model/event.ts';
import type { BenchContext } from './embedded.ts';
import { fmtInt } from './lib/stats.ts';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function heap(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

/** The embedded dedupe as it was before issue 8: an LRU map keyed by the eventId string. */
function lruBefore(maxEntries: number) {
  const entries = new Map<string, { receipt: StoredReceipt | null; expiresAt: number }>();
  const set = (id: string, e: { receipt: StoredReceipt | null; expiresAt: number }) => {
    entries.delete(id);
    entries.set(id, e);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value as string);
  };
  return {
    claim(id: string): string {
      const e = entries.get(id);
      if (e && e.expiresAt > Date.now()) {
        set(id, e);
        return e.receipt ? 'done' : 'pending';
      }
      set(id, { receipt: null, expiresAt: Date.now() + 30_000 });
      return 'claimed';
    },
    complete(id: string, receipt: StoredReceipt) {
      set(id, { receipt: { ...receipt }, expiresAt: Date.now() + 86_400_000 });
    },
    size: () => entries.size,
  };
}

/** A 256-character eventId, built as a publish would receive it (a fresh flat string per request). */
function eventId(i: number): string {
  const tail = `-${i.toString(36)}`;
  return JSON.parse(`"${'e'.repeat(256 - tail.length)}${tail}"`) as string;
}

const receipt = (i: number): StoredReceipt => ({ topic: 'events.iot.sensors', partition: i % 12, offset: i, timestamp: 1_768_471_200_000 + i });

async function memoryAndCost(n: number): Promise<void> {
  process.stdout.write(`entries: ${fmtInt(n)}, eventIds of 256 characters\n`);
  const rows: { name: string; bytes: number; opsPerCpuS: number }[] = [];
  for (const name of ['before: LRU Map<eventId, receipt>', 'after: compact index (fingerprint + receipt)']) {
    const base = heap();
    const before = name.startsWith('before') ? lruBefore(n) : null;
    const after = before ? null : createMemoryDedupe({ maxEntries: n, ttlMs: 86_400_000 });
    const cpu0 = process.cpuUsage();
    for (let i = 0; i < n; i++) {
      const id = eventId(i);
      if (before) {
        before.claim(id);
        before.complete(id, receipt(i));
      } else {
        await after!.claim(id);
        await after!.complete(id, receipt(i));
      }
    }
    const cpu = process.cpuUsage(cpu0);
    const bytes = (heap() - base) / n;
    // still there (and the index kept alive until measured)
    const probe = eventId(n - 1);
    const ok = before ? before.claim(probe) === 'done' : (await after!.claim(probe)).status === 'done';
    if (!ok) throw new Error(`${name}: the last entry is missing`);
    rows.push({ name, bytes, opsPerCpuS: n / ((cpu.user + cpu.system) / 1e6) });
    if (after) await after.close();
  }
  for (const r of rows) process.stdout.write(`  ${r.name.padEnd(48)} ${r.bytes.toFixed(0).padStart(5)} B/entry   ${fmtInt(r.opsPerCpuS)} claim+complete per CPU-second\n`);
  const [b, a] = rows as [(typeof rows)[0], (typeof rows)[0]];
  process.stdout.write(`  ratio: ${(b.bytes / a.bytes).toFixed(1)}x less memory, ${(a.opsPerCpuS / b.opsPerCpuS).toFixed(2)}x the claim+complete rate\n`);
  process.stdout.write(`  at the default KEYFLOW_DEDUPE_MAX_ENTRIES (1,000,000): before ~${((b.bytes * 1e6) / 1024 ** 2).toFixed(0)} MiB, after ~${((a.bytes * 1e6) / 1024 ** 2).toFixed(0)} MiB\n`);
}

async function rebuild(n: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyflow-bench-dedupe-'));
  const topic = 'events.iot.sensors';
  try {
    const logger = { warn() {}, error() {} };
    let log = createFileLog({ dataDir: dir, logger });
    await log.start();
    await log.ensureTopics([{ name: topic, partitions: 12 }]);
    const now = Date.now();
    for (let i = 0; i < n; i += 1000) {
      const records = [];
      for (let j = i; j < Math.min(n, i + 1000); j++) {
        const value = encodeEnvelope({ eventId: eventId(j), timestamp: now, eventType: 'iot.sensor', userId: null, deviceId: `d${j % 5000}`, payload: { value: j }, metadata: null });
        records.push({ key: `d${j % 5000}`, value });
      }
      await log.append(topic, records);
    }
    await log.close();
    log = createFileLog({ dataDir: dir, logger });
    await log.start();
    const d = createMemoryDedupe({ maxEntries: 1_000_000, ttlMs: 86_400_000, recover: { log, topics: () => [topic] } });
    const cpu0 = process.cpuUsage();
    await d.start();
    const cpu = process.cpuUsage(cpu0);
    const r = d.recovery!;
    const cpuS = (cpu.user + cpu.system) / 1e6;
    process.stdout.write(
      `rebuild at start: ${fmtInt(r.records)} records (~400-byte values, 256-character eventIds) in ${r.ms} ms wall, ${cpuS.toFixed(2)} CPU-s: ${fmtInt(r.records / cpuS)} records per CPU-second; ${fmtInt(r.indexed)} indexed\n`,
    );
    process.stdout.write(`  at 1,000,000 records: ~${(1e6 / (r.records / cpuS)).toFixed(1)} CPU-s of start-up\n`);
    await d.close();
    await log.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchDedupe(ctx: BenchContext): Promise<void> {
  await memoryAndCost(ctx.quick ? 50_000 : 200_000);
  await rebuild(ctx.quick ? 50_000 : 200_000);
}
