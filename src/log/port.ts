/**
 * The event-log port: a partitioned, append-only log with offsets per partition and consumer
 * groups. Implemented by the embedded file-backed log and by Kafka; both pass
 * `test/contract/event-log.contract.ts`. Nothing above this port knows which one it runs on.
 */
import type { TopicSpec } from '../model/index.ts';

export type Headers = Record<string, string>;

/** A record to append. Without `partition`, the partition is murmur2(key) as Kafka's default partitioner picks it (key required then). */
export interface ProduceRecord {
  key: string | null;
  value: Uint8Array | string;
  headers?: Headers;
  partition?: number;
}

export interface AppendOptions {
  /**
   * Resolve only once the records are on the disk: the embedded log fsyncs them even when
   * KEYFLOW_LOG_FSYNC is off (the processor asks this for the dead letters and late events a
   * checkpoint covers); Kafka acknowledges with acks=all anyway. @default false
   */
  sync?: boolean;
}

export interface AppendResult {
  topic: string;
  partition: number;
  /** Offset of the appended record within its partition. */
  offset: number;
}

/** A record as read back from the log. */
export interface LogRecord {
  topic: string;
  partition: number;
  offset: number;
  key: string | null;
  value: Uint8Array;
  headers: Headers;
  /** Append (log) time, epoch ms. */
  appendTime: number;
}

export interface TopicPartition {
  topic: string;
  partition: number;
}

/** What a consumer-group member is told. The handlers run one at a time per partition. */
export interface ConsumerHandlers {
  /**
   * Partitions assigned to this member. Returns, per partition, the offset to start reading
   * from (the checkpoint's next offset), or undefined to start from the group's committed offset
   * (or the earliest offset when there is none).
   */
  onAssigned(partitions: TopicPartition[]): Promise<Map<string, number | undefined> | undefined>;
  /** Partitions taken away: finish in-flight work, checkpoint, release. Not called after stop(). */
  onRevoked(partitions: TopicPartition[]): Promise<void>;
  /** A batch of consecutive records of one partition, in offset order. */
  onBatch(batch: RecordBatch): Promise<void>;
}

export interface RecordBatch {
  topic: string;
  partition: number;
  records: LogRecord[];
  /** Next offset after the partition's last record on the log when the batch was fetched. */
  highWatermark: number;
  /** Keep the group membership alive during long work. */
  heartbeat(): Promise<void>;
}

export interface ConsumerOptions {
  groupId: string;
  topics: string[];
  handlers: ConsumerHandlers;
  /** Most records per batch. @default 500 */
  maxBatchRecords?: number;
}

export interface GroupConsumer {
  /** Joins the group and starts delivering batches; resolves once running. */
  start(): Promise<void>;
  /** Stops delivering, revokes nothing further, leaves the group. */
  stop(): Promise<void>;
  /** Records the group's committed offset (for lag monitoring; the checkpoint is the truth). */
  commit(tp: TopicPartition, nextOffset: number): Promise<void>;
  /** Re-reads a partition from an offset (e.g. after a failed checkpoint). */
  seek(tp: TopicPartition, offset: number): void;
}

export interface EventLog {
  readonly kind: 'embedded' | 'kafka';
  /** Connects (Kafka) or opens the data dir (embedded). */
  start(): Promise<void>;
  close(): Promise<void>;
  /** Creates the topics that do not exist yet; existing topics keep their partition count. */
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  /** Partition count of a topic, or undefined when it does not exist. */
  partitions(topic: string): Promise<number | undefined>;
  /**
   * Appends records of one topic; resolves when they are stored (acks=all / written to the OS).
   * Results in input order. All or nothing per call on the embedded log (a failure leaves no
   * record of the call behind); per partition on Kafka.
   */
  append(topic: string, records: ProduceRecord[], options?: AppendOptions): Promise<AppendResult[]>;
  /**
   * Makes the partition's records below `nextOffset` durable; called before a checkpoint that
   * covers them commits, so a checkpoint never covers log data a power loss could take away.
   * Embedded: an fsync shared by concurrent callers; Kafka: nothing to do (an acknowledged append
   * is already replicated).
   */
  flush(topic: string, partition: number, nextOffset: number): Promise<void>;
  /** Reads up to `max` records of one partition starting at `fromOffset` (inclusive), in offset order. */
  read(topic: string, partition: number, fromOffset: number, max: number): Promise<LogRecord[]>;
  /** First offset still stored, per partition (index = partition). */
  beginOffsets(topic: string): Promise<number[]>;
  /** Next offset to be written, per partition (index = partition). */
  endOffsets(topic: string): Promise<number[]>;
  /** A consumer-group member over the given topics. */
  consumer(options: ConsumerOptions): GroupConsumer;
  /** Whether the log's backend is reachable right now. */
  healthy(): Promise<{ connected: boolean; detail?: string }>;
}

export function tpKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}
