/**
 * The Kafka adapter of the event-log port, on kafkajs 2.2.
 *
 * Producing: one idempotent producer (acks = all, one request in flight so retries cannot reorder);
 * the partition is computed here with Kafka's murmur2 (`partitionForKey`) and sent explicitly, so
 * a key lands where a Java producer would put it. Every append is bounded by `produceTimeoutMs`.
 *
 * Consuming: `consumer()` is a kafkajs group member with the sticky assigner, `eachBatch` without
 * auto-resolve or auto-commit. kafkajs has no rebalance listener, so membership changes are taken
 * from its GROUP_JOIN event (emitted synchronously after SyncGroup, before the next fetch):
 *
 * - newly assigned partitions are paused at once, `onAssigned` runs, each is seeked to the offset
 *   it returned (or left at the committed offset), then resumed;
 * - partitions this member no longer has get `onRevoked`, after the new assignment is known (after
 *   SyncGroup), not before JoinGroup: kafkajs cannot await anything there, and with the eager
 *   protocol only the leader's SyncGroup says what moves. What does hold: once this member learns
 *   of the rebalance (a heartbeat fails; one runs after every delivered chunk) it delivers no
 *   further chunk, kafkajs waits for an `onBatch` in progress before it rejoins, and a revoked
 *   partition is never fetched again — so `onRevoked` runs after the partition's last `onBatch`
 *   finished, and none follows it. The new owner may already have run
 *   `onAssigned` and started, so a checkpoint written in `onRevoked` can race with it: exactly-once
 *   rests on the checkpoint store's epoch fence (DESIGN.md), which rejects the old owner's write;
 * - membership work runs one change at a time in the order kafkajs reported it (revocations of a
 *   change before its assignments); a failing `onAssigned` is retried with backoff while the
 *   partitions stay paused;
 * - partitions kept across the rebalance continue where this member was (kafkajs would rewind
 *   them to the committed offset: it rebuilds its offset state on every sync);
 * - if the kafkajs consumer crashes and restarts, everything it had is revoked first, then
 *   assigned again, because its in-memory positions are gone.
 */
import {
  CompressionTypes,
  type Consumer,
  type EachBatchPayload,
  Kafka,
  type KafkaConfig,
  Partitioners,
  type Producer,
  type RetryOptions,
  type SASLOptions,
} from 'kafkajs';
import type { TopicSpec } from '../../model/index.ts';
import { ErrorCode, KeyflowError, toError } from '../../model/index.ts';
import { partitionForKey } from '../../model/index.ts';
import type {
  AppendResult,
  ConsumerOptions,
  EventLog,
  GroupConsumer,
  Headers,
  LogRecord,
  ProduceRecord,
  RecordBatch,
  TopicPartition,
} from '../port.ts';
import { tpKey } from '../port.ts';
import { type KafkaAdapterLogger, type KafkaLogLevel, pinoLogCreator, stderrLogger, toKafkajsLevel } from './logger.ts';
import { type FetchedMessage, PartitionReader } from './reader.ts';
import { createStickyAssigner, type TopicAssignment } from './sticky-assigner.ts';

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
  /** Group session timeout, ms: a member silent this long is removed from the group. @default 30000 */
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

/** Bounds of one produce request, well below the broker's default message.max.bytes (1 MiB). */
const MAX_BYTES_PER_REQUEST = 512 * 1024;
const MAX_RECORDS_PER_REQUEST = 2000;
const encoder = new TextEncoder();
/** How long a topic's partition count is trusted before it is read again, ms (as Kafka clients refresh metadata). */
const PARTITION_COUNT_TTL_MS = 60_000;
const EMPTY = new Uint8Array(0);

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

