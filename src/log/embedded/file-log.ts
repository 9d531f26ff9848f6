/**
 * The embedded event log: a file-backed partitioned log in the data dir, for running keyflow
 * with no servers. Layout under `<dataDir>/log/`:
 *
 * ```
 * topics.json                     topic → partition count (survives restarts)
 * recovery-points.json            "topic/partition" → offset the partition was last flushed (fsynced) to
 * groups/<groupId>.json           committed offsets of a consumer group, "topic/partition" → offset
 * <topic>/<partition>/<base>.log  segment files, frames as in codec.ts; <base>.idx sidecars
 * .lock                           pid of the process that has the dir open
 * ```
 *
 * One process owns a data dir (a lock file enforces it); that process is the only writer and
 * the only consumer-group member. Durability: every append reaches the OS (one `write` per
 * partition per append call) before it resolves, so it survives the process being killed; with
 * `fsync: true` it also survives a power loss, at the cost of one fsync per append call. Without
 * it, `flush(topic, partition, offset)` — called by the processor before each checkpoint commit —
 * fsyncs the partition (one fsync shared by every flush waiting for it), so a checkpoint never
 * covers records a power loss could take away.
 *
 * Atomic appends. One append call that spans partitions holds all their locks, writes each, and
 * makes the records visible only when every write succeeded; when one fails (disk full, I/O
 * error), the others are cut back, so the call appended nothing and a retry duplicates nothing.
 * (A process killed between the writes leaves the written part on disk, unacknowledged.)
 *
 * Storage faults. A write refused with ENOSPC, EDQUOT, EIO or EROFS fails the append with a
 * retriable BROKER_UNAVAILABLE and logs one `log.storage_fault` error; while the fault lasts,
 * consumers deliver no new batches (so nothing downstream piles up output it cannot write), and
 * a small test write every `idlePollMs` finds out when the disk takes writes again
 * (`log.storage_recovered`).
 *
 * Damage policy. Every record carries a CRC-32 and its own offset. At open, the active
 * segment is scanned: an incomplete or corrupt record with nothing valid after it is a torn
 * write (a crash mid-append) and is cut off; the next append reuses its offset — it was never
 * acknowledged, or (without fsync) it was acknowledged but never flushed, so no checkpoint covers
 * it. When the recovered partition ends below its recovery point, records that had been flushed
 * are gone (disk damage, a file cut by hand): the range is logged as an error (`log.data_lost`)
 * and appends continue at the recovery point, so an offset a checkpoint covers is never handed
 * out again. A corrupt record with valid records after it (disk damage, found at open or while
 * reading a sealed segment) is skipped with an error naming the segment and position: its offset
 * is simply missing from the partition, like a compacted-away Kafka offset, so a consumer never
 * stalls on it and never sees damaged bytes. The advisory files (topics.json, recovery points,
 * group offsets, segment indexes) are set aside and rebuilt when damaged (advisory-file.ts).
 *
 * Consumers: see file-consumer.ts (the process is the only member of every group).
 */
import * as fsp from 'node:fs/promises';
import { join, resolve } from 'node:path';
import pLimit from 'p-limit';
import { type Clock, LifecycleEvent, systemClock, type Timer, writeFileAtomic } from '../../core/index.ts';
import { ErrorCode, KeyflowError, partitionForKey, type TopicSpec } from '../../model/index.ts';
import type { AppendOptions, AppendResult, ConsumerOptions, EventLog, GroupConsumer, LogRecord, ProduceRecord, TopicPartition } from '../port.ts';
import { tpKey } from '../port.ts';
import { offsetsRecord, readAdvisoryJson } from './advisory-file.ts';
import { acquireDirLock, releaseDirLock } from './dir-lock.ts';
import { FileConsumer } from './file-consumer.ts';
import { type AdapterLogger, Partition, type StagedAppend, type WriteMonitor } from './partition.ts';
import { openSegmentFile, type SegmentOpener, storageFaultCode, writeAll } from './segment-file.ts';

export type { AdapterLogger } from './partition.ts';
export type { SegmentFile, SegmentOpener } from './segment-file.ts';

