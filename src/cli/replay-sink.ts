/**
 * Rebuilds a sink from the log ("database recovery": clear the
 * database, replay the stream, rebuild its state). Every retained record of the chosen event
 * types is read from the start of its partition up to the end offset seen when the replay
 * began, run through fresh PartitionHosts with the configured windows, and every final window is
 * upserted into the sink — so the sink ends up with exactly the rows the live processors wrote.
 * Windows still open at the end of the log are left to the live processors. Live checkpoints
 * are not touched. In embedded mode the data dir belongs to one process: stop `keyflow start`
 * first.
 */
import { createPartitionHost } from '../actors/index.ts';
import type { LogRecord } from '../log/index.ts';
import { DEFAULT_EVENT_TYPES, ErrorCode, type EventTypeSpec, KeyflowError, createEventTypeRegistry } from '../model/index.ts';
import { createDataLakeSink, createLogTopicSink, createPostgresSink, type Sink } from '../sinks/index.ts';
import { parseWindowSpecs, type WindowResult } from '../actors/index.ts';
import { createCatalog, createEventLog, detectPlatform } from '../app/index.ts';
import { systemClock } from '../core/index.ts';
import type { Config } from '../app/index.ts';
import type { Logger } from '../core/index.ts';

export interface ReplayOptions {
  /** Which sink to rebuild. */
  sink: 'data-lake' | 'postgres' | 'aggregated';
  /** Event types to replay. @default every configured type */
  types?: string[];
  /** Records per read. @default 2000 */
  readBatch?: number;
}

export interface ReplayStats {
  records: number;
  finals: number;
  deadLetters: number;
  partitions: number;
}

export async function runReplay(config: Config, options: ReplayOptions, logger: Logger): Promise<ReplayStats> {
  const registry = createEventTypeRegistry(DEFAULT_EVENT_TYPES);
  const windows = parseWindowSpecs(config.KEYFLOW_WINDOWS);
  const log = createEventLog(config, { logger, clock: systemClock, nodeId: `${detectPlatform().defaultNodeId()}-replay` });
  await log.start();
  // the registered types too (their topics are replayed like the built-in ones)
  let types: EventTypeSpec[];
  try {
    const catalog = createCatalog(config, { log, registry, clock: systemClock, logger });
    await catalog.start();
    await catalog.close();
    types = (options.types ?? registry.all().map((t) => t.eventType)).map((name) => {
      const spec = registry.resolve(name);
      if (!spec) throw new KeyflowError(ErrorCode.UNKNOWN_EVENT_TYPE, `--types: unknown event type "${name}"`);
      return spec;
    });
  } catch (e) {
    await log.close();
    throw e;
  }
  let sink: Sink;
  if (options.sink === 'postgres') {
    if (!config.DATABASE_URL) throw new KeyflowError(ErrorCode.INVALID_CONFIG, 'DATABASE_URL: needed by --sink postgres');
    sink = createPostgresSink({ connectionString: config.DATABASE_URL });
  } else if (options.sink === 'aggregated') {
    sink = createLogTopicSink({ log });
  } else {
    sink = createDataLakeSink({ dir: config.KEYFLOW_DATA_LAKE_DIR ?? `${config.KEYFLOW_DATA_DIR}/lake` });
  }
  const stats: ReplayStats = { records: 0, finals: 0, deadLetters: 0, partitions: 0 };
  const readBatch = options.readBatch ?? 2000;
  await sink.start();
  try {
    for (const type of types) {
      const [begin, end] = await Promise.all([log.beginOffsets(type.topic), log.endOffsets(type.topic)]);
      for (let partition = 0; partition < end.length; partition++) {
        const finals: WindowResult[] = [];
        const host = createPartitionHost({
          topic: type.topic,
          partition,
          registry,
          windows,
          maxOutOfOrderMs: config.KEYFLOW_MAX_OUT_OF_ORDER_MS,
          allowedLatenessMs: config.KEYFLOW_ALLOWED_LATENESS_MS,
          latePolicy: config.KEYFLOW_LATE_POLICY,
          resultRetentionMs: config.KEYFLOW_RESULT_RETENTION,
          maxFutureSkewMs: config.KEYFLOW_MAX_FUTURE_SKEW_MS,
          // Replays event time only: no processing-time idle advance, no retries of poison pills.
          idleTimeoutMs: Number.MAX_SAFE_INTEGER,
          retry: { maxRetries: 0 },
          emitUpdates: false,
          clock: systemClock,
          output: {
            onResults: (results) => {
              for (const r of results) if (r.final) finals.push(r);
            },
            onLate() {},
            onDeadLetter: (messages) => {
              stats.deadLetters += messages.length;
            },
          },
        });
        let offset = begin[partition] ?? 0;
        const stop = end[partition] ?? 0;
        while (offset < stop) {
          const records: LogRecord[] = await log.read(type.topic, partition, offset, Math.min(readBatch, stop - offset));
          if (records.length === 0) break;
          await host.processBatch(records);
          stats.records += records.length;
          offset = records[records.length - 1]!.offset + 1;
          if (finals.length >= 5000) {
            stats.finals += finals.length;
            await sink.write(finals.splice(0));
          }
        }
        if (finals.length > 0) {
          stats.finals += finals.length;
          await sink.write(finals.splice(0));
        }
        stats.partitions++;
        logger.info({ topic: type.topic, partition, records: stats.records }, 'partition replayed');
      }
    }
  } finally {
    await sink.close();
    await log.close();
  }
  return stats;
}