function toLogRecord(topic: string, partition: number, m: FetchedMessage): LogRecord {
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

function isUnknownTopic(e: unknown): boolean {
  const err = e as { type?: string; name?: string } | undefined;
  return err?.type === 'UNKNOWN_TOPIC_OR_PARTITION' || err?.name === 'KafkaJSTopicMetadataNotLoaded';
}

function unavailable(what: string, cause: unknown): KeyflowError {
  return new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `${what}: Kafka is not reachable or did not answer (${toError(cause).message}); retry later`, {
    retriable: true,
    cause,
  });
}

/** Runs a broker operation; anything but a KeyflowError becomes BROKER_UNAVAILABLE (retriable). */
async function guarded<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof KeyflowError) throw e;
    throw unavailable(what, e);
  }
}

const REBALANCE_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR', 'NOT_COORDINATOR_FOR_GROUP']);

/** Whether kafkajs failed because the group is rebalancing (possibly wrapped in a retries-exceeded error). */
function isRebalanceError(e: unknown): boolean {
  for (let cur = e as { type?: string; cause?: unknown; originalError?: unknown } | undefined, depth = 0; cur && depth < 5; depth++) {
    if (cur.type !== undefined && REBALANCE_ERRORS.has(cur.type)) return true;
    cur = (cur.originalError ?? cur.cause) as typeof cur;
  }
  return false;
}

/**
 * Creates the Kafka event log. Call `start()` before use (appends also connect on demand).
 *
 * @example
 * const log = createKafkaLog({ brokers: ['127.0.0.1:9092'], clientId: 'keyflow-gateway' });
 * await log.start();
 * await log.ensureTopics([{ name: 'events.iot.sensors', partitions: 12 }]);
 * await log.append('events.iot.sensors', [{ key: 'device-1', value: JSON.stringify(event) }]);
 */
