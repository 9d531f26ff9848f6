/**
 * Storage faults of the embedded log and the file checkpoint store: torn and cut tails, a full
 * disk and I/O errors (injected through `openSegment`), failed segment rolls, damaged advisory
 * files. Each test says what the user sees: a typed retriable error, an error line naming the
 * file or the partition and range, and nothing lost or duplicated.
 */
import { readdir, readFile, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/core/telemetry/metrics.ts';
import { createFileLog, type EmbeddedEventLog, type FileLogOptions } from '../../src/log/embedded/file-log.ts';
import type { LogRecord } from '../../src/log/port.ts';
import { checkResumeOffset, resumeOffset } from '../../src/log/resume-offset.ts';
import { ErrorCode, hasCode } from '../../src/model/errors.ts';
import { createFileCheckpoints } from '../../src/state/file/file-checkpoints.ts';
import { createFaultyDisk } from '../helpers/faulty-disk.ts';
import { createEmbeddedHarness } from '../helpers/graphql-harness.ts';
import { DRIVER_TOPIC, createProcessorDriver } from '../helpers/processor-driver.ts';
import { tempDir, waitFor } from '../helpers/wait.ts';

const T = 'events.test';
const text = new TextDecoder();

interface Line {
  level: 'warn' | 'error';
  obj: Record<string, unknown>;
  msg: string;
}

function recorder() {
  const lines: Line[] = [];
  return {
    lines,
    logger: {
      warn: (obj: Record<string, unknown>, msg: string) => void lines.push({ level: 'warn', obj, msg }),
      error: (obj: Record<string, unknown>, msg: string) => void lines.push({ level: 'error', obj, msg }),
    },
    errors: (event: string) => lines.filter((l) => l.level === 'error' && l.obj.event === event),
  };
}

describe('storage faults', () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function dataDir(): Promise<string> {
    const tmp = await tempDir('keyflow-faults-');
    cleanups.push(tmp.remove);
    return tmp.dir;
  }

  async function open(opts: FileLogOptions, partitions = 1): Promise<EmbeddedEventLog> {
    const log = createFileLog({ idlePollMs: 50, ...opts });
    await log.start();
    cleanups.push(() => log.close());
    await log.ensureTopics([{ name: T, partitions }]);
    return log;
  }

  function records(n: number, partitions: number, tag = 'r') {
    return Array.from({ length: n }, (_, i) => ({ key: `${tag}${i}`, value: `${tag}-value-${i}`, partition: i % partitions }));
  }

  async function readAll(log: EmbeddedEventLog, partition: number): Promise<LogRecord[]> {
    return log.read(T, partition, 0, 100_000);
  }

  async function activeSegment(dir: string, partition = 0): Promise<string> {
    const names = (await readdir(join(dir, 'log', T, String(partition)))).filter((n) => n.endsWith('.log')).sort();
    return join(dir, 'log', T, String(partition), names[names.length - 1]!);
  }

  describe('durability against checkpoints', () => {
    it('flush fsyncs once for all concurrent callers and records the recovery point', async () => {
      const dir = await dataDir();
      const disk = createFaultyDisk();
      const log = await open({ dataDir: dir, openSegment: disk.openSegment });
      await log.append(T, records(10, 1));
      const before = disk.datasyncs;
      await Promise.all(Array.from({ length: 20 }, (_, i) => log.flush(T, 0, 1 + (i % 10))));
      expect(disk.datasyncs - before).toBeLessThanOrEqual(2);
      expect(disk.datasyncs - before).toBeGreaterThanOrEqual(1);
      // Already durable: no further fsync.
      await log.flush(T, 0, 10);
      expect(disk.datasyncs - before).toBeLessThanOrEqual(2);
      const points = JSON.parse(await readFile(join(dir, 'log', 'recovery-points.json'), 'utf8')) as { points: Record<string, number> };
      expect(points.points[`${T}/0`]).toBe(10);
    });

    it('a failing fsync fails the flush with a retriable BROKER_UNAVAILABLE (so the checkpoint is not committed)', async () => {
      const disk = createFaultyDisk();
      const log = await open({ dataDir: await dataDir(), openSegment: disk.openSegment, logger: recorder().logger });
      await log.append(T, records(3, 1));
      disk.failNext('datasync', `/${T}/0/`, { code: 'EIO' });
      const err = await log.flush(T, 0, 3).catch((e: unknown) => e);
      expect(hasCode(err, ErrorCode.BROKER_UNAVAILABLE)).toBe(true);
      expect((err as { retriable: boolean }).retriable).toBe(true);
      await log.flush(T, 0, 3);
    });

    it('the processor flushes the log up to the offset a checkpoint covers before committing it, and commits nothing when the flush fails', async () => {
      const d = await createProcessorDriver({ partitions: 2 });
      cleanups.push(() => d.close());
      const flushes: { partition: number; nextOffset: number; committedBefore: number }[] = [];
      let failFlushes = 0;
      let store: { load(t: string, p: number): Promise<{ nextOffset: number } | null> } | undefined;
      d.log.flush = async (topic, partition, nextOffset) => {
        if (failFlushes > 0) {
          failFlushes--;
          throw Object.assign(new Error('simulated fsync failure'), { code: 'EIO' });
        }
        flushes.push({ partition, nextOffset, committedBefore: (await store?.load(topic, partition))?.nextOffset ?? 0 });
      };
      const m = await d.member('a');
      store = m.store;
      await m.assign([0, 1]);
      const t = Date.parse('2026-01-15T10:00:00.000Z');
      const records = await d.publish(Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, timestamp: t + i * 1000, value: i })));
      const ends = [0, 1].map((p) => records.filter((r) => r.partition === p).length);
      await m.pump();
      failFlushes = 2;
      await d.advance(1000);
      for (const p of [0, 1]) expect((await m.store.load(DRIVER_TOPIC, p))?.nextOffset ?? 0).toBe(0);
      await d.advance(1000);
      for (const p of [0, 1]) {
        expect((await m.store.load(DRIVER_TOPIC, p))?.nextOffset).toBe(ends[p]);
        // flushed to exactly what the checkpoint covers, while the store still held the older checkpoint
        expect(flushes).toContainEqual({ partition: p, nextOffset: ends[p], committedBefore: 0 });
      }
    });

    it('a tail cut below the flushed offset is reported with its range, and no offset is handed out twice (issue 9 repro)', async () => {
      const dir = await dataDir();
      const a = createFileLog({ dataDir: dir, logger: recorder().logger });
      await a.start();
      await a.ensureTopics([{ name: T, partitions: 1 }]);
      await a.append(T, records(10, 1));
      await a.flush(T, 0, 10); // what the processor does before its checkpoint covers offset 9
      await a.close();
      const path = await activeSegment(dir);
      await truncate(path, (await stat(path)).size - 5);

      const rec = recorder();
      const b = await open({ dataDir: dir, logger: rec.logger });
      const lost = rec.errors('log.data_lost');
      expect(lost).toHaveLength(1);
      expect(lost[0]!.obj).toMatchObject({ topic: T, partition: 0, missingFrom: 9, missingTo: 9 });
      expect(lost[0]!.msg).toContain(`${T}/0 lost offsets 9..9`);
      expect(await b.endOffsets(T)).toEqual([10]);
      const [next] = await b.append(T, [{ key: 'after', value: 'after-restart', partition: 0 }]);
      expect(next!.offset).toBe(10);
      expect((await readAll(b, 0)).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 10]);

      // And it stays that way across another restart.
      await b.close();
      const c = await open({ dataDir: dir, logger: recorder().logger });
      expect(await c.endOffsets(T)).toEqual([11]);
      expect((await readAll(c, 0)).map((r) => r.offset)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 10]);
    });

    it('a lost partition directory continues at its recovery point', async () => {
      const dir = await dataDir();
      const a = createFileLog({ dataDir: dir });
      await a.start();
      await a.ensureTopics([{ name: T, partitions: 2 }]);
      await a.append(T, records(8, 2));
      await a.close();
      const seg = await activeSegment(dir, 1);
      await writeFile(seg, '');
      const rec = recorder();
      const b = await open({ dataDir: dir, logger: rec.logger }, 2);
      expect(rec.errors('log.data_lost')[0]!.obj).toMatchObject({ partition: 1, missingFrom: 0, missingTo: 3 });
      expect(await b.endOffsets(T)).toEqual([4, 4]);
      expect((await b.append(T, [{ key: 'x', value: 'x', partition: 1 }]))[0]!.offset).toBe(4);
    });

    it('a checkpoint ahead of the log end or below its retained start is reported with the range and counted', async () => {
      const dir = await dataDir();
      const log = await open({ dataDir: dir, segmentBytes: 256, retentionBytes: 300 });
      for (let i = 0; i < 20; i++) await log.append(T, [{ key: `k${i}`, value: `value-${i}`, partition: 0 }]);
      await log.enforceRetention();
      const [begin] = await log.beginOffsets(T);
      expect(begin).toBeGreaterThan(3);
      const metrics = createMetrics(undefined, { defaultMetrics: false });
      const errors: { obj: Record<string, unknown>; msg: string }[] = [];
      const report = {
        logger: { error: (obj: Record<string, unknown>, msg: string) => void errors.push({ obj, msg }), warn: () => {} },
        metrics,
      };

      await checkResumeOffset(log, T, 0, 3, report);
      expect(errors[0]!.obj).toMatchObject({ event: 'log.replay_gap', topic: T, partition: 0, missingFrom: 3, missingTo: begin! - 1 });
      expect(errors[0]!.msg).toContain('not counted');

      await checkResumeOffset(log, T, 0, 25, report);
      expect(errors[1]!.obj).toMatchObject({ event: 'log.replay_gap', missingFrom: 20, missingTo: 24 });

      const counted = (await metrics.registry.getSingleMetric('keyflow_replay_gap_records_total')!.get()).values;
      expect(counted.find((v) => v.labels.reason === 'below_log_start')?.value).toBe(begin! - 3);
      expect(counted.find((v) => v.labels.reason === 'beyond_log_end')?.value).toBe(5);

      // A checkpoint the log can serve: nothing to report.
      await checkResumeOffset(log, T, 0, 20, report);
      expect(errors).toHaveLength(2);

      // At assignment: the checkpoint's offset at once (no round trip), the check reported beside it; none: the log start.
      expect(await resumeOffset(log, T, 0, 2, report)).toBe(2);
      await waitFor(() => errors.length === 3);
      expect(errors[2]!.obj).toMatchObject({ missingFrom: 2 });
      expect(await resumeOffset(log, T, 0, undefined, report)).toBe(begin);
    });
  });

  describe('append atomicity', () => {
    it('a multi-partition append that fails on one partition leaves nothing behind, and its retry appends each record once', async () => {
      const dir = await dataDir();
      const disk = createFaultyDisk();
      const log = await open({ dataDir: dir, openSegment: disk.openSegment, logger: recorder().logger }, 3);
      await log.append(T, records(3, 3, 'before'));
      const sizes = log.sizes(T);
      disk.failNext('write', `/${T}/1/`, { code: 'ENOSPC', partialBytes: 7 });
      const batch = records(9, 3, 'batch');
      const err = await log.append(T, batch).catch((e: unknown) => e);
      expect(hasCode(err, ErrorCode.BROKER_UNAVAILABLE)).toBe(true);
      expect((err as { retriable: boolean }).retriable).toBe(true);
      expect(await log.endOffsets(T)).toEqual([1, 1, 1]);
      expect(log.sizes(T)).toEqual(sizes);
      for (let p = 0; p < 3; p++) expect((await stat(await activeSegment(dir, p))).size).toBe(sizes[p]);

      await log.append(T, batch);
      const keys = (await Promise.all([0, 1, 2].map((p) => readAll(log, p)))).flat().map((r) => r.key);
      expect(keys.filter((k) => k?.startsWith('batch')).sort()).toEqual(batch.map((r) => r.key).sort());
    });

    it('a failed segment roll keeps the partition writable (no TypeError)', async () => {
      const dir = await dataDir();
      const disk = createFaultyDisk();
      const log = await open({ dataDir: dir, segmentBytes: 200, openSegment: disk.openSegment, logger: recorder().logger });
      await log.append(T, records(3, 1, 'a'));
      disk.failNext('create', `/${T}/0/`);
      const err = await log.append(T, records(3, 1, 'b')).catch((e: unknown) => e);
      expect(hasCode(err, ErrorCode.BROKER_UNAVAILABLE)).toBe(true);
      await log.append(T, records(3, 1, 'c'));
      await log.close();
      const again = await open({ dataDir: dir });
      expect((await readAll(again, 0)).map((r) => r.key)).toEqual(['a0', 'a1', 'a2', 'c0', 'c1', 'c2']);
    });

    it('a cut-back that fails is redone before the next write, so readers never see the failed bytes', async () => {
      const dir = await dataDir();
      const disk = createFaultyDisk();
      const log = await open({ dataDir: dir, openSegment: disk.openSegment, logger: recorder().logger });
      await log.append(T, records(2, 1, 'a'));
      disk.failNext('write', `/${T}/0/`, { code: 'EIO', partialBytes: 11 });
      disk.failNext('truncate', `/${T}/0/`, { code: 'EIO' });
      await expect(log.append(T, records(2, 1, 'b'))).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE });
      await log.append(T, records(2, 1, 'c'));
      expect((await readAll(log, 0)).map((r) => r.key)).toEqual(['a0', 'a1', 'c0', 'c1']);
      await log.close();
      const rec = recorder();
      const again = await open({ dataDir: dir, logger: rec.logger });
      expect((await readAll(again, 0)).map((r) => r.key)).toEqual(['a0', 'a1', 'c0', 'c1']);
      expect(rec.lines).toEqual([]);
    });

    it('property: with random write failures, the log holds exactly the appends that succeeded, in order, before and after a restart', async () => {
      const root = await dataDir();
      let run = 0;
      await fc.assert(
        fc.asyncProperty(
          fc.array(
            fc.record({
              partitions: fc.uniqueArray(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
              size: fc.integer({ min: 1, max: 6 }),
              fail: fc.option(fc.record({ partition: fc.integer({ min: 0, max: 3 }), op: fc.constantFrom('write' as const, 'create' as const, 'datasync' as const) }), { freq: 2 }),
            }),
            { minLength: 1, maxLength: 12 },
          ),
          async (calls) => {
            const dir = join(root, String(run++));
            const disk = createFaultyDisk();
            const log = createFileLog({ dataDir: dir, segmentBytes: 300, openSegment: disk.openSegment, logger: recorder().logger });
            await log.start();
            await log.ensureTopics([{ name: T, partitions: 4 }]);
            const model: string[][] = [[], [], [], []];
            let n = 0;
            for (const call of calls) {
              const batch = Array.from({ length: call.size }, (_, i) => {
                const partition = call.partitions[i % call.partitions.length]!;
                return { key: `k${n}`, value: `v${n++}`, partition };
              });
              if (call.fail) disk.failNext(call.fail.op, `/${T}/${call.fail.partition}/`, { partialBytes: 5 });
              const ok = await log.append(T, batch, { sync: call.fail?.op === 'datasync' }).then(
                () => true,
                (e: unknown) => {
                  if (!hasCode(e, ErrorCode.BROKER_UNAVAILABLE)) throw e;
                  return false;
                },
              );
              if (ok) for (const r of batch) model[r.partition]!.push(r.key);
              // a planned fault that did not fire (its partition was not written, no roll) must not leak into the next call
              disk.clear();
            }
            const read = async (l: EmbeddedEventLog) => Promise.all([0, 1, 2, 3].map(async (p) => (await l.read(T, p, 0, 10_000)).map((r) => r.key)));
            expect(await read(log)).toEqual(model);
            await log.close();
            const again = createFileLog({ dataDir: dir, logger: recorder().logger });
            await again.start();
            try {
              expect(await read(again)).toEqual(model);
              const ends = await again.endOffsets(T);
              expect(ends).toEqual(model.map((m) => m.length));
            } finally {
              await again.close();
            }
          },
        ),
        { numRuns: 100 },
      );
    }, 120_000);
  });

  describe('through the GraphQL API', () => {
    const PUBLISH = 'mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { status eventId partition offset } }';
    const batch = (tag: string) =>
      Array.from({ length: 12 }, (_, i) => ({ eventId: `${tag}-${i}`, eventType: 'iot.sensor', deviceId: `dev-${i}`, timestamp: '2025-06-01T10:00:00.000Z', payload: { value: i } }));

    it('a publishEvents batch whose write fails on one partition is retried by the ingest and lands once per event', async () => {
      const disk = createFaultyDisk();
      const h = await createEmbeddedHarness({ openSegment: disk.openSegment, feedBus: false });
      cleanups.push(() => h.close());
      const inputs = batch('partial');
      const warm = (await h.gql(PUBLISH, { inputs: batch('warm') })).body.data!.publishEvents as { partition: number }[];
      const partitions = new Set(warm.map((r) => r.partition)).size;
      expect(partitions).toBeGreaterThan(3);
      disk.failNext('write', '/events.iot.sensors/', { code: 'EIO', partialBytes: 9 });
      const res = await h.gql(PUBLISH, { inputs });
      expect(res.body.errors).toBeUndefined();
      expect((res.body.data!.publishEvents as { status: string }[]).every((r) => r.status === 'ACCEPTED')).toBe(true);
      const ids = (await h.records('events.iot.sensors')).map((r) => (JSON.parse(text.decode(r.value)) as { eventId: string }).eventId).filter((id) => id.startsWith('partial'));
      expect(ids.sort()).toEqual(inputs.map((e) => e.eventId).sort());
    });

    it('on a full disk publishEvents answers BROKER_UNAVAILABLE and appends nothing; the retry after space is freed lands once', async () => {
      const disk = createFaultyDisk();
      const h = await createEmbeddedHarness({ openSegment: disk.openSegment, feedBus: false });
      cleanups.push(() => h.close());
      const inputs = batch('full');
      disk.full = 'ENOSPC';
      const refused = await h.gql(PUBLISH, { inputs });
      expect(refused.body.errors?.[0]?.extensions.code).toBe('BROKER_UNAVAILABLE');
      expect(await h.records('events.iot.sensors')).toEqual([]);
      disk.full = null;
      const ok = await h.gql(PUBLISH, { inputs });
      expect((ok.body.data!.publishEvents as { status: string }[]).map((r) => r.status)).toEqual(inputs.map(() => 'ACCEPTED'));
      expect((await h.records('events.iot.sensors')).length).toBe(inputs.length);
    });
  });

  describe('disk full', () => {
    it('appends fail with a retriable BROKER_UNAVAILABLE and one error line; consumers deliver nothing until the disk takes writes again', async () => {
      const dir = await dataDir();
      const disk = createFaultyDisk();
      const rec = recorder();
      const log = await open({ dataDir: dir, openSegment: disk.openSegment, logger: rec.logger }, 2);
      await log.append(T, records(4, 2, 'ok'));
      disk.full = 'ENOSPC';
      for (let i = 0; i < 3; i++) {
        const err = await log.append(T, records(2, 2, `full${i}`)).catch((e: unknown) => e);
        expect(hasCode(err, ErrorCode.BROKER_UNAVAILABLE)).toBe(true);
        expect((err as { retriable: boolean }).retriable).toBe(true);
        expect((err as Error).message).toContain('disk is full');
      }
      const faults = rec.errors('log.storage_fault');
      expect(faults).toHaveLength(1);
      expect(faults[0]!.obj).toMatchObject({ code: 'ENOSPC', topic: T });
      expect(faults[0]!.msg).toContain('disk full');
      expect(log.storageFault()).toBe('ENOSPC');

      const seen: string[] = [];
      const consumer = log.consumer({
        groupId: 'g',
        topics: [T],
        handlers: {
          onAssigned: async () => undefined,
          onRevoked: async () => undefined,
          onBatch: async (b) => {
            for (const r of b.records) seen.push(r.key!);
          },
        },
      });
      await consumer.start();
      cleanups.push(() => consumer.stop());
      // The point of this pause: several probe intervals (50 ms) pass and nothing is delivered.
      await new Promise((r) => setTimeout(r, 400));
      expect(seen).toEqual([]);

      disk.full = null;
      await waitFor(() => seen.length === 4);
      expect(seen.sort()).toEqual(['ok0', 'ok1', 'ok2', 'ok3']);
      expect(log.storageFault()).toBeNull();
      expect(rec.lines.some((l) => l.obj.event === 'log.storage_recovered')).toBe(true);
      await log.append(T, records(2, 2, 'after'));
      await waitFor(() => seen.length === 6);
    });
  });

  describe('damaged advisory files', () => {
    async function populated(): Promise<string> {
      const dir = await dataDir();
      const a = createFileLog({ dataDir: dir });
      await a.start();
      await a.ensureTopics([
        { name: T, partitions: 3 },
        { name: 'events.other', partitions: 2 },
      ]);
      await a.append(T, records(6, 3));
      const c = a.consumer({
        groupId: 'g',
        topics: [T],
        handlers: { onAssigned: async () => undefined, onRevoked: async () => undefined, onBatch: async () => {} },
      });
      await c.start();
      await c.commit({ topic: T, partition: 0 }, 2);
      await c.stop();
      await a.close();
      return dir;
    }

    async function cutInHalf(path: string): Promise<void> {
      await truncate(path, Math.floor((await stat(path)).size / 2));
    }

    it('a truncated topics.json is set aside with an error naming it and rebuilt from the directories', async () => {
      const dir = await populated();
      const path = join(dir, 'log', 'topics.json');
      await cutInHalf(path);
      const rec = recorder();
      const log = createFileLog({ dataDir: dir, logger: rec.logger });
      await log.start();
      cleanups.push(() => log.close());
      const damaged = rec.errors('file.damaged');
      expect(damaged).toHaveLength(1);
      expect(damaged[0]!.obj.file).toBe(path);
      expect(damaged[0]!.msg).toContain(path);
      expect((await readdir(join(dir, 'log'))).some((n) => n.startsWith('topics.json.damaged-'))).toBe(true);
      expect(await log.partitions(T)).toBe(3);
      expect(await log.partitions('events.other')).toBe(2);
      expect((await readAll(log, 1)).map((r) => text.decode(r.value))).toEqual(['r-value-1', 'r-value-4']);
      // rebuilt on disk too
      expect(JSON.parse(await readFile(path, 'utf8')).topics).toEqual({ [T]: 3, 'events.other': 2 });
    });

    it('a truncated group offsets file is set aside with an error naming it; the group starts over', async () => {
      const dir = await populated();
      const path = join(dir, 'log', 'groups', 'g.json');
      await writeFile(path, '{"events.test/0": 2, "events.te');
      const rec = recorder();
      const log = createFileLog({ dataDir: dir, logger: rec.logger });
      await log.start();
      cleanups.push(() => log.close());
      const seen: number[] = [];
      const c = log.consumer({
        groupId: 'g',
        topics: [T],
        handlers: {
          onAssigned: async () => undefined,
          onRevoked: async () => undefined,
          onBatch: async (b) => {
            if (b.partition === 0) for (const r of b.records) seen.push(r.offset);
          },
        },
      });
      await c.start();
      cleanups.push(() => c.stop());
      expect(rec.errors('file.damaged')[0]!.obj.file).toBe(path);
      await waitFor(() => seen.length === 2);
      expect(seen).toEqual([0, 1]);
    });

    it('damaged recovery points and segment indexes are set aside or rebuilt with an error naming the file', async () => {
      const dir = await populated();
      const points = join(dir, 'log', 'recovery-points.json');
      await cutInHalf(points);
      const idx = (await activeSegment(dir, 2)).replace(/\.log$/, '.idx');
      await writeFile(idx, '{"base":0,"next":');
      const rec = recorder();
      const log = createFileLog({ dataDir: dir, logger: rec.logger });
      await log.start();
      cleanups.push(() => log.close());
      const files = rec.errors('file.damaged').map((l) => l.obj.file);
      expect(files).toContain(points);
      expect(files).toContain(idx);
      expect(await log.endOffsets(T)).toEqual([2, 2, 2]);
      expect((await readAll(log, 2)).map((r) => r.offset)).toEqual([0, 1]);
    });

    it('a damaged checkpoint journal logs an error naming it and falls back to its last valid commit', async () => {
      const dir = await dataDir();
      const store = createFileCheckpoints({ dataDir: dir });
      await store.start();
      const epoch = await store.acquire(T, 0);
      await store.commit(T, 0, epoch, { nextOffset: 5, partitionState: 'a', dirty: new Map([['k', '1']]) });
      await store.commit(T, 0, epoch, { nextOffset: 9, partitionState: 'b', dirty: new Map([['k', '2']]) });
      await store.close();
      const cpDir = join(dir, 'checkpoints', T, '0');
      const journal = join(cpDir, (await readdir(cpDir)).find((n) => n.endsWith('.ckpt'))!);
      const buf = await readFile(journal);
      buf[buf.length - 3] = buf[buf.length - 3]! ^ 0xff; // inside the last commit's frame
      await writeFile(journal, buf);
      await writeFile(join(cpDir, 'epoch'), 'garbage');

      const rec = recorder();
      const again = createFileCheckpoints({ dataDir: dir, logger: rec.logger });
      await again.start();
      expect(await again.load(T, 0)).toMatchObject({ nextOffset: 5, partitionState: 'a' });
      const e2 = await again.acquire(T, 0);
      expect(e2).toBeGreaterThan(epoch);
      await again.close();
      const files = rec.errors('file.damaged').map((l) => l.obj.file);
      expect(files).toContain(journal);
      expect(files).toContain(join(cpDir, 'epoch'));
      expect(rec.errors('file.damaged').find((l) => l.obj.file === journal)!.msg).toContain('next offset 5');
    });
  });
});
