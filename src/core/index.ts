/** The ground floor: clock, logger, retry, durations, atomic file writes, telemetry names and instruments. Imports only model/. */
export * from './atomic-write.ts';
export * from './clock.ts';
export * from './duration.ts';
export * from './logger.ts';
export * from './retry.ts';
export * from './telemetry/lag-monitor.ts';
export * from './telemetry/metrics.ts';
export * from './telemetry/names.ts';
export * from './telemetry/tracing.ts';
