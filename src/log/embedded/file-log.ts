/**
 * The embedded event log: a file-backed partitioned log in the data dir, for running keyflow
 * with no servers. Layout under `<dataDir>/log/`:
 *
 * ```
 * topics.json                     topic → partition count (survives restarts)
 * groups/<groupId>.json           committed offsets of a consumer group, "topic/partition" → offset
 * <topic>/<partition>/<base>.log  segment files, frames as in codec.ts; <base>.idx sidecars
 * .lock                           pid of the process that has the dir open
 * ```
 *
 * One process owns a data dir (a lock file enforces it); that process is the only writer and
 * the only consumer-group member. Durability: every append reaches the OS (one `write` per
 * partition per append call) before it resolves, so it survives the process being killed; with
 * `fsync: true` it also survives a power loss, at the cost of one fsync per append call.
 *
 * Damage policy. Every record carries a CRC-32 and its own offset. At open, the active
 * segment is scanned: an incomplete or corrupt record with nothing valid after it is a torn
 * write (a crash mid-append) and is cut off; the next append reuses its offset. A corrupt record
 * with valid records after it (disk damage, found at open or while reading a sealed segment) is
 * skipped with a warning naming the segment and position: its offset is simply missing from the
 * partition, like a compacted-away Kafka offset, so a consumer never stalls on it and never sees
 * damaged bytes.
 *
 * Consumers: see file-consumer.ts (the process is the only member of every group).
 */
import * as fsp from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { type Clock, systemClock, type Timer, writeFileAtomic } from '../../core/index.ts';
import { ErrorCode, KeyflowError, partitionForKey, type TopicSpec } from '../../model/index.ts';
import type { AppendResult, ConsumerOptions, EventLog, GroupConsumer, LogRecord, ProduceRecord, TopicPartition } from '../port.ts';
import { acquireDirLock, releaseDirLock } from './dir-lock.ts';
import { FileConsumer } from './file-consumer.ts';
import { type AdapterLogger, Partition } from './partition.ts';

export type { AdapterLogger } from './partition.ts';

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
   * OS page cache) but not a power loss / kernel crash; on: it survives both, and each append
   * call costs a disk flush (~0.1–10 ms). @default false
   */
  fsync?: boolean;
  /** Source of append times and retention age. @default systemClock */
  clock?: Clock;
  /** Where damaged-record and handler-failure warnings go (pino-compatible). @default console */
  logger?: AdapterLogger;
  /** Fallback wake-up of an idle consumer partition, ms (appends wake it at once). @default 1000 */
  idlePollMs?: number;
}

/** The embedded log, with maintenance hooks for operators and tests. */
export interface EmbeddedEventLog extends EventLog {
  readonly kind: 'embedded';
  /** Runs retention on every partition now; returns the number of segments deleted. */
  enforceRetention(): Promise<number>;
  /** Bytes stored per partition (index = partition). */
  sizes(topic: string): number[];
}

const consoleLogger: AdapterLogger = {
  warn: (obj, msg) => console.warn(msg, obj),
};

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
  const clock: Pick<Clock, 'now' | 'every'> = options.clock ?? systemClock;

  const topics = new Map<string, Partition[]>();
  const consumers = new Set<FileConsumer>();
  let started = false;
  let retentionTimer: Timer | null = null;
  let metaLock: Promise<unknown> = Promise.resolve();

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
      const p = new Partition({ topic: name, partition: i, dir: join(root, name, String(i)), segmentBytes, fsync, logger });
      await p.open();
      existing.push(p);
    }
    topics.set(name, existing);
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
        let saved: Record<string, number> = {};
        try {
          saved = (JSON.parse(await fsp.readFile(join(root, 'topics.json'), 'utf8')) as { topics: Record<string, number> }).topics;
        } catch (e) {
          if ((e as { code?: string }).code !== 'ENOENT') throw e;
        }
        for (const [name, count] of Object.entries(saved)) await openTopic(name, count);
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
      for (const ps of topics.values()) for (const p of ps) await p.close();
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

    async append(topic: string, records: ProduceRecord[]): Promise<AppendResult[]> {
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
      const writes: Promise<void>[] = [];
      for (const [p, g] of groups) writes.push(ps[p]!.append(g.records, t, results, g.at));
      await Promise.all(writes);
      return results;
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
  };
  return log;
}
