/** Structured logs (pino) to stderr, one JSON object a line; children carry a `component` field. */
import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  /** @default 'info' */
  level?: string;
  /** Fields on every line (node id, role). */
  base?: Record<string, unknown>;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
