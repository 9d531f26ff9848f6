/**
 * A tiny in-memory EventLog for unit tests of the layers above the log port (until the embedded
 * log is available). Partitions by murmur2 like Kafka; no consumer groups.
 */
import type { AppendResult, EventLog, LogRecord, ProduceRecord } from '../../src/log/port.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import type { TopicSpec } from '../../src/model/event-types.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';

export interface MemoryLog extends EventLog {
  /** Every record of a topic, all partitions. */
  records(topic: string): LogRecord[];
  /** Number of append() calls that reached the log (including failed ones). */
  appendCalls: number;
  /** Makes the next `n` append() calls fail with `error`. */
  failNext(n: number, error: Error): void;
  /** Called after each successful append, with the stored records (e.g. to feed a bus). */
  onAppend: ((records: LogRecord[]) => void) | null;
}

const encoder = new TextEncoder();

export function createMemoryLog(now: () => number = Date.now): MemoryLog {
  const topics = new Map<string, LogRecord[][]>();
  let failures: { n: number; error: Error } = { n: 0, error: new Error('') };
  const log: MemoryLog = {
    kind: 'embedded',
    appendCalls: 0,
    onAppend: null,
    async start() {},
    async close() {},
    async ensureTopics(specs: readonly TopicSpec[]) {
      for (const s of specs) if (!topics.has(s.name)) topics.set(s.name, Array.from({ length: s.partitions }, () => []));
    },
    async partitions(topic) {
      return topics.get(topic)?.length;
    },
    async append(topic, records: ProduceRecord[]): Promise<AppendResult[]> {
      log.appendCalls++;
      if (failures.n > 0) {
        failures.n--;
        throw failures.error;
      }
      const parts = topics.get(topic);
      if (!parts) throw new KeyflowError(ErrorCode.UNKNOWN_TOPIC, `topic ${topic} does not exist`);
      const stored: LogRecord[] = [];
      for (const r of records) {
        const partition = r.partition ?? partitionForKey(r.key ?? '', parts.length);
        const p = parts[partition]!;
        const rec: LogRecord = {
          topic,
          partition,
          offset: p.length,
          key: r.key,
          value: typeof r.value === 'string' ? encoder.encode(r.value) : r.value,
          headers: { ...(r.headers ?? {}) },
          appendTime: now(),
        };
        p.push(rec);
        stored.push(rec);
      }
      log.onAppend?.(stored);
      return stored.map((r) => ({ topic, partition: r.partition, offset: r.offset }));
    },
    async read(topic, partition, fromOffset, max) {
      const p = topics.get(topic)?.[partition] ?? [];
      return p.slice(fromOffset, fromOffset + max);
    },
    async flush() {},
    async beginOffsets(topic) {
      return (topics.get(topic) ?? []).map(() => 0);
    },
    async endOffsets(topic) {
      return (topics.get(topic) ?? []).map((p) => p.length);
    },
    consumer() {
      throw new Error('the memory log has no consumer groups');
    },
    async healthy() {
      return { connected: true };
    },
    records(topic) {
      return (topics.get(topic) ?? []).flat();
    },
    failNext(n, error) {
      failures = { n, error };
    },
  };
  return log;
}
