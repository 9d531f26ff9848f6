/**
 * A topic-prefix decorator of the event-log port: every topic keyflow names (event topics, the
 * dead-letter, late and aggregated topics, dynamic topics) is stored on the backend as
 * `<prefix><name>`, and every name the backend reports is handed back without the prefix. So
 * several keyflow deployments (tenants, test runs) can share one Kafka cluster, and nothing
 * above the port — registry, processor, GraphQL reads — knows the prefix exists.
 */
import type { TopicSpec } from '../model/index.ts';
import type { ConsumerHandlers, EventLog, GroupConsumer, LogRecord, RecordBatch, TopicPartition } from './port.ts';
import { tpKey } from './port.ts';

/**
 * Wraps `log` so that topic names get `prefix` on the backend. An empty prefix returns `log` itself.
 *
 * @example
 * const log = withTopicPrefix(createKafkaLog({ brokers }), 'tenant-a.'); // topic tenant-a.events.iot.sensors
 */
export function withTopicPrefix(log: EventLog, prefix: string): EventLog {
  if (prefix === '') return log;
  const add = (topic: string): string => prefix + topic;
  const strip = (topic: string): string => (topic.startsWith(prefix) ? topic.slice(prefix.length) : topic);
  const stripTps = (tps: TopicPartition[]): TopicPartition[] => tps.map((tp) => ({ topic: strip(tp.topic), partition: tp.partition }));
  /** Records come fresh from the adapter: renaming their topic in place avoids a copy per record. */
  const stripRecords = (records: LogRecord[]): LogRecord[] => {
    for (let i = 0; i < records.length; i++) records[i]!.topic = strip(records[i]!.topic);
    return records;
  };

  return {
    kind: log.kind,
    start: () => log.start(),
    close: () => log.close(),
    ensureTopics: (topics: readonly TopicSpec[]) => log.ensureTopics(topics.map((t) => ({ ...t, name: add(t.name) }))),
    partitions: (topic) => log.partitions(add(topic)),
    async append(topic, records, options) {
      const results = await log.append(add(topic), records, options);
      for (const r of results) r.topic = topic;
      return results;
    },
    async read(topic, partition, fromOffset, max) {
      return stripRecords(await log.read(add(topic), partition, fromOffset, max));
    },
    flush: (topic, partition, nextOffset) => log.flush(add(topic), partition, nextOffset),
    beginOffsets: (topic) => log.beginOffsets(add(topic)),
    endOffsets: (topic) => log.endOffsets(add(topic)),
    healthy: () => log.healthy(),
    consumer(options): GroupConsumer {
      const h = options.handlers;
      const handlers: ConsumerHandlers = {
        async onAssigned(tps) {
          const starts = await h.onAssigned(stripTps(tps));
          if (starts === undefined) return undefined;
          // the adapter looks the start offsets up by its own (prefixed) topic names
          const out = new Map<string, number | undefined>();
          for (const tp of tps) out.set(tpKey(tp.topic, tp.partition), starts.get(tpKey(strip(tp.topic), tp.partition)));
          return out;
        },
        onRevoked: (tps) => h.onRevoked(stripTps(tps)),
        onBatch(batch: RecordBatch) {
          stripRecords(batch.records);
          return h.onBatch({ ...batch, topic: strip(batch.topic) });
        },
      };
      const inner = log.consumer({ ...options, topics: options.topics.map(add), handlers });
      return {
        start: () => inner.start(),
        stop: () => inner.stop(),
        commit: (tp, nextOffset) => inner.commit({ topic: add(tp.topic), partition: tp.partition }, nextOffset),
        seek: (tp, offset) => inner.seek({ topic: add(tp.topic), partition: tp.partition }, offset),
      };
    },
  };
}
