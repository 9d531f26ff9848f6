/**
 * Topic administration and metadata for the Kafka event log: creating topics, partition counts
 * (cached for a while, as Kafka clients refresh metadata) and begin/end offsets.
 */
import type { Admin, Kafka, RetryOptions } from 'kafkajs';
import { isRetriable, retry } from '../../core/index.ts';
import { type TopicSpec, toError } from '../../model/index.ts';
import { lazyConnection } from './connect-once.ts';
import { isUnknownTopic } from './errors.ts';

/** How long a topic's partition count is trusted before it is read again, ms. */
const PARTITION_COUNT_TTL_MS = 60_000;

/**
 * Admin offset look-ups right after a topic was created (or while a leader moves) can hit a
 * broker whose metadata is a moment behind; those errors are retriable.
 */
const OFFSETS_RETRY = { attempts: 41, baseDelayMs: 50, maxDelayMs: 1000 };
/**
 * kafkajs 2.x `fetchTopicOffsets` throws a TypeError ("Cannot destructure property 'partitions' of
 * '….pop(…)'") when no partition of the topic has a leader in its metadata yet — a topic created a
 * moment ago, or a leader election in progress: the offsets request then goes to no broker and
 * its empty answer is destructured. Like a retriable broker error, it passes.
 */
function leaderless(e: unknown): boolean {
  return e instanceof TypeError && /destructure property 'partitions'/.test(e.message);
}

/** A broker that has just started may not know the new partitions' leaders yet. */
const CREATE_RETRY = { attempts: 6, baseDelayMs: 500, maxDelayMs: 2500 };

export interface TopicOffsets {
  partition: number;
  low: string;
  high: string;
}

export interface KafkaTopicAdmin {
  connect(): Promise<void>;
  /** Creates the topics that do not exist yet and waits until each partition's leader answers. */
  ensureTopics(topics: readonly TopicSpec[]): Promise<void>;
  /** The topic's partition count, undefined when it does not exist. */
  partitionCount(topic: string): Promise<number | undefined>;
  /** Begin (`low`) and end (`high`) offsets of every partition, by partition. */
  topicOffsets(topic: string): Promise<TopicOffsets[]>;
  healthy(): Promise<{ connected: boolean; detail?: string }>;
  disconnect(): Promise<void>;
}

export function createTopicAdmin(kafka: Kafka, options: { retry: RetryOptions; replicationFactor: number }): KafkaTopicAdmin {
  const admin: Admin = kafka.admin({ retry: options.retry });
  const connection = lazyConnection(() => admin.connect());
  /** Partition count per topic with the time it was read: topics can grow, so entries expire. */
  const partitionCounts = new Map<string, { count: number; at: number }>();

  async function topicOffsets(topic: string): Promise<TopicOffsets[]> {
    await connection.ensure();
    const offsets = await retry(() => admin.fetchTopicOffsets(topic), { ...OFFSETS_RETRY, retryIf: (e) => isRetriable(e) || leaderless(e) });
    return offsets.sort((a, b) => a.partition - b.partition);
  }

  async function createTopics(missing: readonly TopicSpec[]): Promise<void> {
    try {
      await admin.createTopics({
        waitForLeaders: true,
        topics: missing.map((t) => ({
          topic: t.name,
          numPartitions: t.partitions,
          replicationFactor: options.replicationFactor,
          ...(t.compacted ? { configEntries: [{ name: 'cleanup.policy', value: 'compact' }] } : {}),
        })),
      });
    } catch (e) {
      // a concurrent creator (or our own earlier attempt) won the race: fine, the topic exists
      const errors = (e as { errors?: Array<{ type?: string }> }).errors;
      if (Array.isArray(errors) && errors.every((x) => x.type === 'TOPIC_ALREADY_EXISTS')) return;
      throw e;
    }
  }

  return {
    connect: () => connection.ensure(),

    async ensureTopics(topics) {
      await connection.ensure();
      const existing = new Set(await admin.listTopics());
      const missing = topics.filter((t) => !existing.has(t.name));
      if (missing.length === 0) return;
      await retry(() => createTopics(missing), CREATE_RETRY);
      // a new topic is usable once every partition answers an offset request from its leader
      for (const t of missing) await topicOffsets(t.name);
    },

    async partitionCount(topic) {
      const known = partitionCounts.get(topic);
      if (known !== undefined && Date.now() - known.at < PARTITION_COUNT_TTL_MS) return known.count;
      await connection.ensure();
      try {
        const meta = await admin.fetchTopicMetadata({ topics: [topic] });
        const count = meta.topics[0]?.partitions.length;
        if (count !== undefined && count > 0) partitionCounts.set(topic, { count, at: Date.now() });
        return count;
      } catch (e) {
        if (isUnknownTopic(e)) return undefined;
        throw e;
      }
    },

    topicOffsets,

    async healthy() {
      try {
        await connection.ensure();
        const cluster = await admin.describeCluster();
        return { connected: cluster.brokers.length > 0, detail: `${cluster.brokers.length} broker(s), controller ${cluster.controller}` };
      } catch (e) {
        return { connected: false, detail: toError(e).message };
      }
    },

    disconnect: () => admin.disconnect(),
  };
}
