/** Options of the Kafka event log, and the connection settings its clients share. */
import type { KafkaConfig, RetryOptions, SASLOptions } from 'kafkajs';
import type { KafkaAdapterLogger, KafkaLogLevel } from './logger.ts';

export interface KafkaLogOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** Client id sent to the brokers (shows in broker logs and quotas). @default 'keyflow' */
  clientId?: string;
  /** TLS: `true` for the system CAs, or Node `tls.connect` options. @default false */
  ssl?: KafkaConfig['ssl'];
  /** SASL authentication, passed to kafkajs as is (plain, scram-sha-256, scram-sha-512, …). */
  sasl?: SASLOptions;
  /**
   * Compression of produced batches. Only GZIP is built into kafkajs; snappy, lz4 and zstd need
   * codec packages that keyflow does not install. @default 'none'
   */
  compression?: 'none' | 'gzip';
  /** Replication factor of the topics `ensureTopics` creates. @default 1 */
  replicationFactor?: number;
  /** Upper bound of one append (connecting, metadata, retries included), ms; then it rejects with BROKER_UNAVAILABLE (retriable). @default 30000 */
  produceTimeoutMs?: number;
  /** kafkajs retry policy of the producer and admin client (`retries`, `initialRetryTime`, `maxRetryTime`). @default kafkajs defaults with 5 retries */
  retry?: RetryOptions;
  /** TCP connect timeout, ms. @default 3000 */
  connectionTimeoutMs?: number;
  /** Request timeout, ms. @default 30000 */
  requestTimeoutMs?: number;
  /** Group session timeout, ms: a member silent this long is removed from the group (KAFKA_SESSION_TIMEOUT_MS). @default kafkajs's */
  sessionTimeoutMs?: number;
  /** Heartbeat interval of group members, ms (must be below the session timeout). @default 3000 */
  heartbeatIntervalMs?: number;
  /** How long the group waits for members to rejoin during a rebalance, ms. @default 60000 */
  rebalanceTimeoutMs?: number;
  /** Longest a consumer fetch waits for new records, ms (bounds delivery latency of an idle partition). @default 500 */
  maxWaitTimeMs?: number;
  /**
   * Partitions a group member processes at the same time (kafkajs `partitionsConsumedConcurrently`);
   * one partition's batches still run one at a time, in order. @default 1
   */
  partitionsConsumedConcurrently?: number;
  /** Where kafkajs logs go (a pino logger fits). @default JSON lines on stderr */
  logger?: KafkaAdapterLogger;
  /** Least severe kafkajs log level that is written. @default 'warn' */
  logLevel?: KafkaLogLevel;
}

/** What every kafkajs client of one log connects with (the producer/admin/consumer client and the partition reader). */
export interface ConnectionSettings {
  brokers: string[];
  clientId: string;
  ssl: KafkaConfig['ssl'];
  sasl: SASLOptions | undefined;
  connectionTimeout: number;
  requestTimeout: number;
  retry: RetryOptions;
}

export function connectionSettings(options: KafkaLogOptions): ConnectionSettings {
  return {
    brokers: options.brokers,
    clientId: options.clientId ?? 'keyflow',
    ssl: options.ssl,
    sasl: options.sasl,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    retry: { retries: 5, ...options.retry },
  };
}
