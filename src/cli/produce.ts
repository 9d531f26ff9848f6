/** `keyflow produce`: the load generator's flags (parseArgs), validated into its options, then a run. */
import {
  GENERATED_EVENT_TYPES,
  type GeneratedEventType,
  type ProducerDeps,
  type ProducerOptions,
  defaultProducerOptions,
  isGeneratedEventType,
  runProducer,
} from '../loadgen/index.ts';
import { HELP_OPTION, durationFlag, httpUrlFlag, invalidFlag, numberFlag, parseFlags } from './args.ts';
import { type CliIO, type Command, type Parsed, processIO, runCommand } from './command.ts';

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

const FLAGS = {
  url: { type: 'string' },
  rate: { type: 'string' },
  duration: { type: 'string' },
  count: { type: 'string' },
  batch: { type: 'string' },
  types: { type: 'string' },
  keys: { type: 'string' },
  'late-fraction': { type: 'string' },
  'max-lateness': { type: 'string' },
  'invalid-fraction': { type: 'string' },
  token: { type: 'string' },
  seed: { type: 'string' },
  concurrency: { type: 'string' },
  timeout: { type: 'string' },
  json: { type: 'boolean' },
  quiet: { type: 'boolean' },
  ...HELP_OPTION,
} as const;

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
      throw invalidFlag('types', `has unknown event type "${name}"; known: ${GENERATED_EVENT_TYPES.join(', ')}`);
    }
    if (!Number.isFinite(weight) || weight <= 0) throw invalidFlag('types', `has an invalid weight in "${item}" (expected a number > 0)`);
    if (types.includes(name)) throw invalidFlag('types', `lists "${name}" twice`);
    types.push(name);
    weights.push(weight);
  }
  if (types.length === 0) throw invalidFlag('types', 'needs at least one event type');
  return { types, weights };
}

/**
 * Parses the arguments after `produce` (`--flag value` or `--flag=value`) into the load
 * generator's options, starting from {@link defaultProducerOptions}.
 * @throws KeyflowError INVALID_CONFIG naming the offending flag in `details.flag`.
 * @example parseProduceArgs(['--rate', '500', '--duration', '30s', '--batch', '50'])
 */
export function parseProduceArgs(argv: readonly string[]): Parsed<ProducerOptions> {
  const v = parseFlags(argv, FLAGS);
  if (v.help) return { help: true };
  const o = defaultProducerOptions();
  if (v.url !== undefined) o.url = httpUrlFlag('url', v.url);
  if (v.rate !== undefined) o.rate = numberFlag('rate', v.rate, 0, 10_000_000, false);
  if (v.duration !== undefined) o.durationMs = durationFlag('duration', v.duration, false);
  if (v.count !== undefined) o.count = numberFlag('count', v.count, 1, Number.MAX_SAFE_INTEGER, true);
  if (v.batch !== undefined) o.batch = numberFlag('batch', v.batch, 1, 10_000, true);
  if (v.types !== undefined) Object.assign(o, parseTypes(v.types));
  if (v.keys !== undefined) o.keys = numberFlag('keys', v.keys, 1, 100_000_000, true);
  if (v['late-fraction'] !== undefined) o.lateFraction = numberFlag('late-fraction', v['late-fraction'], 0, 1, false);
  if (v['max-lateness'] !== undefined) o.maxLatenessMs = durationFlag('max-lateness', v['max-lateness'], true);
  if (v['invalid-fraction'] !== undefined) o.invalidFraction = numberFlag('invalid-fraction', v['invalid-fraction'], 0, 1, false);
  if (v.token !== undefined) {
    if (v.token.trim() === '') throw invalidFlag('token', 'must not be empty');
    o.token = v.token;
  }
  if (v.seed !== undefined) o.seed = numberFlag('seed', v.seed, 0, 4_294_967_295, true);
  if (v.concurrency !== undefined) o.concurrency = numberFlag('concurrency', v.concurrency, 1, 1024, true);
  if (v.timeout !== undefined) o.requestTimeoutMs = durationFlag('timeout', v.timeout, false);
  if (v.json) o.json = true;
  if (v.quiet) o.progress = false;
  // A count alone means "send exactly that many", however long it takes.
  if (o.count !== null && v.duration === undefined) o.durationMs = null;
  return { help: false, ...o };
}

/**
 * The whole `keyflow produce` command: 0 after a run in which at least one request succeeded (or
 * nothing was sent), 1 when every request failed, 2 for invalid arguments.
 */
export function runProduceCli(argv: readonly string[], deps: ProducerDeps = {}): Promise<number> {
  const io: CliIO = { stdout: deps.stdout ?? processIO.stdout, stderr: deps.stderr ?? processIO.stderr };
  return runCommand(produceCommand, argv, io, parseProduceArgs, async (options) => {
    const stats = await runProducer(options, { ...deps, stdout: io.stdout, stderr: io.stderr });
    return stats.requests > 0 && stats.failedRequests === stats.requests ? 1 : 0;
  });
}

export const produceCommand: Command = {
  name: 'produce',
  usage: PRODUCE_USAGE,
  run: (argv, io) => runProduceCli(argv, { stdout: io.stdout, stderr: io.stderr }),
};
