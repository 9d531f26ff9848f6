/** Mapping between keyflow's records and kafkajs messages, both ways. */
import { ErrorCode, KeyflowError, partitionForKey } from '../../model/index.ts';
import type { Headers, LogRecord, ProduceRecord } from '../port.ts';

const EMPTY = new Uint8Array(0);
const encoder = new TextEncoder();

/** A message as kafkajs fetches it (consumer batches and the partition reader alike). */
export interface FetchedMessage {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  timestamp: string;
  headers?: Record<string, Buffer | string | Array<Buffer | string> | undefined>;
  isControlRecord?: boolean;
}

/** A message as the producer sends it: always with an explicit partition. */
export interface OutgoingMessage {
  key: string | null;
  value: Buffer;
  headers: Headers | undefined;
  partition: number;
}

function toBuffer(value: Uint8Array | string): Buffer {
  if (typeof value === 'string') return Buffer.from(value, 'utf8');
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function headersOf(raw: FetchedMessage['headers']): Headers {
  const headers: Headers = {};
  if (raw === undefined) return headers;
  for (const name in raw) {
    const v = raw[name];
    if (v === undefined) continue;
    const one = Array.isArray(v) ? v[v.length - 1] : v;
    if (one !== undefined) headers[name] = typeof one === 'string' ? one : one.toString('utf8');
  }
  return headers;
}

/** A fetched message as a keyflow record (the last value of a repeated header wins). */
export function toLogRecord(topic: string, partition: number, m: FetchedMessage): LogRecord {
  return {
    topic,
    partition,
    offset: Number(m.offset),
    key: m.key === null || m.key === undefined ? null : m.key.toString('utf8'),
    value: m.value ?? EMPTY,
    headers: headersOf(m.headers),
    appendTime: Number(m.timestamp),
  };
}

/**
 * Records to messages for a topic of `count` partitions: the partition of a keyed record is Kafka's
 * murmur2 of the key (`partitionForKey`), where a Java producer would put it. Throws BAD_USER_INPUT
 * for a record with neither key nor partition, or a partition the topic does not have.
 */
export function toMessages(topic: string, records: readonly ProduceRecord[], count: number): OutgoingMessage[] {
  return records.map((r, i) => {
    let partition = r.partition;
    if (partition === undefined) {
      if (r.key === null) {
        throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `record ${i} for ${topic} has neither a key nor a partition`);
      }
      partition = partitionForKey(encoder.encode(r.key), count);
    } else if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
      throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `record ${i}: partition ${partition} does not exist in ${topic} (${count} partitions)`);
    }
    return { key: r.key, value: toBuffer(r.value), headers: r.headers, partition };
  });
}
