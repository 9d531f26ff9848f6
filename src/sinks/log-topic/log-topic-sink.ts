/**
 * The log-topic sink: final window results appended to a topic of the event log
 * (`events.aggregated` by default), keyed by the actor key so one key's results stay in one
 * partition in order. Works on either log adapter (it only uses the EventLog port).
 *
 * Delivery is at least once (a redelivered final is appended again); each record carries the
 * window identity in its headers, so a consumer upserts by (eventType, key, window, windowStart)
 * keeping the highest `revision`, exactly as the other sinks do.
 */
import type { EventLog, ProduceRecord } from '../../log/index.ts';
import { AGGREGATED_TOPIC, SYSTEM_TOPICS, WINDOW_RESULT_KEYS, type WindowResult } from '../../model/index.ts';
import type { Sink } from '../port.ts';

export interface LogTopicSinkOptions {
  log: EventLog;
  /** Topic written to. @default 'events.aggregated' */
  topic?: string;
  /** Partitions when the sink has to create the topic. @default the partitions of `events.aggregated` in SYSTEM_TOPICS */
  partitions?: number;
  /** Sink name (metrics, logs). @default 'log-topic:<topic>' */
  name?: string;
}

/**
 * Creates the log-topic sink. `start()` creates the topic if missing; the log must be started.
 *
 * @example
 * const sink = createLogTopicSink({ log, topic: 'events.aggregated' });
 * await sink.start();
 * await sink.write(finals);
 */
export function createLogTopicSink(options: LogTopicSinkOptions): Sink {
  const { log } = options;
  const topic = options.topic ?? AGGREGATED_TOPIC;
  const partitions = options.partitions ?? SYSTEM_TOPICS.find((t) => t.name === AGGREGATED_TOPIC)!.partitions;
  return {
    name: options.name ?? `log-topic:${topic}`,

    async start() {
      await log.ensureTopics([{ name: topic, partitions }]);
    },

    async close() {},

    async write(results: readonly WindowResult[]) {
      const records: ProduceRecord[] = [];
      for (const r of results) {
        if (!r.final) continue;
        records.push({
          key: r.key,
          // exactly the WindowResult fields (times as epoch ms), whatever else the object carries
          value: JSON.stringify(r, WINDOW_RESULT_KEYS as string[]),
          headers: {
            'content-type': 'application/json',
            'keyflow-event-type': r.eventType,
            'keyflow-window': r.window,
            'keyflow-window-start': String(r.windowStart),
            'keyflow-revision': String(r.revision),
          },
        });
      }
      if (records.length > 0) await log.append(topic, records);
    },

    healthy: () => log.healthy(),
  };
}