export function createKafkaLog(options: KafkaLogOptions): EventLog {
  const clientId = options.clientId ?? 'keyflow';
  const produceTimeoutMs = options.produceTimeoutMs ?? 30_000;
  const retry: RetryOptions = { retries: 5, ...options.retry };
  const kafka = new Kafka({
    brokers: options.brokers,
    clientId,
    ssl: options.ssl,
    sasl: options.sasl,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    retry,
    logLevel: toKafkajsLevel(options.logLevel ?? 'warn'),
    logCreator: pinoLogCreator(options.logger),
  });
  const compression = options.compression === 'gzip' ? CompressionTypes.GZIP : CompressionTypes.None;
  const producer: Producer = kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    allowAutoTopicCreation: false,
    // kafkajs refuses an idempotent producer without retries
    retry: { ...retry, retries: Math.max(1, retry.retries ?? 5) },
    // never used for partitioning (every message carries its partition); set to keep kafkajs from
    // warning about its v2 default-partitioner change
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const admin = kafka.admin({ retry });
  const reader = new PartitionReader({
    brokers: options.brokers,
    clientId,
    ssl: options.ssl,
    sasl: options.sasl,
    connectionTimeout: options.connectionTimeoutMs ?? 3000,
    requestTimeout: options.requestTimeoutMs ?? 30_000,
    logger: kafka.logger(),
    retry,
  });
  /** Partition count per topic with the time it was read: topics can grow, so entries expire. */
  const partitionCounts = new Map<string, { count: number; at: number }>();
  const consumers = new Set<GroupConsumer>();
  let producerReady: Promise<void> | undefined;
  let adminReady: Promise<void> | undefined;
  let closed = false;

  function connectProducer(): Promise<void> {
    producerReady ??= producer.connect().catch((e: unknown) => {
      producerReady = undefined;
      throw e;
    });
    return producerReady;
  }
  function connectAdmin(): Promise<void> {
    adminReady ??= admin.connect().catch((e: unknown) => {
      adminReady = undefined;
      throw e;
    });
    return adminReady;
  }

  async function partitionCount(topic: string): Promise<number | undefined> {
    const known = partitionCounts.get(topic);
    if (known !== undefined && Date.now() - known.at < PARTITION_COUNT_TTL_MS) return known.count;
    await connectAdmin();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [topic] });
      const count = meta.topics[0]?.partitions.length;
      if (count !== undefined && count > 0) partitionCounts.set(topic, { count, at: Date.now() });
      return count;
    } catch (e) {
      if (isUnknownTopic(e)) return undefined;
      throw e;
    }
  }

  /**
   * Admin offset look-ups right after a topic was created (or while a leader moves) can hit a
   * broker whose metadata is a moment behind; those errors are retriable, so retry a few times.
   */
  async function topicOffsets(topic: string): Promise<Array<{ partition: number; low: string; high: string }>> {
    await connectAdmin();
    for (let attempt = 0; ; attempt++) {
      try {
        const offsets = await admin.fetchTopicOffsets(topic);
        return offsets.sort((a, b) => a.partition - b.partition);
      } catch (e) {
        if (attempt >= 40 || (e as { retriable?: boolean }).retriable !== true) throw e;
        await new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 1000)));
      }
    }
  }

  async function ensureTopics(topics: readonly TopicSpec[]): Promise<void> {
    await connectAdmin();
    const existing = new Set(await admin.listTopics());
    const missing = topics.filter((t) => !existing.has(t.name));
    if (missing.length === 0) return;
    for (let attempt = 0; ; attempt++) {
      try {
        await admin.createTopics({
          waitForLeaders: true,
          topics: missing.map((t) => ({ topic: t.name, numPartitions: t.partitions, replicationFactor: options.replicationFactor ?? 1 })),
        });
        break;
      } catch (e) {
        // a concurrent creator (or our own earlier attempt) won the race: fine, the topic exists
        const errors = (e as { errors?: Array<{ type?: string }> }).errors;
        if (Array.isArray(errors) && errors.every((x) => x.type === 'TOPIC_ALREADY_EXISTS')) break;
        // a broker that has just started may not know the new partitions' leaders yet
        if (attempt >= 5 || (e as { retriable?: boolean }).retriable !== true) throw e;
        await new Promise((r) => setTimeout(r, 500 * (attempt + 1)));
      }
    }
    // a new topic is usable once every partition answers an offset request from its leader
    for (const t of missing) await topicOffsets(t.name);
  }

  async function read(topic: string, partition: number, fromOffset: number, max: number): Promise<LogRecord[]> {
    const out: LogRecord[] = [];
    let offset = fromOffset;
    let maxBytes = 1 << 20;
    while (out.length < max) {
      let data: Awaited<ReturnType<PartitionReader['fetch']>>;
      try {
        data = await reader.fetch(topic, partition, offset, maxBytes);
      } catch (e) {
        if ((e as { name?: string }).name === 'KafkaJSOffsetOutOfRange') {
          const begin = Number((await topicOffsets(topic))[partition]?.low ?? 0);
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

  function withTimeout<T>(what: string, work: Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(unavailable(what, new Error(`no answer within ${produceTimeoutMs} ms`))), produceTimeoutMs);
    });
    // the abandoned attempt may still fail later; that failure is already reported as the timeout
    work.catch(() => {});
    return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
  }

  async function doAppend(topic: string, records: ProduceRecord[]): Promise<AppendResult[]> {
    await connectProducer();
    // also for explicit partitions: kafkajs would retry an unknown topic until the timeout
    const count = await partitionCount(topic);
    if (count === undefined) {
      throw new KeyflowError(ErrorCode.UNKNOWN_TOPIC, `topic ${topic} does not exist; create it with ensureTopics first`);
    }
    const partitions = new Array<number>(records.length);
    const messages = records.map((r, i) => {
      let partition = r.partition;
      if (partition === undefined) {
        if (r.key === null) {
          throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `record ${i} for ${topic} has neither a key nor a partition`);
        }
        partition = partitionForKey(encoder.encode(r.key), count);
      } else if (!Number.isInteger(partition) || partition < 0 || partition >= count) {
        throw new KeyflowError(ErrorCode.BAD_USER_INPUT, `record ${i}: partition ${partition} does not exist in ${topic} (${count} partitions)`);
      }
      partitions[i] = partition;
      return { key: r.key, value: toBuffer(r.value), headers: r.headers, partition };
    });
    const results = new Array<AppendResult>(records.length);
    // One produce request per chunk, sent in order: a request larger than the broker's
    // message.max.bytes (1 MiB by default) would be refused on every retry, so a large append
    // (e.g. a checkpoint's pending finals) is split.
    let from = 0;
    while (from < messages.length) {
      let to = from;
      let bytes = 0;
      while (to < messages.length && to - from < MAX_RECORDS_PER_REQUEST && (to === from || bytes + messages[to]!.value.length <= MAX_BYTES_PER_REQUEST)) {
        bytes += messages[to]!.value.length;
        to++;
      }
      let meta: Awaited<ReturnType<Producer['send']>>;
      try {
        meta = await producer.send({ topic, messages: messages.slice(from, to), acks: -1, compression });
      } catch (e) {
        if (isUnknownTopic(e)) {
          throw new KeyflowError(ErrorCode.UNKNOWN_TOPIC, `topic ${topic} does not exist; create it with ensureTopics first`, { cause: e });
        }
        throw e;
      }
      const next = new Map<number, number>();
      for (const m of meta) next.set(m.partition, Number(m.baseOffset));
      // kafkajs keeps each partition's messages in input order within one produce request
      for (let i = from; i < to; i++) {
        const partition = partitions[i]!;
        const offset = next.get(partition) ?? -1;
        next.set(partition, offset + 1);
        results[i] = { topic, partition, offset };
      }
      from = to;
    }
    return results;
  }

  const log: EventLog = {
    kind: 'kafka',

    async start() {
      try {
        await Promise.all([connectProducer(), connectAdmin()]);
      } catch (e) {
        throw unavailable('connecting to Kafka', e);
      }
    },

    async close() {
      if (closed) return;
      closed = true;
      await Promise.allSettled([...consumers].map((c) => c.stop()));
      await Promise.allSettled([producer.disconnect(), admin.disconnect(), reader.close()]);
    },

    ensureTopics(topics: readonly TopicSpec[]) {
      return guarded('creating topics', () => ensureTopics(topics));
    },

    partitions(topic) {
      return guarded(`reading the partition count of ${topic}`, () => partitionCount(topic));
    },

    read(topic, partition, fromOffset, max) {
      return guarded(`reading ${topic}/${partition}`, () => read(topic, partition, fromOffset, max));
    },

    async beginOffsets(topic) {
      return guarded(`reading offsets of ${topic}`, async () => (await topicOffsets(topic)).map((o) => Number(o.low)));
    },

    async endOffsets(topic) {
      return guarded(`reading offsets of ${topic}`, async () => (await topicOffsets(topic)).map((o) => Number(o.high)));
    },

    async append(topic, records) {
      if (records.length === 0) return [];
      return guarded(`appending to ${topic}`, () => withTimeout(`appending to ${topic}`, doAppend(topic, records)));
    },

    consumer(consumerOptions) {
      const c = createGroupConsumer(kafka, consumerOptions, options);
      consumers.add(c);
      return c;
    },

    async healthy() {
      try {
        await connectAdmin();
        const cluster = await admin.describeCluster();
        return { connected: cluster.brokers.length > 0, detail: `${cluster.brokers.length} broker(s), controller ${cluster.controller}` };
      } catch (e) {
        return { connected: false, detail: toError(e).message };
      }
    },
  };
  return log;
}

