import { randomBytes } from 'node:crypto';
import { appendFile, readdir, readFile, readlink, realpath, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { crc32, crc32Portable } from '../../src/model/crc32.ts';
import { createFileLog, type EmbeddedEventLog, type FileLogOptions } from '../../src/log/embedded/file-log.ts';
import type { LogRecord, RecordBatch } from '../../src/log/port.ts';
import { ErrorCode, hasCode } from '../../src/model/errors.ts';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { tempDir, waitFor } from '../helpers/wait.ts';

const text = new TextDecoder();
const T = 'events.test';

describe('embedded log', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function dataDir(): Promise<string> {
    const tmp = await tempDir('keyflow-elog-');
    cleanups.push(tmp.remove);
    return tmp.dir;
  }

  function warnings() {
    const lines: string[] = [];
    const push = (_obj: Record<string, unknown>, msg: string) => void lines.push(msg);
    return { lines, logger: { warn: push, error: push } };
  }

  async function open(opts: FileLogOptions): Promise<EmbeddedEventLog> {
    const log = createFileLog(opts);
    await log.start();
    cleanups.push(() => log.close());
    return log;
  }

  async function fill(log: EmbeddedEventLog, n: number, partition = 0, from = 0): Promise<void> {
    await log.append(
      T,
      Array.from({ length: n }, (_, i) => ({ key: `k${from + i}`, value: `value-${String(from + i).padStart(5, '0')}`, partition })),
    );
  }

  /** Byte positions of the frames of a segment image. */
  function frames(buf: Buffer): number[] {
    const out: number[] = [];
    for (let p = 0; p + 8 <= buf.length; p += 8 + buf.readUInt32BE(p)) out.push(p);
    return out;
  }

  async function segments(dir: string, partition = 0): Promise<string[]> {
    return (await readdir(join(dir, 'log', T, String(partition)))).filter((n) => n.endsWith('.log')).sort();
  }

  it('uses a CRC-32 identical to the reference implementation', () => {
    const data = randomBytes(10_000);
    expect(crc32(data)).toBe(crc32Portable(data));
    expect(crc32(data, 100, 900)).toBe(crc32Portable(data, 100, 900));
    // The standard check value of CRC-32/ISO-HDLC.
    expect(crc32Portable(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('keeps topics, records and offsets across a reopen', async () => {
    const dir = await dataDir();
    const a = createFileLog({ dataDir: dir, segmentBytes: 2048 });
    await a.start();
    await a.ensureTopics([{ name: T, partitions: 2 }]);
    for (let i = 0; i < 10; i++) await fill(a, 10, 0, i * 10);
    await fill(a, 3, 1);
    await a.close();
    const b = await open({ dataDir: dir, segmentBytes: 2048 });
    expect(await b.partitions(T)).toBe(2);
    expect(await b.endOffsets(T)).toEqual([100, 3]);
    const all = await b.read(T, 0, 0, 1000);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(all.map((r) => text.decode(r.value))).toEqual(Array.from({ length: 100 }, (_, i) => `value-${String(i).padStart(5, '0')}`));
    expect((await segments(dir)).length).toBeGreaterThan(2);
    const [next] = await b.append(T, [{ key: null, value: 'x', partition: 0 }]);
    expect(next!.offset).toBe(100);
  });

  it('truncates a torn last record on reopen and appends at the right offset', async () => {
    const dir = await dataDir();
    const a = createFileLog({ dataDir: dir });
    await a.start();
    await a.ensureTopics([{ name: T, partitions: 1 }]);
    await fill(a, 10);
    await a.close();
    const [seg] = await segments(dir);
    const path = join(dir, 'log', T, '0', seg!);
    const intact = (await stat(path)).size;
    // The start of a frame whose body never made it to disk: a length promising 200 bytes, then 30.
    const torn = Buffer.alloc(38);
    torn.writeUInt32BE(200, 0);
    torn.writeUInt32BE(0xdeadbeef, 4);
    await appendFile(path, torn);
    const w = warnings();
    const b = await open({ dataDir: dir, logger: w.logger });
    expect(await b.endOffsets(T)).toEqual([10]);
    expect(w.lines.some((l) => l.includes('torn record'))).toBe(true);
    expect((await stat(path)).size).toBe(intact);
    expect((await b.read(T, 0, 0, 100)).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    const [r] = await b.append(T, [{ key: 'after', value: 'after-crash', partition: 0 }]);
    expect(r!.offset).toBe(10);
    const back = await b.read(T, 0, 9, 10);
    expect(back.map((x) => [x.offset, x.key])).toEqual([
      [9, 'k9'],
      [10, 'after'],
    ]);
  });

  it('treats a random garbage tail the same way', async () => {
    const dir = await dataDir();
    const a = createFileLog({ dataDir: dir });
    await a.start();
    await a.ensureTopics([{ name: T, partitions: 1 }]);
    await fill(a, 5);
    await a.close();
    const [seg] = await segments(dir);
    await appendFile(join(dir, 'log', T, '0', seg!), randomBytes(333));
    const b = await open({ dataDir: dir, logger: warnings().logger });
    expect(await b.endOffsets(T)).toEqual([5]);
    await fill(b, 2, 0, 5);
    expect((await b.read(T, 0, 0, 100)).map((r) => r.key)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5', 'k6']);
  });

  it.each([
    ['after a clean close', false],
    ['after a crash (no index sidecar)', true],
  ])('skips a damaged record inside the active segment with a warning, keeping the ones after it — %s', async (_, crashed) => {
    const dir = await dataDir();
    const a = createFileLog({ dataDir: dir });
    await a.start();
    await a.ensureTopics([{ name: T, partitions: 1 }]);
    await fill(a, 20);
    await a.close();
    const [seg] = await segments(dir);
    const path = join(dir, 'log', T, '0', seg!);
    const buf = await readFile(path);
    const at = frames(buf);
    expect(at).toHaveLength(20);
    buf[at[5]! + 40] = buf[at[5]! + 40]! ^ 0xff; // inside record 5's body
    await writeFile(path, buf);
    if (crashed) await rm(path.replace(/\.log$/, '.idx'));
    const w = warnings();
    const b = await open({ dataDir: dir, logger: w.logger });
    expect(await b.endOffsets(T)).toEqual([20]);
    const offsets = (await b.read(T, 0, 0, 100)).map((r) => r.offset);
    expect(offsets).toEqual([0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    // Reported at open after a crash (segment scanned), else when read (clean close: index trusted).
    expect(w.lines.some((l) => l.includes('damaged'))).toBe(true);
    expect((await b.append(T, [{ key: 'n', value: 'n', partition: 0 }]))[0]!.offset).toBe(20);
  });

  it('skips a damaged record in a sealed segment when reading', async () => {
    const dir = await dataDir();
    const a = createFileLog({ dataDir: dir, segmentBytes: 1024 });
    await a.start();
    await a.ensureTopics([{ name: T, partitions: 1 }]);
    for (let i = 0; i < 6; i++) await fill(a, 10, 0, i * 10);
    await a.close();
    const [first] = await segments(dir);
    const path = join(dir, 'log', T, '0', first!);
    const buf = await readFile(path);
    const at = frames(buf);
    buf[at.at(-1)! + 30] = buf[at.at(-1)! + 30]! ^ 0xff; // last record of the first (sealed) segment
    buf[at[0]! + 30] = buf[at[0]! + 30]! ^ 0xff; // first record
    await writeFile(path, buf);
    const w = warnings();
    const b = await open({ dataDir: dir, segmentBytes: 1024, logger: w.logger });
    const recs = await b.read(T, 0, 0, 1000);
    const offsets = recs.map((r) => r.offset);
    const lastOfFirst = at.length - 1;
    expect(offsets).toEqual(Array.from({ length: 60 }, (_, i) => i).filter((o) => o !== 0 && o !== lastOfFirst));
    expect(w.lines.some((l) => l.includes('damaged'))).toBe(true);
  });

  it('deletes the oldest segments when a partition exceeds retentionBytes', async () => {
    const dir = await dataDir();
    const log = await open({ dataDir: dir, segmentBytes: 1024, retentionBytes: 4096 });
    await log.ensureTopics([{ name: T, partitions: 1 }]);
    for (let i = 0; i < 20; i++) await fill(log, 10, 0, i * 10);
    const before = (await segments(dir)).length;
    const deleted = await log.enforceRetention();
    expect(deleted).toBeGreaterThan(0);
    expect((await segments(dir)).length).toBe(before - deleted);
    expect(log.sizes(T)[0]!).toBeLessThanOrEqual(4096);
    const [begin] = await log.beginOffsets(T);
    expect(begin!).toBeGreaterThan(0);
    expect(await log.endOffsets(T)).toEqual([200]);
    // Reading from 0 starts at the first retained record.
    const recs = await log.read(T, 0, 0, 1000);
    expect(recs[0]!.offset).toBe(begin);
    expect(recs.at(-1)!.offset).toBe(199);
  });

  it('keys and headers read back exactly as written, a leading U+FEFF and multi-byte characters included', async () => {
    const log = await open({ dataDir: await dataDir() });
    await log.ensureTopics([{ name: T, partitions: 1 }]);
    const key = '\uFEFFk-ünï-😀';
    const headers = { '\uFEFFname': '\uFEFFvalue', 'x-é': '😀' };
    await log.append(T, [{ key, value: 'v', headers, partition: 0 }, { key: '', value: 'w', headers: { empty: '' }, partition: 0 }]);
    const [a, b] = await log.read(T, 0, 0, 10);
    expect(a!.key).toBe(key);
    expect(a!.headers).toEqual(headers);
    expect(b!.key).toBe('');
    expect(b!.headers).toEqual({ empty: '' });
  });

  /** Segment files (`.log`) of `dir` this process holds open, as /proc/self/fd shows them (" (deleted)" once unlinked). */
  async function openSegmentFiles(dir: string): Promise<string[]> {
    const root = await realpath(dir);
    const out: string[] = [];
    for (const fd of await readdir('/proc/self/fd')) {
      const target = await readlink(`/proc/self/fd/${fd}`).catch(() => '');
      if (target.startsWith(root) && /\.log( \(deleted\))?$/.test(target)) out.push(target);
    }
    return out.sort();
  }

  it.runIf(process.platform === 'linux')('reads keep a bounded set of segment handles open, which see later appends and are closed by retention and close', async () => {
    const dir = await dataDir();
    const log = createFileLog({ dataDir: dir, segmentBytes: 1024, retentionBytes: 4096 });
    await log.start();
    await log.ensureTopics([{ name: T, partitions: 1 }]);
    for (let i = 0; i < 20; i++) await fill(log, 10, 0, i * 10);
    const segs = await segments(dir);
    expect(segs.length).toBeGreaterThan(4);
    const active = segs.at(-1)!;
    // the writer holds the active segment open
    expect((await openSegmentFiles(dir)).map((f) => f.split('/').at(-1))).toEqual([active]);

    // tailing the active segment: one read handle, reused, sees what is appended after it was opened
    const [end] = await log.endOffsets(T);
    expect(await log.read(T, 0, end!, 100)).toEqual([]);
    await fill(log, 1, 0, 200);
    expect((await log.read(T, 0, end!, 100)).map((r) => text.decode(r.value))).toEqual(['value-00200']);
    await fill(log, 1, 0, 201);
    expect((await log.read(T, 0, end! + 1, 100)).map((r) => text.decode(r.value))).toEqual(['value-00201']);
    const nowActive = (await segments(dir)).at(-1)!; // the appends may have rolled a new segment
    expect((await openSegmentFiles(dir)).filter((f) => f.endsWith(nowActive))).toHaveLength(2); // writer + reader

    // reading every segment from the start: at most two read handles stay open, every record is read once in order
    const all = await log.read(T, 0, 0, 1000);
    expect(all.map((r) => r.offset)).toEqual(Array.from({ length: 202 }, (_, i) => i));
    expect((await openSegmentFiles(dir)).length).toBeLessThanOrEqual(3);

    // retention deletes the oldest segments, among them ones with a cached handle: those are closed, reads go on from the new begin
    const first = segs[0]!;
    await log.read(T, 0, 0, 5); // caches the oldest segment's handle
    expect((await openSegmentFiles(dir)).some((f) => f.endsWith(first))).toBe(true);
    expect(await log.enforceRetention()).toBeGreaterThan(0);
    await waitFor(async () => (await openSegmentFiles(dir)).every((f) => !f.endsWith(' (deleted)')));
    const [begin] = await log.beginOffsets(T);
    const rest = await log.read(T, 0, 0, 1000);
    expect(rest[0]!.offset).toBe(begin);
    expect(rest.at(-1)!.offset).toBe(201);

    // close closes every handle
    await log.close();
    await waitFor(async () => (await openSegmentFiles(dir)).length === 0);
  });

  it('deletes segments older than retentionMs (by append time), from its timer too', async () => {
    const dir = await dataDir();
    const clock = createSimulatedClock(1_000_000);
    const log = await open({ dataDir: dir, segmentBytes: 1024, retentionMs: 60_000, retentionCheckMs: 10_000, clock });
    await log.ensureTopics([{ name: T, partitions: 1 }]);
    for (let i = 0; i < 5; i++) await fill(log, 10, 0, i * 10);
    clock.advance(30_000);
    for (let i = 5; i < 10; i++) await fill(log, 10, 0, i * 10);
    const oldEnd = 50;
    // Nothing is old enough yet.
    expect(await log.enforceRetention()).toBe(0);
    // 70 s after the first batch: the segments holding only the first 50 records expire; the timer runs retention.
    clock.advance(40_000);
    const begin = await waitFor(async () => {
      const [b] = await log.beginOffsets(T);
      return b! > 0 ? b : undefined;
    });
    expect(begin).toBeLessThanOrEqual(oldEnd);
    const recs = await log.read(T, 0, 0, 1000);
    expect(recs[0]!.offset).toBe(begin);
    expect(recs.at(-1)!.offset).toBe(99);
    expect(recs.filter((r) => r.offset >= oldEnd)).toHaveLength(50);
  });

  it('keeps every segment when no retention is given (KEYFLOW_LOG_RETENTION_MS=0 means unlimited)', async () => {
    const dir = await dataDir();
    const clock = createSimulatedClock(1_000_000);
    const log = await open({ dataDir: dir, segmentBytes: 1024, clock });
    await log.ensureTopics([{ name: T, partitions: 1 }]);
    for (let i = 0; i < 5; i++) await fill(log, 10, 0, i * 10);
    clock.advance(365 * 86_400_000);
    expect(await log.enforceRetention()).toBe(0);
    expect(await log.beginOffsets(T)).toEqual([0]);
  });

  it('refuses a data dir held by another live process', async () => {
    const dir = await dataDir();
    const a = createFileLog({ dataDir: dir });
    await a.start();
    await a.close();
    // Pretend pid 1 (always alive) holds the lock.
    await writeFile(join(dir, 'log', '.lock'), '1');
    const b = createFileLog({ dataDir: dir });
    const err = await b.start().catch((e: unknown) => e);
    expect(hasCode(err, ErrorCode.INVALID_CONFIG)).toBe(true);
    // A stale lock (dead pid) is taken over.
    await writeFile(join(dir, 'log', '.lock'), '2147483646');
    const c = await open({ dataDir: dir });
    expect((await c.healthy()).connected).toBe(true);
  });

  it('rejects unknown topics, bad partitions and keyless records without a partition', async () => {
    const log = await open({ dataDir: await dataDir() });
    await log.ensureTopics([{ name: T, partitions: 2 }]);
    expect(hasCode(await log.append('nope', [{ key: 'k', value: 'v' }]).catch((e: unknown) => e), ErrorCode.UNKNOWN_TOPIC)).toBe(true);
    expect(hasCode(await log.append(T, [{ key: 'k', value: 'v', partition: 2 }]).catch((e: unknown) => e), ErrorCode.BAD_USER_INPUT)).toBe(true);
    expect(hasCode(await log.append(T, [{ key: null, value: 'v' }]).catch((e: unknown) => e), ErrorCode.BAD_USER_INPUT)).toBe(true);
    expect(hasCode(await log.ensureTopics([{ name: '../x', partitions: 1 }]).catch((e: unknown) => e), ErrorCode.BAD_USER_INPUT)).toBe(true);
  });

  it('concurrent appenders get unique consecutive offsets; a live consumer sees each record once, in order', async () => {
    const log = await open({ dataDir: await dataDir(), segmentBytes: 8192 });
    await log.ensureTopics([{ name: T, partitions: 2 }]);
    const seen: number[][] = [[], []];
    const c = log.consumer({
      groupId: 'g',
      topics: [T],
      maxBatchRecords: 37,
      handlers: {
        onAssigned: async () => undefined,
        onRevoked: async () => undefined,
        onBatch: async (b) => {
          for (const r of b.records) seen[b.partition]!.push(r.offset);
        },
      },
    });
    await c.start();
    const offsets: number[][] = [[], []];
    await Promise.all(
      Array.from({ length: 6 }, async (_, w) => {
        for (let i = 0; i < 25; i++) {
          const res = await log.append(
            T,
            Array.from({ length: 1 + ((w + i) % 9) }, (_, j) => ({ key: `w${w}-${i}-${j}`, value: `${w}:${i}:${j}`, partition: (w + j) % 2 })),
          );
          for (const r of res) offsets[r.partition]!.push(r.offset);
        }
      }),
    );
    const ends = await log.endOffsets(T);
    for (const p of [0, 1]) {
      expect([...offsets[p]!].sort((a, b) => a - b)).toEqual(Array.from({ length: ends[p]! }, (_, i) => i));
    }
    await waitFor(() => seen[0]!.length === ends[0] && seen[1]!.length === ends[1]);
    for (const p of [0, 1]) expect(seen[p]).toEqual(Array.from({ length: ends[p]! }, (_, i) => i));
    await c.stop();
  });

  it('consumer: redelivers a batch whose handler failed, from the same offset', async () => {
    const log = await open({ dataDir: await dataDir(), logger: warnings().logger });
    await log.ensureTopics([{ name: T, partitions: 1 }]);
    await fill(log, 5);
    const seen: number[][] = [];
    let fail = true;
    const c = log.consumer({
      groupId: 'g',
      topics: [T],
      handlers: {
        onAssigned: async () => undefined,
        onRevoked: async () => undefined,
        onBatch: async (b) => {
          seen.push(b.records.map((r) => r.offset));
          if (fail) {
            fail = false;
            throw new Error('transient (expected in this test)');
          }
        },
      },
    });
    await c.start();
    await waitFor(() => seen.length >= 2);
    expect(seen[0]).toEqual([0, 1, 2, 3, 4]);
    expect(seen[1]).toEqual([0, 1, 2, 3, 4]);
    await c.stop();
  });

  it('consumer: stop waits for the batch in flight and delivers nothing after', async () => {
    const log = await open({ dataDir: await dataDir() });
    await log.ensureTopics([{ name: T, partitions: 2 }]);
    await fill(log, 3, 0);
    const events: string[] = [];
    let release: () => void = () => undefined;
    const blocked = new Promise<void>((r) => (release = r));
    const batches: RecordBatch[] = [];
    const c = log.consumer({
      groupId: 'g',
      topics: [T],
      handlers: {
        onAssigned: async () => undefined,
        onRevoked: async () => {
          events.push('revoked');
        },
        onBatch: async (b) => {
          batches.push(b);
          events.push(`batch-start-${b.partition}`);
          await blocked;
          events.push(`batch-end-${b.partition}`);
        },
      },
    });
    await c.start();
    await waitFor(() => batches.length === 1);
    const stopped = c.stop().then(() => events.push('stopped'));
    await new Promise((r) => setTimeout(r, 20));
    expect(events).toEqual(['batch-start-0']);
    release();
    await stopped;
    await fill(log, 3, 1);
    await new Promise((r) => setTimeout(r, 50));
    expect(events).toEqual(['batch-start-0', 'batch-end-0', 'stopped']);
  });

  it('consumer: partitions of a topic created after start are assigned too; committed offsets survive a reopen', async () => {
    const dir = await dataDir();
    const a = createFileLog({ dataDir: dir });
    await a.start();
    const got: LogRecord[] = [];
    const assigned: string[] = [];
    const handlers = {
      onAssigned: async (tps: { topic: string; partition: number }[]) => {
        for (const tp of tps) assigned.push(`${tp.topic}/${tp.partition}`);
        return undefined;
      },
      onRevoked: async () => undefined,
      onBatch: async (b: RecordBatch) => {
        got.push(...b.records);
      },
    };
    const c = a.consumer({ groupId: 'g1', topics: [T], handlers });
    await c.start();
    await a.ensureTopics([{ name: T, partitions: 2 }]);
    await waitFor(() => assigned.length === 2);
    await fill(a, 4, 1);
    await waitFor(() => got.length === 4);
    await c.commit({ topic: T, partition: 1 }, 3);
    await c.stop();
    await a.close();
    const b = await open({ dataDir: dir });
    got.length = 0;
    const c2 = b.consumer({ groupId: 'g1', topics: [T], handlers });
    await c2.start();
    await waitFor(() => got.length === 1);
    expect(got.map((r) => [r.partition, r.offset])).toEqual([[1, 3]]);
    await c2.stop();
  });
});
