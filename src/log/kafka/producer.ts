/**
 * Appending to Kafka: one idempotent producer (acks = all, one request in flight so retries cannot
 * reorder); the partition is computed here (records.ts) and sent explicitly. Every append is
 * bounded by `produceTimeoutMs`, and a large append is split into requests the broker accepts.
 */
import { CompressionTypes, type Kafka, Partitioners, type Producer, type RetryOptions } from 'kafkajs';
import type { AppendResult, ProduceRecord } from '../port.ts';
import { lazyConnection } from './connect-once.ts';
import { isUnknownTopic, unavailable, unknownTopic } from './errors.ts';
import { type OutgoingMessage, toMessages } from './records.ts';

/** Bounds of one produce request, well below the broker's default message.max.bytes (1 MiB). */
const MAX_BYTES_PER_REQUEST = 512 * 1024;
const MAX_RECORDS_PER_REQUEST = 2000;

export interface KafkaAppender {
  connect(): Promise<void>;
  /** Appends `records` (non-empty) in order; the results are in input order. */
  append(topic: string, records: ProduceRecord[]): Promise<AppendResult[]>;
  disconnect(): Promise<void>;
}

export interface AppenderOptions {
  retry: RetryOptions;
  compression: 'none' | 'gzip';
  produceTimeoutMs: number;
  /** The topic's partition count, undefined when it does not exist. */
  partitionCount(topic: string): Promise<number | undefined>;
}

/** The end (exclusive) of the produce request that starts at `from`: at least one message, then within both bounds. */
function requestEnd(messages: readonly OutgoingMessage[], from: number): number {
  let to = from;
  let bytes = 0;
  while (to < messages.length && to - from < MAX_RECORDS_PER_REQUEST && (to === from || bytes + messages[to]!.value.length <= MAX_BYTES_PER_REQUEST)) {
    bytes += messages[to]!.value.length;
    to++;
  }
  return to;
}

export function createAppender(kafka: Kafka, options: AppenderOptions): KafkaAppender {
  const compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // kafkajs refuses an idempotent producer without retries
    retry: { ...options.retry, retries: Math.max(1, options.retry.retries ?? 5) },
    // never used for partitioning (every message carries its partition); set to keep kafkajs from
    // warning about its v2 default-partitioner change
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const connection = lazyConnection(() => producer.connect());

  async function send(topic: string, messages: OutgoingMessage[]): Promise<Awaited<ReturnType<Producer['send']>>> {
    try {
      return await producer.send({ topic, messages, acks: -1, compression });
    } catch (e) {
      if (isUnknownTopic(e)) throw unknownTopic(topic, e);
      throw e;
    }
  }

  async function append(topic: string, records: ProduceRecord[]): Promise<AppendResult[]> {
    await connection.ensure();
    // also for explicit partitions: kafkajs would retry an unknown topic until the timeout
    const count = await options.partitionCount(topic);
    if (count === undefined) throw unknownTopic(topic);
    const messages = toMessages(topic, records, count);
    const results = new Array<AppendResult>(records.length);
    // One produce request per chunk, sent in order: a request larger than the broker's
    // message.max.bytes (1 MiB by default) would be refused on every retry, so a large append
    // (e.g. a checkpoint's pending finals) is split.
    for (let from = 0; from < messages.length; ) {
      const to = requestEnd(messages, from);
      const meta = await send(topic, messages.slice(from, to));
      const next = new Map<number, number>();
      for (const m of meta) next.set(m.partition, Number(m.baseOffset));
      // kafkajs keeps each partition's messages in input order within one produce request
      for (let i = from; i < to; i++) {
        const partition = messages[i]!.partition;
        const offset = next.get(partition) ?? -1;
        next.set(partition, offset + 1);
        results[i] = { topic, partition, offset };
      }
      from = to;
    }
    return results;
  }

  /** Bounds one append: after `produceTimeoutMs` it rejects with BROKER_UNAVAILABLE (retriable). */
  function withTimeout<T>(what: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(what, new Error(`no answer within ${options.produceTimeoutMs} ms`))), options.produceTimeoutMs);
    });
    // the abandoned attempt may still fail later; that failure is already reported as the timeout
    work.catch(() => {});
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  return {
    connect: () => connection.ensure(),
    append: (topic, records) => withTimeout(`appending to ${topic}`, append(topic, records)),
    disconnect: () => producer.disconnect(),
  };
}
