/** Routes kafkajs's log lines to a pino(-compatible) logger, quiet by default. */
import { type logCreator, logLevel } from 'kafkajs';

/** The slice of a pino logger the Kafka adapter writes to (pino's `(object, message)` call shape). */
export interface KafkaAdapterLogger {
  error(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export type KafkaLogLevel = 'nothing' | 'error' | 'warn' | 'info' | 'debug';

const LEVELS: Record<KafkaLogLevel, logLevel> = {
  nothing: logLevel.NOTHING,
  error: logLevel.ERROR,
  warn: logLevel.WARN,
  info: logLevel.INFO,
  debug: logLevel.DEBUG,
};

export function toKafkajsLevel(level: KafkaLogLevel): logLevel {
  return LEVELS[level];
}

/** Writes to stderr as one JSON line per entry; used when no logger is given. */
export const stderrLogger: KafkaAdapterLogger = {
  error: (obj, msg) => writeLine('error', obj, msg),
  warn: (obj, msg) => writeLine('warn', obj, msg),
  info: (obj, msg) => writeLine('info', obj, msg),
  debug: (obj, msg) => writeLine('debug', obj, msg),
};

function writeLine(level: string, obj: object, msg: string | undefined): void {
  process.stderr.write(`${JSON.stringify({ level, time: Date.now(), ...obj, msg })}\n`);
}

/** A kafkajs `logCreator` that forwards entries to `logger` (default: JSON lines on stderr). */
export function pinoLogCreator(logger: KafkaAdapterLogger = stderrLogger): logCreator {
  return (threshold) =>
    ({ namespace, level, log }) => {
      const { message, timestamp: _timestamp, logger: _name, ...extra } = log;
      const obj = { component: 'kafkajs', namespace, ...extra };
      let effective = level;
      // kafkajs logs every error response at ERROR in its Connection layer, also those it then
      // retries (leader moves, coordinator loading); a request that finally fails is reported again
      // by the layer above, so these are detail
      if (namespace === 'Connection' && level === logLevel.ERROR) effective = logLevel.INFO;
      // keyflow bounds producer retries on purpose (an append gives up after produceTimeoutMs and
      // the caller decides); idempotence still de-duplicates the retries within one send
      else if (typeof message === 'string' && message.startsWith('Limiting retries for the idempotent producer')) effective = logLevel.DEBUG;
      // a rebalance is routine (members join and leave); keyflow logs the partitions that moved itself
      else if (namespace === 'Runner' && typeof message === 'string' && message.startsWith('The group is rebalancing')) effective = logLevel.INFO;
      if (effective > threshold) return;
      if (effective === logLevel.ERROR) logger.error(obj, message);
      else if (effective === logLevel.WARN) logger.warn(obj, message);
      else if (effective === logLevel.INFO) logger.info(obj, message);
      else logger.debug(obj, message);
    };
}
