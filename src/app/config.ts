/**
 * All configuration, declared once: name, type, default, bounds and one line of doc. Parsed once
 * at the edge from environment variables (and an optional JSON file named by KEYFLOW_CONFIG_FILE);
 * an invalid value stops start-up with a message naming the variable.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { parseDuration } from '../core/index.ts';
import { ENGINE_DEFAULTS } from '../actors/index.ts';
import { DEFAULT_MAX_FUTURE_SKEW_MS, ErrorCode, KeyflowError } from '../model/index.ts';

/** A duration like `24h`, `30s`, `1500ms` (core's grammar), or a plain number of milliseconds. */
const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  if (typeof v === 'number') return v;
  if (/^\d+$/.test(v)) return Number(v);
  const ms = parseDuration(v.trim());
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration like 1500ms, 30s, 5m, 24h or a number of ms, got "${v}"` });
    return z.NEVER;
  }
  return ms;
});

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const bool = z.union([z.boolean(), z.enum(['true', 'false', '1', '0', 'yes', 'no'])]).transform((v) => v === true || v === 'true' || v === '1' || v === 'yes');
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()));

export const configSchema = z
  .object({
    KEYFLOW_PORT: int(0, 65535).default(4000).describe('HTTP port for GraphQL, /health, /ready, /metrics'),
    KEYFLOW_OPS_PORT: int(0, 65535).optional().describe('a processor-only node serves /health, /ready and /metrics on this port (gateways serve them on KEYFLOW_PORT)'),
    KEYFLOW_HOST: z.string().default('0.0.0.0').describe('interface to listen on'),
    KEYFLOW_DATA_DIR: z.string().min(1).default('./data').describe('directory of the embedded log and file checkpoints'),
    KEYFLOW_NODE_ID: optionalString.describe('node id in logs and health (default: hostname-pid)'),
    KAFKA_BROKERS: optionalString.describe('comma-separated Kafka brokers; when set, the log is Kafka'),
    KAFKA_CLIENT_ID: z.string().default('keyflow').describe('Kafka client id'),
    KAFKA_GROUP_ID: z.string().default('keyflow-processors').describe('consumer group of the processors'),
    KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']).optional().describe('SASL mechanism'),
    KAFKA_SASL_USERNAME: optionalString.describe('SASL user'),
    KAFKA_SASL_PASSWORD: optionalString.describe('SASL password'),
    KAFKA_SSL: bool.default(false).describe('TLS to the brokers'),
    KAFKA_REPLICATION_FACTOR: int(1, 10).default(1).describe('replication factor of topics keyflow creates'),
    KAFKA_SESSION_TIMEOUT_MS: duration.pipe(z.number().int().min(1000)).default(30_000).describe('consumer-group session timeout, ms: a silent processor loses its partitions after this long (the broker bounds it, 6 s to 30 min by default)'),
    KEYFLOW_TOPIC_PREFIX: z.string().default('').describe('prefix of every Kafka topic name keyflow uses (several deployments on one cluster); the API still shows the names without it'),
    REDIS_URL: optionalString.describe('Redis URL; when set, checkpoints and dedupe are in Redis'),
    NATS_URL: optionalString.describe('NATS URL; when set, the live bus is NATS'),
    DATABASE_URL: optionalString.describe('PostgreSQL URL; when set, final window results are upserted there'),
    KEYFLOW_KEY_PREFIX: z.string().default('keyflow').describe('prefix of Redis keys and NATS subjects'),
    KEYFLOW_WINDOWS: z
      .string()
      .default('tumbling-1m,tumbling-5m,tumbling-15m,sliding-5m-1m,session-30m')
      .describe('window specs, comma-separated'),
    KEYFLOW_MAX_OUT_OF_ORDER_MS: duration.pipe(z.number().int().min(0)).default(ENGINE_DEFAULTS.maxOutOfOrderMs).describe('max out-of-orderness, ms'),
    KEYFLOW_ALLOWED_LATENESS_MS: duration.pipe(z.number().int().min(0)).default(ENGINE_DEFAULTS.allowedLatenessMs).describe('allowed lateness, ms'),
    KEYFLOW_LATE_POLICY: z.enum(['drop', 'side-output', 'update']).default(ENGINE_DEFAULTS.latePolicy).describe('what happens to late events'),
    KEYFLOW_MAX_FUTURE_SKEW_MS: duration
      .pipe(z.number().int().min(0))
      .default(DEFAULT_MAX_FUTURE_SKEW_MS)
      .describe('how far an event time may lie after its append time, ms: the API refuses a later event (TIMESTAMP_OUT_OF_RANGE) and the processor dead-letters such a record'),
    KEYFLOW_IDLE_TIMEOUT_MS: duration.pipe(z.number().int().min(1)).default(ENGINE_DEFAULTS.idleTimeoutMs).describe('idle partition timeout, ms'),
    KEYFLOW_RESULT_RETENTION: duration.pipe(z.number().int().min(0)).default(ENGINE_DEFAULTS.resultRetentionMs).describe('how long finals stay queryable, event time behind the watermark'),
    KEYFLOW_CHECKPOINT_INTERVAL_MS: duration.pipe(z.number().int().min(10)).default(1000).describe('checkpoint interval, ms'),
    KEYFLOW_PASSIVATE_AFTER_MS: duration.pipe(z.number().int().min(1000)).default(ENGINE_DEFAULTS.passivateAfterMs).describe('passivate actors idle this long, ms'),
    KEYFLOW_MAX_EVENT_BYTES: int(256, 16 * 1024 * 1024).default(65_536).describe('largest accepted event, bytes'),
    KEYFLOW_MAX_BATCH: int(1, 100_000).default(1000).describe('most events in one publishEvents'),
    KEYFLOW_DEDUPE_HORIZON: duration.pipe(z.number().int().min(0)).default(86_400_000).describe('idempotent publish horizon, ms'),
    KEYFLOW_DEDUPE_MAX_ENTRIES: int(1, 100_000_000).default(1_000_000).describe('embedded dedupe LRU size'),
    KEYFLOW_EMIT_UPDATES: bool.default(ENGINE_DEFAULTS.emitUpdates).describe('emit non-final window results to live subscribers (false: finals only, faster)'),
    KEYFLOW_TEST_HOOKS: bool.default(false).describe('test hooks: an event whose payload has `__keyflowPoison: true` makes the reducer throw (supervision and dead-letter tests only; never in production)'),
    KEYFLOW_DYNAMIC_TOPICS: bool.default(false).describe('create a topic for an unknown event type instead of rejecting it'),
    KEYFLOW_MAX_RETRIES: int(0, 20).default(ENGINE_DEFAULTS.maxRetries).describe('retries of a failing record before it is dead-lettered'),
    KEYFLOW_RETRY_BASE_MS: duration.pipe(z.number().int().min(0)).default(ENGINE_DEFAULTS.retryBaseDelayMs).describe('first retry delay, ms (doubles, with jitter)'),
    KEYFLOW_LOG_RETENTION_BYTES: int(0, Number.MAX_SAFE_INTEGER).default(0).describe('embedded log retention per partition, bytes (0 = unlimited)'),
    KEYFLOW_LOG_RETENTION_MS: duration.pipe(z.number().int().min(0)).default(7 * 86_400_000).describe('embedded log retention, ms (0 = unlimited)'),
    KEYFLOW_LOG_FSYNC: bool.default(false).describe('fsync the embedded log on every append'),
    KEYFLOW_API_TOKENS: optionalString.describe('comma-separated bearer tokens; when set, the API requires one'),
    KEYFLOW_DATA_LAKE_DIR: optionalString.describe('directory of the data-lake sink (default <data dir>/lake)'),
    KEYFLOW_SINKS: z
      .string()
      .default('aggregated,data-lake')
      .transform((v, ctx) => {
        const names = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0 && s !== 'none');
        const bad = names.filter((n) => n !== 'aggregated' && n !== 'data-lake');
        if (bad.length > 0) ctx.addIssue({ code: 'custom', message: `unknown sink ${bad.join(', ')} (aggregated, data-lake or none; PostgreSQL follows DATABASE_URL)` });
        return new Set(names as ('aggregated' | 'data-lake')[]);
      })
      .describe('sinks finals are written to besides the results store: aggregated (the events.aggregated topic), data-lake, or none; PostgreSQL is added when DATABASE_URL is set'),
    KEYFLOW_SUBSCRIPTION_BUFFER: int(1, 1_000_000).default(10_000).describe('messages buffered per subscription whose client reads too slowly; past it the subscription ends with RATE_LIMITED'),
    KEYFLOW_INTEREST_TTL_MS: duration.pipe(z.number().int().min(300).max(3_600_000)).default(6000).describe('NATS bus: gateways announce what they subscribe to every third of this, ms; processors stop publishing to a gateway silent this long'),
    KEYFLOW_LIVE_BUS: bool.default(true).describe('processors publish processed events and window results on the live bus for subscriptions (false: a processor group that only feeds the results store and sinks)'),
    KEYFLOW_LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info').describe('log level'),
    OTEL_EXPORTER_OTLP_ENDPOINT: optionalString.describe('OTLP/HTTP endpoint for traces; none = tracing off'),
    OTEL_SERVICE_NAME: z.string().default('keyflow').describe('service name in traces'),
  })
  .superRefine((c, ctx) => {
    const anyDistributed = c.KAFKA_BROKERS || c.REDIS_URL || c.NATS_URL;
    if (anyDistributed && !(c.KAFKA_BROKERS && c.REDIS_URL && c.NATS_URL)) {
      ctx.addIssue({
        code: 'custom',
        path: [!c.KAFKA_BROKERS ? 'KAFKA_BROKERS' : !c.REDIS_URL ? 'REDIS_URL' : 'NATS_URL'],
        message: 'distributed mode needs KAFKA_BROKERS, REDIS_URL and NATS_URL together (embedded mode needs none)',
      });
    }
    if (c.KAFKA_SASL_MECHANISM && !(c.KAFKA_SASL_USERNAME && c.KAFKA_SASL_PASSWORD)) {
      ctx.addIssue({ code: 'custom', path: ['KAFKA_SASL_USERNAME'], message: 'KAFKA_SASL_MECHANISM needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD' });
    }
  });

export type Config = z.output<typeof configSchema> & { mode: 'embedded' | 'distributed' };

/**
 * Parses configuration from `env` (and the JSON file named by KEYFLOW_CONFIG_FILE, whose values
 * environment variables override). Throws INVALID_CONFIG naming each bad variable.
 */
export function loadConfig(env: Record<string, string | undefined> = process.env): Config {
  let fromFile: Record<string, unknown> = {};
  const file = env.KEYFLOW_CONFIG_FILE;
  if (file) {
    try {
      fromFile = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    } catch (cause) {
      throw new KeyflowError(ErrorCode.INVALID_CONFIG, `KEYFLOW_CONFIG_FILE: cannot read ${file} as JSON`, { cause });
    }
  }
  const known = Object.keys(configSchema.shape);
  const input: Record<string, unknown> = {};
  for (const k of known) {
    const v = env[k] ?? fromFile[k];
    if (v !== undefined && v !== '') input[k] = v;
  }
  const r = configSchema.safeParse(input);
  if (!r.success) {
    const lines = r.error.issues.map((i) => {
      const name = String(i.path[0] ?? '(config)');
      const got = name in input ? ` (got ${JSON.stringify(input[name])})` : '';
      return `${name}: ${i.message}${got}`;
    });
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `invalid configuration — ${lines.join('; ')}`, {
      details: { issues: lines },
    });
  }
  const c = r.data;
  return { ...c, mode: c.KAFKA_BROKERS ? 'distributed' : 'embedded' };
}

/** The table of settings for docs: name, default, description. */
export function describeConfig(): { name: string; description: string }[] {
  return Object.entries(configSchema.shape).map(([name, s]) => ({ name, description: (s as z.ZodType).description ?? '' }));
}
