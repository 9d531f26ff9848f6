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
 * Consumers. The process is the only member of every group: `start()` assigns all partitions of
 * the subscribed topics (and those of topics created later by ensureTopics), calls
 * `onAssigned`, and starts one delivery loop per partition from the returned offset, else the
 * group's committed offset (`groups/<groupId>.json`), else the earliest offset. A loop sleeps
 * until an append to its partition wakes it (fallback poll: `idlePollMs`), reads up to
 * `maxBatchRecords`, awaits `onBatch`, and moves on. Batches of different partitions can be in
 * flight together; one partition never has two. A failing `onBatch` is redelivered from the same
 * offset after a growing pause (100 ms … 30 s). `stop()` waits for in-flight batches, so do not
 * await it from inside `onBatch`.
 */
import * as fsp from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { TopicSpec } from '../../model/index.ts';
import { partitionForKey } from '../../model/index.ts';
import type { Clock, Timer } from '../../core/index.ts';
import type {
  AppendResult,
  ConsumerOptions,
  EventLog,
  GroupConsumer,
  LogRecord,
  ProduceRecord,
  RecordBatch,
  TopicPartition,
} from '../port.ts';
import { tpKey } from '../port.ts';
import { type AdapterLogger, Partition } from './partition.ts';

export type { AdapterLogger } from './partition.ts';

export interface FileLogOptions {
  /** Directory holding all data; the log lives in `<dataDir>/log`. */
  dataDir: string;
  /** A segment is sealed and a new one started when an append would grow it past this, bytes. @default 16 MiB */
  segmentBytes?: number;
  /** Per partition: the oldest segments are deleted while the partition is larger, bytes. @default unlimited */
  retentionBytes?: number;
  /** Segments whose newest record is older than this are deleted, ms. @default 7 days */
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
const DEFAULT_RETENTION_MS = 7 * 24 * 3600 * 1000;
const heartbeat = (): Promise<void> => Promise.resolve();

/** Wall-clock default (adapters do not import the runtime; the runtime passes its Clock). */
const defaultClock: Pick<Clock, 'now' | 'every'> = {
  now: () => Date.now(),
  every(ms, fn) {
    const h = setInterval(fn, ms);
    h.unref?.();
    return { cancel: () => clearInterval(h) };
  },
};

/** Locks held by this process, so a reopen after close (or a simulated crash in tests) works. */
const heldLocks = new Set<string>();

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as { code?: string }).code === 'EPERM';
  }
}

async function acquireDirLock(path: string): Promise<void> {
  if (heldLocks.has(path)) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `embedded log: ${path} is already open in this process; close the other EventLog first`);
  }
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      await fsp.writeFile(path, String(process.pid), { flag: 'wx' });
      heldLocks.add(path);
      return;
    } catch (e) {
      if ((e as { code?: string }).code !== 'EEXIST') throw e;
      const pid = Number((await fsp.readFile(path, 'utf8').catch(() => '')).trim());
      if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && pidAlive(pid)) {
        throw new KeyflowError(
          ErrorCode.INVALID_CONFIG,
          `embedded log: the data dir is in use by process ${pid} (${path}); the embedded log has a single writer — stop that process or use another KEYFLOW_DATA_DIR`,
        );
      }
      // Stale lock from a process that died (or an unclosed log of this process): take it over.
      await fsp.rm(path, { force: true });
    }
  }
  throw new KeyflowError(ErrorCode.INVALID_CONFIG, `embedded log: could not lock ${path}`);
}