export interface FileLogOptions {
  /** Directory holding all data; the log lives in `<dataDir>/log`. */
  dataDir: string;
  /** A segment is sealed and a new one started when an append would grow it past this, bytes. @default 16 MiB */
  segmentBytes?: number;
  /** Per partition: the oldest segments are deleted while the partition is larger, bytes. @default unlimited */
  retentionBytes?: number;
  /** Segments whose newest record is older than this are deleted, ms (KEYFLOW_LOG_RETENTION_MS). @default unlimited */
  retentionMs?: number;
  /** How often retention runs (it also runs after each segment roll), ms. @default 60000 */
  retentionCheckMs?: number;
  /**
   * fsync after every append call. Off: an append survives the process crashing (it is in the
   * OS page cache) but not a power loss / kernel crash until `flush` (called before each
   * checkpoint) has fsynced it; on: it survives both, and each append call costs a disk flush
   * (~0.1–10 ms). @default false
   */
  fsync?: boolean;
  /** Source of append times and retention age. @default systemClock */
  clock?: Clock;
  /** Where damaged-record and handler-failure warnings go (pino-compatible). @default console */
  logger?: AdapterLogger;
  /** Fallback wake-up of an idle consumer partition, ms (appends wake it at once); also the test-write interval during a storage fault. @default 1000 */
  idlePollMs?: number;
  /** Opens segment files for writing; the storage-fault tests inject failing ones here. @default node:fs/promises, O_APPEND */
  openSegment?: SegmentOpener;
}

/** The embedded log, with maintenance hooks for operators and tests. */
export interface EmbeddedEventLog extends EventLog {
  readonly kind: 'embedded';
  /** Runs retention on every partition now; returns the number of segments deleted. */
  enforceRetention(): Promise<number>;
  /** Bytes stored per partition (index = partition). */
  sizes(topic: string): number[];
  /** The OS error code of the storage fault in force (e.g. ENOSPC), or null when the disk takes writes. */
  storageFault(): string | null;
}

const consoleLogger: AdapterLogger = {
  warn: (obj, msg) => console.warn(msg, obj),
  error: (obj, msg) => console.error(msg, obj),
};

/**
 * Checkpoint-time fsyncs running at once. Each occupies a thread of libuv's pool (4 by default)
 * for the whole flush, so a round over every partition would otherwise starve the appends' and
 * reads' writes queued behind it (BENCHMARKS.md, issue 9).
 */
const FLUSH_CONCURRENCY = 2;

/** Bytes of the test write that finds out whether the disk takes writes again. */
const PROBE_BYTES = 4096;

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/;

/**
 * Creates the embedded file-backed log.
 *
 * @example
 * const log = createFileLog({ dataDir: './data' });
 * await log.start();
 * await log.ensureTopics([{ name: 'events.iot.sensors', partitions: 12 }]);
 * await log.append('events.iot.sensors', [{ key: 'dev-1', value: '{"…":1}' }]);
 */
