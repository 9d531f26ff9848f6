/** Command-line parsing for `keyflow produce`: every bad flag is an INVALID_CONFIG naming it. */
import { parseDuration } from '../core/index.ts';
import { ErrorCode, KeyflowError } from '../model/index.ts';
import { GENERATED_EVENT_TYPES, type GeneratedEventType, isGeneratedEventType } from './generator.ts';

/** Everything the load generator needs; {@link parseProduceArgs} fills every field. */
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
  /** `--help` was given: print {@link PRODUCE_USAGE} instead of running. */
  help?: boolean;
}

export const PRODUCE_USAGE = `Usage: keyflow produce [options]

Publishes realistic events (IoT sensor readings, clickstream, transactions) through the GraphQL API
at a target rate and prints statistics at the end.

  --url <url>               GraphQL endpoint (default http://localhost:4000/graphql)
  --rate <n>                target events per second, 0 = as fast as possible (default 100)
  --duration <d>            run time: seconds, or with a unit: 500ms, 30s, 5m, 1h, 1d (default 60s)
  --count <n>               stop after n events (no default time limit then)
  --batch <n>               events per request; 1 uses publishEvent (default 10)
  --types <list>            comma-separated types, each optionally :weight
                            (default iot.sensor,clickstream,transaction)
  --keys <n>                distinct devices / users per type (default 100)
  --late-fraction <f>       fraction 0..1 of events with out-of-order timestamps (default 0)
  --max-lateness <d>        how far back those timestamps may lie (default 5s)
  --invalid-fraction <f>    fraction 0..1 of invalid events; their request is rejected (default 0)
  --token <t>               bearer token for the Authorization header
  --seed <n>                seed for reproducible data; the same seed republishes the same eventIds
  --concurrency <n>         requests in flight at most (default 16)
  --timeout <d>             per-request timeout (default 10s)
  --json                    final statistics as JSON on stdout
  --quiet                   no progress line on stderr
  -h, --help                this text
`;

const BOOLEAN_FLAGS = new Set(['json', 'quiet', 'help']);
const VALUE_FLAGS = new Set([
  'url',
  'rate',
  'duration',
  'count',
  'batch',
  'types',
  'keys',
  'late-fraction',
  'max-lateness',
  'invalid-fraction',
  'token',
  'seed',
  'concurrency',
  'timeout',
]);

function invalid(flag: string, message: string): KeyflowError {
  return new KeyflowError(ErrorCode.INVALID_CONFIG, `--${flag} ${message}`, { details: { flag: `--${flag}` } });
}

function number(flag: string, raw: string, min: number, max: number, integer: boolean): number {
  const v = Number(raw);
  if (raw.trim() === '' || !Number.isFinite(v)) throw invalid(flag, `expects a number, got "${raw}"`);
  if (integer && !Number.isInteger(v)) throw invalid(flag, `expects a whole number, got "${raw}"`);
  if (v < min || v > max) throw invalid(flag, `must be between ${min} and ${max}, got ${raw}`);
  return v;
}

const SECONDS = /^\d+(?:\.\d+)?$/;

/** `30` (seconds, fractions allowed) or core's duration grammar (`500ms`, `30s`, `5m`, `1h`, `1d`) → milliseconds. */
function duration(flag: string, raw: string, allowZero: boolean): number {
  const text = raw.trim();
  const ms = SECONDS.test(text) ? Math.round(Number(text) * 1000) : parseDuration(text);
  if (ms === undefined) throw invalid(flag, `expects a duration such as 30, 500ms, 30s, 5m or 1h, got "${raw}"`);
  if (!allowZero && ms <= 0) throw invalid(flag, `must be greater than 0, got "${raw}"`);
  return ms;
}

