/** The load generator's options and their defaults (`keyflow produce` in src/cli fills them from its flags). */
import { GENERATED_EVENT_TYPES, type GeneratedEventType } from './generator.ts';

/** Everything the load generator needs; {@link defaultProducerOptions} fills every field. */
export interface ProducerOptions {
  /** GraphQL endpoint. @default http://localhost:4000/graphql */
  url: string;
  /** Target events per second; 0 sends as fast as `concurrency` allows. @default 100 */
  rate: number;
  /** Stop after this long, ms; null for no time limit (then `count` or the signal stops the run). @default 60000 unless `count` is set */
  durationMs: number | null;
  /** Stop after this many events; null for no limit. @default null */
  count: number | null;
  /** Events per request: 1 uses `publishEvent`, more use `publishEvents`. @default 10 */
  batch: number;
  /** Event types to mix. @default iot.sensor, clickstream, transaction */
  types: GeneratedEventType[];
  /** Relative weight of each entry of `types`. @default equal */
  weights: number[];
  /** Distinct keys (devices / users) per type. @default 100 */
  keys: number;
  /** Fraction (0..1) of events with an out-of-order timestamp. @default 0 */
  lateFraction: number;
  /** How far back an out-of-order timestamp may lie, ms. @default 5000 */
  maxLatenessMs: number;
  /** Fraction (0..1) of events made invalid on purpose (the gateway rejects their whole request). @default 0 */
  invalidFraction: number;
  /** Bearer token sent as `Authorization`. @default none */
  token: string | undefined;
  /** Seed for reproducible data (and eventIds). @default random */
  seed: number | undefined;
  /** Requests in flight at most. @default 16 */
  concurrency: number;
  /** Per-request timeout, ms. @default 10000 */
  requestTimeoutMs: number;
  /** Final statistics as JSON on stdout instead of a table. @default false */
  json: boolean;
  /** Print a progress line to stderr every `progressIntervalMs`. @default true from the CLI, false otherwise */
  progress: boolean;
  /** @default 1000 */
  progressIntervalMs: number;
  /** Print the final statistics (stdout). @default true from the CLI, false otherwise */
  summary: boolean;
  /** Stop gracefully on the first SIGINT, abort requests in flight on the second. @default true from the CLI, false otherwise */
  handleSigint: boolean;
  /** Stops the run gracefully when aborted (in-process use, e.g. the demo). */
  signal?: AbortSignal | undefined;
}

/** Defaults of the command line (the CLI prints progress and a summary and handles SIGINT). */
export function defaultProducerOptions(): ProducerOptions {
  return {
    url: 'http://localhost:4000/graphql',
    rate: 100,
    durationMs: 60_000,
    count: null,
    batch: 10,
    types: [...GENERATED_EVENT_TYPES],
    weights: GENERATED_EVENT_TYPES.map(() => 1),
    keys: 100,
    lateFraction: 0,
    maxLatenessMs: 5000,
    invalidFraction: 0,
    token: undefined,
    seed: undefined,
    concurrency: 16,
    requestTimeoutMs: 10_000,
    json: false,
    progress: true,
    progressIntervalMs: 1000,
    summary: true,
    handleSigint: true,
  };
}