export function createFileLog(options: FileLogOptions): EmbeddedEventLog {
  const root = resolve(options.dataDir, 'log');
  const segmentBytes = options.segmentBytes ?? 16 * 1024 * 1024;
  const retentionBytes = options.retentionBytes;
  const retentionMs = options.retentionMs;
  const fsync = options.fsync ?? false;
  const logger = options.logger ?? consoleLogger;
  const idlePollMs = options.idlePollMs ?? 1000;
  const lockPath = join(root, '.lock');
  const recoveryPointsPath = join(root, 'recovery-points.json');
  const clock: Pick<Clock, 'now' | 'every'> = options.clock ?? systemClock;
  const openSegment = options.openSegment ?? openSegmentFile;
  const syncSlot = pLimit(FLUSH_CONCURRENCY);

  const topics = new Map<string, Partition[]>();
  const consumers = new Set<FileConsumer>();
  /** "topic/partition" → offset the partition has been flushed to (see recovery-points.json). */
  let recoveryPoints = new Map<string, number>();
  let pointsChain: Promise<unknown> = Promise.resolve();
  let pointsQueued: Promise<void> | null = null;
  let started = false;
  let retentionTimer: Timer | null = null;
  let metaLock: Promise<unknown> = Promise.resolve();
  /** The storage fault in force (OS error code), and the test write that may clear it. */
  let fault: string | null = null;
  let probing = false;
  let lastProbe = 0;

  const monitor: WriteMonitor = {
    failed(error, where) {
      const code = storageFaultCode(error);
      if (!code || fault) return;
      fault = code;
      logger.error(
        { event: LifecycleEvent.logStorageFault, code, ...where, err: error },
        `embedded log: the disk refused a write (${code}${code === 'ENOSPC' || code === 'EDQUOT' ? ': disk full' : ''}) at ${where.path}; appends fail with BROKER_UNAVAILABLE (retriable) and consumers deliver no new batches until a test write succeeds`,
      );
    },
    succeeded() {
      if (!fault) return;
      logger.warn({ event: LifecycleEvent.logStorageRecovered, code: fault }, `embedded log: the disk takes writes again after ${fault}; appends and consumption resume`);
      fault = null;
    },
  };

  /** Whether the disk refuses writes; every `idlePollMs` a test write checks whether it still does. */
  function writesBlocked(): boolean {
    if (!fault) return false;
    const t = performance.now();
    if (!probing && t - lastProbe >= idlePollMs) {
      probing = true;
      lastProbe = t;
      void probe().finally(() => {
        probing = false;
      });
    }
    return true;
  }

  async function probe(): Promise<void> {
    const path = join(root, '.probe');
    try {
      const f = await openSegment(path, 'create');
      try {
        await writeAll(f, Buffer.alloc(PROBE_BYTES));
        await f.datasync();
      } finally {
        await f.close();
      }
      monitor.succeeded();
    } catch {
      // still refused: the next probe tries again
    } finally {
      await fsp.rm(path, { force: true }).catch(() => undefined);
    }
  }

  const now = (): number => clock.now();

  function requireStarted(): void {
    if (!started) throw new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, 'embedded log is not started (call start() first) or was closed', { retriable: true });
  }

  function partitionsOf(topic: string): Partition[] {
    requireStarted();
    const ps = topics.get(topic);
    if (!ps) throw new KeyflowError(ErrorCode.UNKNOWN_TOPIC, `topic ${topic} does not exist in the embedded log; create it with ensureTopics`);
    return ps;
  }

  function partitionOf(topic: string, partition: number): Partition {
    const ps = partitionsOf(topic);
    const p = ps[partition];
    if (!p) throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `partition ${partition} of ${topic} does not exist (it has ${ps.length})`);
    return p;
  }

  async function openTopic(name: string, count: number): Promise<void> {
    const existing = topics.get(name) ?? [];
    for (let i = existing.length; i < count; i++) {
      const p = new Partition({ topic: name, partition: i, dir: join(root, name, String(i)), segmentBytes, fsync, logger, openSegment, monitor, syncSlot });
      await p.open(recoveryPoints.get(tpKey(name, i)) ?? 0);
      existing.push(p);
    }
    topics.set(name, existing);
  }

  /** The topics as the directories show them: a topic dir's numeric subdirs are its partitions. */
  async function topicsOnDisk(): Promise<Record<string, number>> {
    const found: Record<string, number> = {};
    for (const d of await fsp.readdir(root, { withFileTypes: true })) {
      if (!d.isDirectory() || d.name === 'groups' || !TOPIC_NAME.test(d.name)) continue;
      const parts = (await fsp.readdir(join(root, d.name))).map(Number).filter((n) => Number.isSafeInteger(n) && n >= 0);
      if (parts.length > 0) found[d.name] = Math.max(...parts) + 1;
    }
    return found;
  }

  async function loadTopics(): Promise<{ topics: Record<string, number>; rebuilt: boolean }> {
    const read = await readAdvisoryJson(
      join(root, 'topics.json'),
      (j) => offsetsRecord((j as { topics?: unknown } | null)?.topics, 'topics'),
      logger,
      'rebuilt from the topic directories',
    );
    if (read.status === 'ok') return { topics: read.value, rebuilt: false };
    if (read.status === 'missing') return { topics: {}, rebuilt: false };
    return { topics: await topicsOnDisk(), rebuilt: true };
  }

  async function loadRecoveryPoints(): Promise<Map<string, number>> {
    const read = await readAdvisoryJson(
      recoveryPointsPath,
      (j) => offsetsRecord((j as { points?: unknown } | null)?.points, 'points'),
      logger,
      'continues without it (records lost below the last flush cannot be told from torn writes until the next flush)',
    );
    return new Map(read.status === 'ok' ? Object.entries(read.value) : []);
  }

  /**
   * Writes the recovery points. Calls that arrive while a write is queued ride on it. No fsync:
   * a point is written after the fsync it records, so the file never claims more than the disk
   * holds, and losing its newest version only narrows what damage can be detected.
   */
  function saveRecoveryPoints(sync = false): Promise<void> {
    if (pointsQueued && !sync) return pointsQueued;
    const run = pointsChain.then(async () => {
      if (pointsQueued === run) pointsQueued = null;
      await writeFileAtomic(recoveryPointsPath, JSON.stringify({ version: 1, points: Object.fromEntries(recoveryPoints) }), { fsync: sync });
    });
    pointsQueued = run;
    pointsChain = run.catch(() => undefined);
    return run;
  }

  function notePoint(topic: string, p: Partition): boolean {
    const key = tpKey(topic, p.partition);
    if (p.durableOffset <= (recoveryPoints.get(key) ?? 0)) return false;
    recoveryPoints.set(key, p.durableOffset);
    return true;
  }

  /**
   * Writes the staged appends of one call; publishes them only when all succeeded, else cuts each
   * back. The caller holds the locks of every partition involved.
   */
  async function writeAllOrNothing(staged: StagedAppend[], sync: boolean): Promise<void> {
    const outcomes = await Promise.allSettled(staged.map((s) => s.part.write(s, sync)));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) {
      // A partition whose write failed has cut itself back already; cut back the ones that succeeded.
      await Promise.all(staged.map((s, i) => (outcomes[i]!.status === 'fulfilled' ? s.part.undo(s) : undefined)));
      throw failed.reason;
    }
    for (const s of staged) s.part.publish(s, sync);
  }

  async function saveTopics(): Promise<void> {
    const body: Record<string, number> = {};
    for (const [name, ps] of topics) body[name] = ps.length;
    await writeFileAtomic(join(root, 'topics.json'), JSON.stringify({ version: 1, topics: body }, null, 1), { fsync: true });
  }

  async function runRetention(): Promise<number> {
    let deleted = 0;
    const t = now();
    for (const ps of topics.values()) {
      for (const p of ps) deleted += await p.enforceRetention(t, retentionBytes, retentionMs);
    }
    return deleted;
  }

  const log: EmbeddedEventLog = {
    kind: 'embedded',

    async start() {
      if (started) return;
      await fsp.mkdir(root, { recursive: true });
      await acquireDirLock(lockPath);
      try {
        recoveryPoints = await loadRecoveryPoints();
        const saved = await loadTopics();
        for (const [name, count] of Object.entries(saved.topics)) await openTopic(name, count);
        if (saved.rebuilt) await saveTopics();
      } catch (e) {
        await releaseDirLock(lockPath);
        throw e;
      }
      started = true;
      retentionTimer = clock.every(options.retentionCheckMs ?? 60_000, () => {
        runRetention().catch((e: unknown) => logger.warn({ err: e }, 'embedded log: retention run failed; it is retried on the next run'));
      });
    },

    async close() {
      if (!started) return;
      retentionTimer?.cancel();
      retentionTimer = null;
      await Promise.all([...consumers].map((c) => c.stop()));
      started = false;
      await metaLock.catch(() => undefined);
      for (const [name, ps] of topics) {
        for (const p of ps) {
          await p.close();
          notePoint(name, p);
        }
      }
      await saveRecoveryPoints(true).catch((e: unknown) => logger.warn({ err: e, file: recoveryPointsPath }, 'embedded log: could not write the recovery points at close'));
      topics.clear();
      await releaseDirLock(lockPath);
    },

    ensureTopics(specs: readonly TopicSpec[]) {
      const run = metaLock.then(async () => {
        requireStarted();
        const added: TopicPartition[] = [];
        for (const spec of specs) {
          if (!TOPIC_NAME.test(spec.name) || spec.name === '.' || spec.name === '..') {
            throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `invalid topic name ${JSON.stringify(spec.name)}: use 1–249 of [a-zA-Z0-9._-]`);
          }
          if (!Number.isInteger(spec.partitions) || spec.partitions < 1) {
            throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `topic ${spec.name}: partitions must be a positive integer`);
          }
          if (topics.has(spec.name)) continue;
          await openTopic(spec.name, spec.partitions);
          for (let i = 0; i < spec.partitions; i++) added.push({ topic: spec.name, partition: i });
        }
        if (added.length > 0) {
          await saveTopics();
          for (const c of consumers) c.topicsAdded(added);
        }
      });
      metaLock = run.catch(() => undefined);
      return run;
    },

    async partitions(topic) {
      requireStarted();
      return topics.get(topic)?.length;
    },

    async append(topic: string, records: ProduceRecord[], appendOptions?: AppendOptions): Promise<AppendResult[]> {
      const ps = partitionsOf(topic);
      const results: AppendResult[] = new Array(records.length);
      if (records.length === 0) return results;
      const t = now();
      // Group by partition: one write per partition, results back in input order.
      const groups = new Map<number, { records: ProduceRecord[]; at: number[] }>();
      for (let i = 0; i < records.length; i++) {
        const r = records[i]!;
        let p = r.partition;
        if (p === undefined) {
          if (r.key === null) {
            throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `record ${i} for ${topic} has neither a key nor a partition`);
          }
          p = partitionForKey(r.key, ps.length);
        } else if (!Number.isInteger(p) || p < 0 || p >= ps.length) {
          throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `record ${i}: partition ${p} of ${topic} does not exist (it has ${ps.length})`);
        }
        let g = groups.get(p);
        if (!g) groups.set(p, (g = { records: [], at: [] }));
        g.records.push(r);
        g.at.push(i);
      }
      // Locks in partition order, so two concurrent calls never wait on each other in a circle.
      const order = [...groups.keys()].sort((a, b) => a - b);
      const releases: (() => void)[] = [];
      try {
        for (const p of order) releases.push(await ps[p]!.acquire());
        const staged: StagedAppend[] = [];
        for (const p of order) {
          const g = groups.get(p)!;
          staged.push(await ps[p]!.stage(g.records, t, results, g.at));
        }
        await writeAllOrNothing(staged, fsync || appendOptions?.sync === true);
      } finally {
        for (const release of releases) release();
      }
      monitor.succeeded();
      return results;
    },

    async flush(topic, partition, nextOffset) {
      const p = partitionOf(topic, partition);
      await p.flush(nextOffset);
      monitor.succeeded();
      if (notePoint(topic, p)) await saveRecoveryPoints();
    },

    async read(topic, partition, fromOffset, max): Promise<LogRecord[]> {
      if (max <= 0) return [];
      return partitionOf(topic, partition).read(fromOffset, max);
    },

    async beginOffsets(topic) {
      return partitionsOf(topic).map((p) => p.beginOffset);
    },

    async endOffsets(topic) {
      return partitionsOf(topic).map((p) => p.endOffset);
    },

    consumer(opts: ConsumerOptions): GroupConsumer {
      return new FileConsumer(opts, {
        root,
        fsync,
        logger,
        idlePollMs,
        partition: (topic, partition) => topics.get(topic)?.[partition],
        count: (topic) => topics.get(topic)?.length ?? 0,
        register: (c) => consumers.add(c),
        unregister: (c) => consumers.delete(c),
        isStarted: () => started,
        writesBlocked,
      });
    },

    async healthy() {
      return started ? { connected: true } : { connected: false, detail: 'embedded log not started' };
    },

    enforceRetention() {
      requireStarted();
      return runRetention();
    },

    sizes(topic) {
      return partitionsOf(topic).map((p) => p.sizeBytes);
    },

    storageFault() {
      return fault;
    },
  };
  return log;
}
