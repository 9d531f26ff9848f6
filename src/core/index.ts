/** The ground floor: clock, logger, telemetry names and instruments. Imports only model/. */
export * from './clock.ts';
export * from './logger.ts';
export * from './telemetry/metrics.ts';
export * from './telemetry/names.ts';
export * from './telemetry/tracing.ts';