function createGroupConsumer(kafka: Kafka, opts: ConsumerOptions, logOptions: KafkaLogOptions): GroupConsumer {
  const { handlers } = opts;
  const maxBatch = Math.max(1, opts.maxBatchRecords ?? 500);
  /** What this member owns as far as the handlers know; read by the sticky assigner at join. */
  let owned: TopicAssignment = {};
  /** Next offset to deliver per partition, for partitions kept across a rebalance. */
  const position = new Map<string, number>();
  /** Bumped by seek(): a chunk loop that sees it change stops delivering the old batch. */
  const seekEpoch = new Map<string, number>();
  /** Partitions whose onAssigned has not finished: their batches are not delivered. */
  const pending = new Set<string>();
  let membership: Promise<void> = Promise.resolve();
  let running = false;
  let stopping = false;

  const consumer: Consumer = kafka.consumer({
    groupId: opts.groupId,
    partitionAssigners: [createStickyAssigner(() => owned)],
    sessionTimeout: logOptions.sessionTimeoutMs ?? 30_000,
    heartbeatInterval: logOptions.heartbeatIntervalMs ?? 3000,
    rebalanceTimeout: logOptions.rebalanceTimeoutMs ?? 60_000,
    maxWaitTimeInMs: logOptions.maxWaitTimeMs ?? 500,
    allowAutoTopicCreation: false,
  });

  function list(assignment: TopicAssignment): TopicPartition[] {
    const out: TopicPartition[] = [];
    for (const topic of Object.keys(assignment)) for (const partition of assignment[topic] ?? []) out.push({ topic, partition });
    return out;
  }

  function byTopic(tps: TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
    const m = new Map<string, number[]>();
    for (const tp of tps) {
      const arr = m.get(tp.topic);
      if (arr === undefined) m.set(tp.topic, [tp.partition]);
      else arr.push(tp.partition);
    }
    return [...m].map(([topic, partitions]) => ({ topic, partitions }));
  }

  function fail(what: string, e: unknown): void {
    if (logOptions.logLevel === 'nothing') return;
    const err = toError(e);
    (logOptions.logger ?? stderrLogger).error({ component: 'keyflow-kafka', groupId: opts.groupId, err: { message: err.message, stack: err.stack } }, `${what} failed`);
  }

  /** Runs membership work one change at a time, in the order kafkajs reported the changes. */
  function enqueue(work: () => Promise<void>): void {
    membership = membership.then(work).catch((e: unknown) => fail('rebalance handling', e));
  }

  function revokeAll(): void {
    const all = list(owned);
    owned = {};
    for (const tp of all) {
      const k = tpKey(tp.topic, tp.partition);
      position.delete(k);
      pending.delete(k);
    }
    if (all.length > 0) enqueue(() => handlers.onRevoked(all));
  }

  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    // Runs synchronously inside kafkajs's joinAndSync, before it fetches for the new generation:
    // whatever is paused or seeked here is in force for the first fetch.
    if (stopping) return; // "not called after stop()": a join racing with stop() changes nothing
    const next = list(event.payload.memberAssignment as TopicAssignment);
    const nextKeys = new Set(next.map((tp) => tpKey(tp.topic, tp.partition)));
    const before = list(owned);
    const beforeKeys = new Set(before.map((tp) => tpKey(tp.topic, tp.partition)));
    const revoked = before.filter((tp) => !nextKeys.has(tpKey(tp.topic, tp.partition)));
    const added = next.filter((tp) => !beforeKeys.has(tpKey(tp.topic, tp.partition)));
    const kept = next.filter((tp) => beforeKeys.has(tpKey(tp.topic, tp.partition)));
    owned = event.payload.memberAssignment as TopicAssignment;

    for (const tp of kept) {
      const at = position.get(tpKey(tp.topic, tp.partition));
      if (at !== undefined) consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(at) });
    }
    for (const tp of revoked) {
      const k = tpKey(tp.topic, tp.partition);
      position.delete(k);
      pending.delete(k);
    }
    for (const tp of added) pending.add(tpKey(tp.topic, tp.partition));
    if (added.length > 0) consumer.pause(byTopic(added));

    if (revoked.length > 0) enqueue(() => handlers.onRevoked(revoked));
    if (added.length > 0) {
      enqueue(async () => {
        // A failing onAssigned (checkpoint store down) is retried with backoff while the partitions
        // are still ours: they stay paused meanwhile, so nothing is processed from a wrong offset.
        let starts: Map<string, number | undefined> | undefined;
        let todo = added;
        for (let attempt = 0; ; attempt++) {
          todo = todo.filter((tp) => pending.has(tpKey(tp.topic, tp.partition)));
          if (todo.length === 0 || !running) return;
          try {
            starts = await handlers.onAssigned(todo);
            break;
          } catch (e) {
            fail(`onAssigned (attempt ${attempt + 1})`, e);
            await new Promise((r) => setTimeout(r, Math.min(100 * 2 ** attempt, 5000)));
          }
        }
        const stillOurs = todo.filter((tp) => pending.has(tpKey(tp.topic, tp.partition)));
        for (const tp of stillOurs) {
          const k = tpKey(tp.topic, tp.partition);
          const start = starts?.get(k);
          if (start !== undefined) {
            consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(start) });
            position.set(k, start);
          }
          pending.delete(k);
        }
        if (stillOurs.length > 0 && running) consumer.resume(byTopic(stillOurs));
      });
    }
  });

  consumer.on(consumer.events.CRASH, () => {
    // kafkajs restarts a crashed consumer with fresh offset state: treat it as losing everything
    if (!stopping) revokeAll();
  });

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const k = tpKey(topic, partition);
    if (pending.has(k) || stopping) return;
    const epoch = seekEpoch.get(k) ?? 0;
    const messages = batch.messages as unknown as FetchedMessage[];
    const highWatermark = Number(batch.highWatermark);
    for (let start = 0; start < messages.length; start += maxBatch) {
      if (!isRunning() || stopping || (seekEpoch.get(k) ?? 0) !== epoch) return;
      const end = Math.min(messages.length, start + maxBatch);
      const records = new Array<LogRecord>(end - start);
      for (let i = start; i < end; i++) records[i - start] = toLogRecord(topic, partition, messages[i]!);
      const recordBatch: RecordBatch = { topic, partition, records, highWatermark, heartbeat };
      await handlers.onBatch(recordBatch);
      if ((seekEpoch.get(k) ?? 0) !== epoch) return;
      const last = messages[end - 1]!.offset;
      resolveOffset(last);
      position.set(k, Number(last) + 1);
      await heartbeat();
    }
  }

  return {
    async start() {
      if (running) return;
      running = true;
      stopping = false;
      await consumer.connect();
      await consumer.subscribe({ topics: opts.topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, logOptions.partitionsConsumedConcurrently ?? 1),
        eachBatch,
      });
      // the first assignment's onAssigned has run (or failed) before start() resolves
      await membership;
    },

    async stop() {
      if (!running) return;
      stopping = true;
      running = false;
      await consumer.disconnect();
      await membership;
      owned = {};
      position.clear();
      pending.clear();
    },

    async commit(tp, nextOffset) {
      // the committed offset is for lag monitoring only; a member that left has nothing to report
      if (!running) return;
      try {
        await consumer.commitOffsets([{ topic: tp.topic, partition: tp.partition, offset: String(nextOffset) }]);
      } catch (e) {
        // during a rebalance the commit belongs to a generation that is ending; the next
        // checkpoint (ours or the new owner's) commits again, so this one is simply dropped
        if (isRebalanceError(e)) return;
        throw unavailable(`committing ${tpKey(tp.topic, tp.partition)}`, e);
      }
    },

    seek(tp, offset) {
      const k = tpKey(tp.topic, tp.partition);
      seekEpoch.set(k, (seekEpoch.get(k) ?? 0) + 1);
      position.set(k, offset);
      if (!running) return;
      try {
        consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(offset) });
      } catch (e) {
        fail(`seek ${k}`, e);
      }
    },
  };
}