function parseTypes(raw: string): { types: GeneratedEventType[]; weights: number[] } {
  const types: GeneratedEventType[] = [];
  const weights: number[] = [];
  for (const part of raw.split(',')) {
    const item = part.trim();
    if (item === '') continue;
    const colon = item.lastIndexOf(':');
    const name = colon === -1 ? item : item.slice(0, colon);
    const weight = colon === -1 ? 1 : Number(item.slice(colon + 1));
    if (!isGeneratedEventType(name)) {
      throw invalid('types', `has unknown event type "${name}"; known: ${GENERATED_EVENT_TYPES.join(', ')}`);
    }
    if (!Number.isFinite(weight) || weight <= 0) throw invalid('types', `has an invalid weight in "${item}" (expected a number > 0)`);
    if (types.includes(name)) throw invalid('types', `lists "${name}" twice`);
    types.push(name);
    weights.push(weight);
  }
  if (types.length === 0) throw invalid('types', 'needs at least one event type');
  return { types, weights };
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

/**
 * Parses the arguments after `produce` (`--flag value` or `--flag=value`).
 * @throws KeyflowError INVALID_CONFIG naming the offending flag.
 * @example parseProduceArgs(['--rate', '500', '--duration', '30s', '--batch', '50'])
 */
export function parseProduceArgs(argv: readonly string[]): ProducerOptions {
  const o = defaultProducerOptions();
  let durationGiven = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-h') {
      o.help = true;
      continue;
    }
    if (!arg.startsWith('--')) {
      throw new KeyflowError(ErrorCode.INVALID_CONFIG, `unexpected argument "${arg}"; run keyflow produce --help`, {
        details: { argument: arg },
      });
    }
    const eq = arg.indexOf('=');
    const flag = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    if (BOOLEAN_FLAGS.has(flag)) {
      if (eq !== -1) throw invalid(flag, 'takes no value');
      if (flag === 'json') o.json = true;
      else if (flag === 'quiet') o.progress = false;
      else o.help = true;
      continue;
    }
    if (!VALUE_FLAGS.has(flag)) {
      throw new KeyflowError(ErrorCode.INVALID_CONFIG, `unknown flag --${flag}; run keyflow produce --help`, {
        details: { flag: `--${flag}` },
      });
    }
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) throw invalid(flag, 'needs a value');
      value = next;
      i++;
    }
    switch (flag) {
      case 'url': {
        let u: URL;
        try {
          u = new URL(value);
        } catch {
          throw invalid(flag, `expects an http(s) URL such as http://localhost:4000/graphql, got "${value}"`);
        }
        if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid(flag, `expects an http(s) URL, got "${value}"`);
        o.url = u.toString();
        break;
      }
      case 'rate':
        o.rate = number(flag, value, 0, 10_000_000, false);
        break;
      case 'duration':
        o.durationMs = duration(flag, value, false);
        durationGiven = true;
        break;
      case 'count':
        o.count = number(flag, value, 1, Number.MAX_SAFE_INTEGER, true);
        break;
      case 'batch':
        o.batch = number(flag, value, 1, 10_000, true);
        break;
      case 'types':
        Object.assign(o, parseTypes(value));
        break;
      case 'keys':
        o.keys = number(flag, value, 1, 100_000_000, true);
        break;
      case 'late-fraction':
        o.lateFraction = number(flag, value, 0, 1, false);
        break;
      case 'max-lateness':
        o.maxLatenessMs = duration(flag, value, true);
        break;
      case 'invalid-fraction':
        o.invalidFraction = number(flag, value, 0, 1, false);
        break;
      case 'token':
        if (value.trim() === '') throw invalid(flag, 'must not be empty');
        o.token = value;
        break;
      case 'seed':
        o.seed = number(flag, value, 0, 4_294_967_295, true);
        break;
      case 'concurrency':
        o.concurrency = number(flag, value, 1, 1024, true);
        break;
      case 'timeout':
        o.requestTimeoutMs = duration(flag, value, false);
        break;
    }
  }
  // A count alone means "send exactly that many", however long it takes.
  if (o.count !== null && !durationGiven) o.durationMs = null;
  return o;
}
