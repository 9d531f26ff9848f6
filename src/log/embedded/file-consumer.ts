/**
 * The embedded log's consumer-group member. The process is the only member of every group:
 * `start()` assigns all partitions of the subscribed topics (and those of topics created later by
 * ensureTopics), calls `onAssigned`, and starts one delivery loop per partition from the returned
 * offset, else the group's committed offset (`groups/<groupId>.json`), else the earliest offset.
 * A loop sleeps until an append to its partition wakes it (fallback poll: `idlePollMs`), reads up
 * to `maxBatchRecords`, awaits `onBatch`, and moves on. Batches of different partitions can be in
 * flight together; one partition never has two. A failing `onBatch` is redelivered from the same
 * offset after a growing pause (100 ms … 30 s). While the disk refuses writes (a storage fault,
 * see file-log.ts) no new batch is delivered: what a batch produces (finals, dead letters,
 * checkpoints) could not be written either, so it would only pile up in memory. `stop()` waits
 * for in-flight batches, so do not await it from inside `onBatch`.
 */
import * as fsp from 'node:fs/promises';
import { join } from 'node:path';
import { type BackoffOptions, backoff, writeFileAtomic } from '../../core/index.ts';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { ConsumerOptions, GroupConsumer, LogRecord, RecordBatch, TopicPartition } from '../port.ts';
import { tpKey } from '../port.ts';
import { offsetsRecord, readAdvisoryJson } from './advisory-file.ts';
import type { AdapterLogger, Partition } from './partition.ts';

/** Pause before redelivering after a failed read or onBatch: 100 ms doubling to 30 s, no jitter (the process is the only member). */
const REDELIVERY: BackoffOptions = { baseDelayMs: 100, maxDelayMs: 30_000, jitter: 0 };
const heartbeat = (): Promise<void> => Promise.resolve();

/** What the consumer needs of the log that created it. */
export interface ConsumerEnv {
  root: string;
  fsync: boolean;
  logger: AdapterLogger;
  idlePollMs: number;
  partition(topic: string, partition: number): Partition | undefined;
  count(topic: string): number;
  register(c: FileConsumer): void;
  unregister(c: FileConsumer): void;
  isStarted(): boolean;
  /** True while the disk refuses writes: no new batches are delivered then. */
  writesBlocked(): boolean;
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
export class FileConsumer implements GroupConsumer {
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
    // Advisory (the checkpoints are the truth): a damaged file is set aside and the group starts over.
    const saved = await readAdvisoryJson(this.groupFile, (j) => offsetsRecord(j, 'group offsets'), this.env.logger, 'the group starts without committed offsets');
    this.committed = saved.status === 'ok' ? saved.value : {};
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
      if (this.env.writesBlocked()) {
        await this.wait(cursor, this.env.idlePollMs);
        continue;
      }
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
        await this.wait(cursor, backoff(++failures, REDELIVERY));
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
        const delay = backoff(++failures, REDELIVERY);
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
      await writeFileAtomic(this.groupFile, JSON.stringify(this.committed), { fsync: this.env.fsync });
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