async function writeAtomic(path: string, body: string, fsync: boolean): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`;
  const fh = await fsp.open(tmp, 'w');
  try {
    await fh.writeFile(body);
    if (fsync) await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, path);
}

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
  const retentionMs = options.retentionMs ?? DEFAULT_RETENTION_MS;
  const fsync = options.fsync ?? false;
  const logger = options.logger ?? consoleLogger;
  const idlePollMs = options.idlePollMs ?? 1000;
  const lockPath = join(root, '.lock');
  const clock: Pick<Clock, 'now' | 'every'> = options.clock ?? defaultClock;

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
    await writeAtomic(join(root, 'topics.json'), JSON.stringify({ version: 1, topics: body }, null, 1), true);
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
        heldLocks.delete(lockPath);
        await fsp.rm(lockPath, { force: true });
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
      heldLocks.delete(lockPath);
      await fsp.rm(lockPath, { force: true });
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

interface ConsumerEnv {
  root: string;
  fsync: boolean;
  logger: AdapterLogger;
  idlePollMs: number;
  partition(topic: string, partition: number): Partition | undefined;
  count(topic: string): number;
  register(c: FileConsumer): void;
  unregister(c: FileConsumer): void;
  isStarted(): boolean;
}

/** Per assigned partition: where the consumer is and how to wake its loop. */
interface Cursor {
  tp: TopicPartition;
  part: Partition;
  pos: number;
  /** Pending seek, applied before the next fetch; -1 when none. */
  seekTo: number;
  wake: (() => void) | null;
  listener: () => void;
  loop: Promise<void> | null;
}

/**
 * The only member of its group: owns every partition of its topics. Each partition has its own
 * delivery loop, so batches of different partitions may be in flight at the same time, and at
 * most one per partition. A loop waits on append notifications (plus a slow fallback poll).
 */
class FileConsumer implements GroupConsumer {
  private readonly opts: ConsumerOptions;
  private readonly env: ConsumerEnv;
  private readonly maxBatch: number;
  private readonly cursors = new Map<string, Cursor>();
  private readonly groupFile: string;
  private committed: Record<string, number> = {};
  private commitChain: Promise<unknown> = Promise.resolve();
  private queuedCommit: Promise<void> | null = null;
  private running = false;
  private stopping: Promise<void> | null = null;
  private assigning: Promise<void> = Promise.resolve();

  constructor(opts: ConsumerOptions, env: ConsumerEnv) {
    this.opts = opts;
    this.env = env;
    this.maxBatch = Math.max(1, opts.maxBatchRecords ?? 500);
    this.groupFile = join(env.root, 'groups', `${encodeURIComponent(opts.groupId)}.json`);
  }

  async start(): Promise<void> {
    if (this.running) return;
    if (!this.env.isStarted()) throw new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, 'embedded log is not started', { retriable: true });
    this.stopping = null;
    try {
      this.committed = JSON.parse(await fsp.readFile(this.groupFile, 'utf8')) as Record<string, number>;
    } catch (e) {
      if ((e as { code?: string }).code !== 'ENOENT') throw e;
      this.committed = {};
    }
    this.running = true;
    this.env.register(this);
    const all: TopicPartition[] = [];
    for (const topic of this.opts.topics) {
      const n = this.env.count(topic);
      for (let i = 0; i < n; i++) all.push({ topic, partition: i });
    }
    await this.assign(all);
  }

  /** Topics created after start (ensureTopics): assigned like a rebalance that only adds. */
  topicsAdded(added: TopicPartition[]): void {
    if (!this.running) return;
    const mine = added.filter((tp) => this.opts.topics.includes(tp.topic) && !this.cursors.has(tpKey(tp.topic, tp.partition)));
    if (mine.length === 0) return;
    this.assigning = this.assigning.then(() => this.assign(mine)).catch((e: unknown) =>
      this.env.logger.warn({ err: e, groupId: this.opts.groupId }, 'embedded log: assigning new partitions failed; they stay unassigned until restart'),
    );
  }

  private async assign(tps: TopicPartition[]): Promise<void> {
    if (tps.length === 0) return;
    const starts = await this.opts.handlers.onAssigned(tps);
    if (!this.running) return;
    for (const tp of tps) {
      const key = tpKey(tp.topic, tp.partition);
      const part = this.env.partition(tp.topic, tp.partition);
      if (!part) continue;
      const pos = starts?.get(key) ?? this.committed[key] ?? part.beginOffset;
      const cursor: Cursor = { tp, part, pos, seekTo: -1, wake: null, listener: () => undefined, loop: null };
      cursor.listener = () => {
        const w = cursor.wake;
        if (w) {
          cursor.wake = null;
          w();
        }
      };
      part.listeners.add(cursor.listener);
      this.cursors.set(key, cursor);
      cursor.loop = this.run(cursor);
    }
  }

  private wait(cursor: Cursor, ms: number): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise<void>((resolveWait) => {
      const timer = setTimeout(() => {
        cursor.wake = null;
        resolveWait();
      }, ms);
      cursor.wake = () => {
        clearTimeout(timer);
        resolveWait();
      };
    });
  }

  private async run(cursor: Cursor): Promise<void> {
    const { part, tp } = cursor;
    let failures = 0;
    while (this.running) {
      if (cursor.seekTo >= 0) {
        cursor.pos = cursor.seekTo;
        cursor.seekTo = -1;
      }
      if (cursor.pos < part.beginOffset) cursor.pos = part.beginOffset;
      const end = part.endOffset;
      if (cursor.pos >= end) {
        await this.wait(cursor, this.env.idlePollMs);
        continue;
      }
      let records: LogRecord[];
      try {
        records = await part.read(cursor.pos, this.maxBatch);
      } catch (e) {
        this.env.logger.warn({ err: e, ...tp, offset: cursor.pos }, 'embedded log: read failed; retrying');
        await this.wait(cursor, Math.min(30_000, 100 * 2 ** failures++));
        continue;
      }
      if (records.length === 0) {
        await this.wait(cursor, this.env.idlePollMs);
        continue;
      }
      if (!this.running) break;
      if (cursor.seekTo >= 0) continue;
      const batch: RecordBatch = { topic: tp.topic, partition: tp.partition, records, highWatermark: part.endOffset, heartbeat };
      try {
        await this.opts.handlers.onBatch(batch);
        failures = 0;
      } catch (e) {
        // Like a Kafka consumer that crashed on a batch: the batch is delivered again from the
        // same offset (after a growing pause), so nothing is skipped silently.
        const delay = Math.min(30_000, 100 * 2 ** failures++);
        this.env.logger.warn(
          { err: e, ...tp, offset: records[0]!.offset, retryInMs: delay },
          'embedded log: onBatch failed; the batch is redelivered from the same offset',
        );
        await this.wait(cursor, delay);
        continue;
      }
      if (cursor.seekTo < 0) cursor.pos = records[records.length - 1]!.offset + 1;
    }
  }

  stop(): Promise<void> {
    if (this.stopping) return this.stopping;
    this.running = false;
    this.env.unregister(this);
    const loops: Promise<void>[] = [];
    for (const c of this.cursors.values()) {
      c.part.listeners.delete(c.listener);
      c.listener();
      if (c.loop) loops.push(c.loop);
    }
    this.stopping = (async () => {
      await Promise.all(loops);
      await this.assigning;
      await this.commitChain.catch(() => undefined);
      this.cursors.clear();
    })();
    return this.stopping;
  }

  commit(tp: TopicPartition, nextOffset: number): Promise<void> {
    this.committed[tpKey(tp.topic, tp.partition)] = nextOffset;
    // Commits that arrive while a write is queued ride on it: it writes the whole map when it runs.
    if (this.queuedCommit) return this.queuedCommit;
    const run = this.commitChain.then(async () => {
      this.queuedCommit = null;
      await fsp.mkdir(join(this.env.root, 'groups'), { recursive: true });
      await writeAtomic(this.groupFile, JSON.stringify(this.committed), this.env.fsync);
    });
    this.queuedCommit = run;
    this.commitChain = run.catch(() => undefined);
    return run;
  }

  seek(tp: TopicPartition, offset: number): void {
    const c = this.cursors.get(tpKey(tp.topic, tp.partition));
    if (!c) {
      throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `seek: ${tp.topic}/${tp.partition} is not assigned to this consumer`);
    }
    c.seekTo = Math.max(0, offset);
    c.listener();
  }
}
