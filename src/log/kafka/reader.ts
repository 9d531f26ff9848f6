/**
 * Random-access reads of one partition (`EventLog.read`): a plain Fetch request to the partition
 * leader. kafkajs has no public assign()/fetch API, and a consumer group per read costs a group
 * join (hundreds of ms and a group left behind), so this uses kafkajs's own Cluster class — the
 * same one its consumer uses — from its package internals. kafkajs 2.2.x is the last release line;
 * `kafkajs` is pinned to ^2.2.4 in package.json.
 */
import { createRequire } from 'node:module';
import type { Logger } from 'kafkajs';
import type { LogRecord } from '../port.ts';
import { type LazyConnection, lazyConnection } from './connect-once.ts';
import { isUnknownTopic } from './errors.ts';
import type { ConnectionSettings } from './options.ts';
import { type FetchedMessage, toLogRecord } from './records.ts';

const require = createRequire(import.meta.url);

/** What we use of kafkajs's internal `Cluster`. */
interface InternalBroker {
  fetch(request: {
    maxWaitTime: number;
    minBytes: number;
    maxBytes: number;
    isolationLevel: number;
    topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string; maxBytes: number }> }>;
  }): Promise<{ responses: Array<{ topicName: string; partitions: FetchedPartition[] }> }>;
}

export interface FetchedPartition {
  partition: number;
  errorCode: number;
  highWatermark: string;
  messages: FetchedMessage[];
}

interface InternalCluster {
  connect(): Promise<void>;
  disconnect(): Promise<void>;
  addTargetTopic(topic: string): Promise<void>;
  refreshMetadata(): Promise<void>;
  findTopicPartitionMetadata(topic: string): Array<{ partitionId: number; leader: number }>;
  findBroker(args: { nodeId: number }): Promise<InternalBroker>;
}

type ClusterCtor = new (options: Record<string, unknown>) => InternalCluster;

export interface ReaderOptions extends ConnectionSettings {
  logger: Logger;
}

const STALE_METADATA = new Set(['LEADER_NOT_AVAILABLE', 'NOT_LEADER_FOR_PARTITION', 'FENCED_LEADER_EPOCH', 'UNKNOWN_LEADER_EPOCH']);

/** READ_COMMITTED: never show records of aborted or open transactions. */
const READ_COMMITTED = 1;

export class PartitionReader {
  readonly #cluster: InternalCluster;
  readonly #connection: LazyConnection;

  constructor(options: ReaderOptions) {
    const Cluster = require('kafkajs/src/cluster/index.js') as ClusterCtor;
    const socketFactory = (require('kafkajs/src/network/socketFactory.js') as () => unknown)();
    this.#cluster = new Cluster({
      logger: options.logger,
      socketFactory,
      brokers: options.brokers,
      ssl: options.ssl,
      sasl: options.sasl,
      clientId: `${options.clientId}-reader`,
      connectionTimeout: options.connectionTimeout,
      requestTimeout: options.requestTimeout,
      enforceRequestTimeout: true,
      retry: options.retry,
      allowAutoTopicCreation: false,
      offsets: new Map(),
    });
    const cluster = this.#cluster;
    this.#connection = lazyConnection(() => cluster.connect());
  }

  /**
   * Reads up to `max` records of one partition from `fromOffset` (inclusive), skipping control
   * records; stops at the end of the partition. An offset below the partition's begin (retention
   * deleted it) continues from `beginOffset()`.
   */
  async read(topic: string, partition: number, fromOffset: number, max: number, beginOffset: () => Promise<number>): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    let offset = fromOffset;
    let maxBytes = 1 << 20;
    while (out.length < max) {
      let data: FetchedPartition | undefined;
      try {
        data = await this.fetch(topic, partition, offset, maxBytes);
      } catch (e) {
        if ((e as { name?: string }).name === 'KafkaJSOffsetOutOfRange') {
          const begin = await beginOffset();
          if (offset < begin) {
            offset = begin;
            continue;
          }
          return out;
        }
        if (isUnknownTopic(e)) return out;
        throw e;
      }
      if (data === undefined) return out;
      let progressed = false;
      for (const m of data.messages) {
        const o = Number(m.offset);
        if (o < offset) continue;
        offset = o + 1;
        progressed = true;
        if (m.isControlRecord === true) continue;
        out.push(toLogRecord(topic, partition, m));
        if (out.length >= max) break;
      }
      const high = Number(data.highWatermark);
      if (offset >= high) break;
      if (!progressed) {
        // a record batch larger than maxBytes: ask for more
        if (maxBytes >= 64 << 20) break;
        maxBytes *= 4;
      }
    }
    return out;
  }

  /** Fetches records of one partition from `fromOffset` (inclusive); at most `maxBytes` per request. */
  async fetch(topic: string, partition: number, fromOffset: number, maxBytes: number): Promise<FetchedPartition | undefined> {
    try {
      return await this.#fetchOnce(topic, partition, fromOffset, maxBytes);
    } catch (e) {
      // the leader moved or a connection dropped (broker restart): refresh metadata and try once more
      const err = e as { type?: string; name?: string };
      const stale =
        (err.type !== undefined && STALE_METADATA.has(err.type)) || err.name === 'KafkaJSConnectionClosedError' || err.name === 'KafkaJSBrokerNotFound';
      if (!stale) throw e;
      await this.#cluster.refreshMetadata();
      return this.#fetchOnce(topic, partition, fromOffset, maxBytes);
    }
  }

  async #fetchOnce(topic: string, partition: number, fromOffset: number, maxBytes: number): Promise<FetchedPartition | undefined> {
    await this.#connection.ensure();
    await this.#cluster.addTargetTopic(topic);
    let meta = this.#cluster.findTopicPartitionMetadata(topic).find((p) => p.partitionId === partition);
    if (meta === undefined) {
      await this.#cluster.refreshMetadata();
      meta = this.#cluster.findTopicPartitionMetadata(topic).find((p) => p.partitionId === partition);
      if (meta === undefined) return undefined;
    }
    const broker = await this.#cluster.findBroker({ nodeId: meta.leader });
    const { responses } = await broker.fetch({
      // the end of the log answers at once instead of waiting for new records
      maxWaitTime: 0,
      minBytes: 1,
      maxBytes,
      isolationLevel: READ_COMMITTED,
      topics: [{ topic, partitions: [{ partition, fetchOffset: String(fromOffset), maxBytes }] }],
    });
    return responses.find((r) => r.topicName === topic)?.partitions.find((p) => p.partition === partition);
  }

  async close(): Promise<void> {
    if (!this.#connection.opened()) return;
    this.#connection.forget();
    await this.#cluster.disconnect();
  }
}
