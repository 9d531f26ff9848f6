/**
 * Structured logs (pino) to stderr, one JSON object a line; children carry a `component` field,
 * and a line written while a request or span is active its `trace_id`, `span_id` and `request_id`.
 */
import { pino, type Logger } from 'pino';
import { logCorrelation } from './telemetry/tracing.ts';

export type { Logger };

export interface LoggerOptions {
  /** @default 'info' */
  level?: string;
  /** Fields on every line (node id, role). */
  base?: Record<string, unknown>;
  /** Where lines go. @default stderr, asynchronously */
  destination?: { write(line: string): void };
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: options.base ?? {},
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      mixin: logCorrelation,
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything (tests, benchmarks). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
