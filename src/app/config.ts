/**
 * All configuration, declared once: name, type, default, bounds and one line of doc. Parsed once
 * at the edge from environment variables (and an optional JSON file named by KEYFLOW_CONFIG_FILE);
 * an invalid value stops start-up with a message naming the variable.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { ENGINE_DEFAULTS } from '../actors/index.ts';
import { parseDuration } from '../core/index.ts';
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
/** Signature algorithms a JWT may use (RFC 8725: an explicit allow-list; never `none`). */
export const JWT_ALGORITHMS = ['HS256', 'RS256', 'ES256'] as const;
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number];

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
    KAFKA_SASL_MECHANISM: z.enum(['plain', 'scram-sha-256', 'scram-sha-512', 'oauthbearer']).optional().describe('SASL mechanism: plain, scram-sha-256, scram-sha-512 (user and password) or oauthbearer (token file)'),
    KAFKA_SASL_USERNAME: optionalString.describe('SASL user (plain, scram-*)'),
    KAFKA_SASL_PASSWORD: optionalString.describe('SASL password (plain, scram-*); or KAFKA_SASL_PASSWORD_FILE'),
    KAFKA_SASL_PASSWORD_FILE: optionalString.describe('file holding the SASL password (a trailing newline is dropped), e.g. a mounted secret'),
    KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: optionalString.describe('oauthbearer: file holding the bearer token (JWT), read again at every broker authentication, so rewriting it rotates the token'),
    KAFKA_SSL: bool.default(false).describe('TLS to the brokers with the system CAs (implied by KAFKA_TLS_CA_FILE / KAFKA_TLS_CERT_FILE)'),
    KAFKA_TLS_CA_FILE: optionalString.describe("PEM file of the CA(s) the brokers' certificates must chain to (instead of the system CAs)"),
    KAFKA_TLS_CERT_FILE: optionalString.describe('PEM file of the client certificate for mTLS (with KAFKA_TLS_KEY_FILE)'),
    KAFKA_TLS_KEY_FILE: optionalString.describe("PEM file of the client certificate's private key"),
    KAFKA_TLS_KEY_PASSWORD_FILE: optionalString.describe('file holding the passphrase of an encrypted KAFKA_TLS_KEY_FILE (a trailing newline is dropped)'),
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
    KEYFLOW_MAX_CHECKPOINT_BYTES: int(65_536, 1024 * 1024 * 1024)
      .default(ENGINE_DEFAULTS.maxCheckpointBytes)
      .describe('most bytes one checkpoint commit of a partition carries (actor snapshots and finals); past it the partition commits early and waits for it'),
    KEYFLOW_MAX_UNCOMMITTED_RECORDS: int(1, 100_000_000)
      .default(ENGINE_DEFAULTS.maxUncommittedRecords)
      .describe('records a partition may process past its last committed checkpoint; past it (checkpoint store slow or down) its consumption waits until a checkpoint commits'),
    KEYFLOW_MAX_TIMERS_PER_ROUND: int(1, 100_000_000)
      .default(ENGINE_DEFAULTS.maxTimersPerRound)
      .describe('actors whose due windows one batch or tick of a partition finalises; the rest follow in the next rounds (a minute boundary across a million keys does not become one commit)'),
    KEYFLOW_PASSIVATE_AFTER_MS: duration.pipe(z.number().int().min(1000)).default(ENGINE_DEFAULTS.passivateAfterMs).describe('passivate actors idle this long, ms'),
    KEYFLOW_MAX_EVENT_BYTES: int(256, 16 * 1024 * 1024).default(65_536).describe('largest accepted event, bytes'),
    KEYFLOW_MAX_BATCH: int(1, 100_000).default(1000).describe('most events in one publishEvents'),
    KEYFLOW_MAX_QUERY_DEPTH: int(1, 1000).default(10).describe('deepest selection set of an operation (QUERY_TOO_COMPLEX beyond)'),
    KEYFLOW_MAX_ALIASES: int(0, 10_000).default(30).describe('most aliases in one operation (QUERY_TOO_COMPLEX beyond)'),
    KEYFLOW_MAX_QUERY_COST: int(1, 10_000_000).default(5000).describe('highest cost of an operation, from its selections (QUERY_TOO_COMPLEX beyond)'),
    KEYFLOW_MAX_DIRECTIVES: int(0, 10_000).default(50).describe('most directives in one operation (QUERY_TOO_COMPLEX beyond)'),
    KEYFLOW_MAX_QUERY_TOKENS: int(100, 10_000_000)
      .default(2000)
      .describe('lexical tokens a document may have besides the events written inline in it; the token limit is this plus KEYFLOW_MAX_BATCH × KEYFLOW_MAX_TOKENS_PER_EVENT'),
    KEYFLOW_MAX_TOKENS_PER_EVENT: int(20, 1_000_000)
      .default(200)
      .describe('lexical tokens allowed per inline event in the token limit (KEYFLOW_MAX_QUERY_TOKENS + KEYFLOW_MAX_BATCH × this)'),
    KEYFLOW_DEDUPE_HORIZON: duration.pipe(z.number().int().min(0)).default(86_400_000).describe('idempotent publish horizon, ms'),
    KEYFLOW_DEDUPE_MAX_ENTRIES: int(1, 100_000_000).default(1_000_000).describe('embedded dedupe index size (receipts; the oldest go first)'),
    KEYFLOW_DEDUPE_STALE_CLAIM_MS: duration.pipe(z.number().int().min(1000)).default(60_000).describe('distributed dedupe: age after which a publish claim left unfinished (its gateway died) is looked up in the log, ms'),
    KEYFLOW_EMIT_UPDATES: bool.default(ENGINE_DEFAULTS.emitUpdates).describe('emit non-final window results to live subscribers (false: finals only, faster)'),
    KEYFLOW_ROLLUPS: bool
      .optional()
      .describe(
        'keep rollups across keys per event type and tumbling/sliding window (the rollups query and subscription); default: on in embedded mode, off in distributed mode, where they would cost a processor about a third of its throughput (BENCHMARKS.md)',
      ),
    KEYFLOW_TEST_HOOKS: bool.default(false).describe('test hooks: an event whose payload has `__keyflowPoison: true` makes the reducer throw, and a publish of an eventId containing `__keyflowHangAfterAppend` appends and then never stores its receipt (supervision, dead-letter and crash tests only; never in production)'),
    KEYFLOW_DYNAMIC_TOPICS: bool
      .default(false)
      .refine((v) => !v, { message: 'removed: an event of an unknown type was accepted and never processed; declare the type in KEYFLOW_EVENT_TYPES_FILE or register it with registerEventType' })
      .describe('removed (must be false or unset): declare types in KEYFLOW_EVENT_TYPES_FILE or with the registerEventType mutation'),
    KEYFLOW_EVENT_TYPES_FILE: optionalString.describe('YAML or JSON file of event types (name, topic, partitions, keyPaths, valuePath, windows, schema), registered at start besides the built-in ones'),
    KEYFLOW_EVENT_TYPES_POLL_MS: duration.pipe(z.number().int().min(10)).default(1000).describe('how often a node reads the event-type store for types other nodes registered, ms'),
    KEYFLOW_MAX_RETRIES: int(0, 20).default(ENGINE_DEFAULTS.maxRetries).describe('retries of a failing record before it is dead-lettered'),
    KEYFLOW_RETRY_BASE_MS: duration.pipe(z.number().int().min(0)).default(ENGINE_DEFAULTS.retryBaseDelayMs).describe('first retry delay, ms (doubles, with jitter)'),
    KEYFLOW_LOG_RETENTION_BYTES: int(0, Number.MAX_SAFE_INTEGER).default(0).describe('embedded log retention per partition, bytes (0 = unlimited)'),
    KEYFLOW_LOG_RETENTION_MS: duration.pipe(z.number().int().min(0)).default(7 * 86_400_000).describe('embedded log retention, ms (0 = unlimited)'),
    KEYFLOW_LOG_FSYNC: bool.default(false).describe('fsync the embedded log on every append'),
    KEYFLOW_API_TOKENS: optionalString.describe('comma-separated static bearer tokens, each with every scope (identity `static:<sha-256 prefix>`); with these or KEYFLOW_JWT_* set, the API requires a token'),
    KEYFLOW_JWT_ALGORITHMS: z
      .string()
      .default('RS256,ES256')
      .transform((v, ctx) => {
        const algs = v.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
        const bad = algs.filter((a) => !(JWT_ALGORITHMS as readonly string[]).includes(a));
        if (bad.length > 0 || algs.length === 0) ctx.addIssue({ code: 'custom', message: `allowed: ${JWT_ALGORITHMS.join(', ')} (never none), got ${bad.join(', ') || 'none'}` });
        return algs as JwtAlgorithm[];
      })
      .describe('JWT signature algorithms accepted (allow-list, RFC 8725): HS256, RS256, ES256'),
    KEYFLOW_JWT_ISSUER: optionalString.describe('required `iss` of every JWT (needed when JWTs are enabled)'),
    KEYFLOW_JWT_AUDIENCE: optionalString.describe('required `aud` of every JWT (needed when JWTs are enabled)'),
    KEYFLOW_JWT_SECRET: optionalString.describe('HS256 shared secret, at least 32 bytes; enables JWTs (HS256 must be in KEYFLOW_JWT_ALGORITHMS)'),
    KEYFLOW_JWT_JWKS_FILE: optionalString.describe('JWKS file of the RS256/ES256 verification keys; re-read when it changes (key rotation without restart); enables JWTs'),
    KEYFLOW_JWT_JWKS_URL: optionalString.describe('JWKS URL of the RS256/ES256 verification keys (cached, refetched on an unknown kid); enables JWTs'),
    KEYFLOW_JWT_JWKS_REFRESH_MS: duration.pipe(z.number().int().min(0)).default(30_000).describe('how long a JWKS is used before it is looked at again, ms (file: mtime check; URL: cache age)'),
    KEYFLOW_JWT_CLOCK_TOLERANCE_MS: duration.pipe(z.number().int().min(0).max(300_000)).default(30_000).describe('leeway on exp/nbf/iat, ms'),
    KEYFLOW_RATE_LIMIT_PER_IDENTITY: int(0, 10_000_000).default(5000).describe('requests (HTTP requests and WebSocket operations) one identity may make per KEYFLOW_RATE_LIMIT_WINDOW_MS (0 = no limit); Redis-backed across gateways in distributed mode'),
    KEYFLOW_RATE_LIMIT_PER_ADDRESS: int(0, 10_000_000).default(5000).describe('requests one client address may make per KEYFLOW_RATE_LIMIT_WINDOW_MS (0 = no limit)'),
    KEYFLOW_RATE_LIMIT_WINDOW_MS: duration.pipe(z.number().int().min(1000)).default(1000).describe('rate-limit window, ms (whole seconds)'),
    KEYFLOW_TRUST_PROXY: bool.default(false).describe('take the client address from the last X-Forwarded-For entry (behind one trusted proxy)'),
    KEYFLOW_CORS_ORIGINS: z
      .string()
      .default('')
      .transform((v) => v.split(',').map((s) => s.trim().replace(/\/$/, '')).filter((s) => s.length > 0))
      .describe('origins allowed to call the API from a browser, comma-separated (`*`: any origin, never with credentials); also the WebSocket Origin allow-list; default none (same origin only)'),
    KEYFLOW_CORS_CREDENTIALS: bool.default(false).describe('let the allowed origins send credentials (cookies, HTTP auth); ignored for `*`'),
    KEYFLOW_MAX_REQUEST_BYTES: int(1024, 100 * 1024 * 1024).default(25_000_000).describe('largest HTTP request body, bytes (read only after the token is checked)'),
    KEYFLOW_WS_MAX_PAYLOAD_BYTES: int(1024, 100 * 1024 * 1024).default(4 * 1024 * 1024).describe('largest WebSocket message, bytes; a larger one closes the socket (1009)'),
    KEYFLOW_WS_MAX_SUBSCRIPTIONS: int(1, 1_000_000).default(100).describe('most operations in flight on one WebSocket'),
    KEYFLOW_WS_MAX_CONNECTIONS_PER_IDENTITY: int(1, 1_000_000).default(100).describe('most WebSockets one identity (or, without auth, one client address) holds on a gateway'),
    KEYFLOW_WS_MAX_BUFFERED_BYTES: int(1024, 1024 * 1024 * 1024).default(8 * 1024 * 1024).describe('a WebSocket whose unsent bytes pass this is dropped (a subscriber that does not read), bytes'),
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
    KEYFLOW_GRAPHIQL: bool.default(true).describe('serve GraphiQL (every asset bundled, no CDN) to browsers on GET /graphql'),
    KEYFLOW_DASHBOARD: bool.default(true).describe('serve the live dashboard page on GET /dashboard/ (GET / redirects there); it uses only the public GraphQL API'),
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
    const jwt = c.KEYFLOW_JWT_SECRET || c.KEYFLOW_JWT_JWKS_FILE || c.KEYFLOW_JWT_JWKS_URL;
    if (jwt && !(c.KEYFLOW_JWT_ISSUER && c.KEYFLOW_JWT_AUDIENCE)) {
      ctx.addIssue({ code: 'custom', path: [c.KEYFLOW_JWT_ISSUER ? 'KEYFLOW_JWT_AUDIENCE' : 'KEYFLOW_JWT_ISSUER'], message: 'JWTs need KEYFLOW_JWT_ISSUER and KEYFLOW_JWT_AUDIENCE (RFC 8725: check both)' });
    }
    if (c.KEYFLOW_JWT_SECRET && !c.KEYFLOW_JWT_ALGORITHMS.includes('HS256')) {
      ctx.addIssue({ code: 'custom', path: ['KEYFLOW_JWT_ALGORITHMS'], message: 'KEYFLOW_JWT_SECRET is an HS256 key: add HS256 to KEYFLOW_JWT_ALGORITHMS' });
    }
    if (c.KEYFLOW_JWT_SECRET && new TextEncoder().encode(c.KEYFLOW_JWT_SECRET).length < 32) {
      ctx.addIssue({ code: 'custom', path: ['KEYFLOW_JWT_SECRET'], message: 'an HS256 secret needs at least 32 bytes' });
    }
    if (c.KEYFLOW_JWT_JWKS_FILE && c.KEYFLOW_JWT_JWKS_URL) {
      ctx.addIssue({ code: 'custom', path: ['KEYFLOW_JWT_JWKS_URL'], message: 'set KEYFLOW_JWT_JWKS_FILE or KEYFLOW_JWT_JWKS_URL, not both' });
    }
    if (c.KEYFLOW_JWT_ALGORITHMS.includes('HS256') && jwt && !c.KEYFLOW_JWT_SECRET) {
      ctx.addIssue({ code: 'custom', path: ['KEYFLOW_JWT_SECRET'], message: 'HS256 is allowed but KEYFLOW_JWT_SECRET is not set' });
    }
    kafkaSecurityIssues(c, ctx);
  });

/** A readable file whose content passes `check` (else the message it returns). */
function fileIssue(file: string, check?: (text: string) => string | undefined): string | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    return `cannot read ${file} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`;
  }
  return check?.(text);
}

const pem = (what: string) => (text: string) => (text.includes('-----BEGIN ') ? undefined : `not a PEM file (expected ${what} with a -----BEGIN line)`);

/** The Kafka SASL and TLS settings fit together and their files are readable. */
function kafkaSecurityIssues(
  c: {
    KAFKA_SASL_MECHANISM?: string | undefined;
    KAFKA_SASL_USERNAME?: string | undefined;
    KAFKA_SASL_PASSWORD?: string | undefined;
    KAFKA_SASL_PASSWORD_FILE?: string | undefined;
    KAFKA_SASL_OAUTHBEARER_TOKEN_FILE?: string | undefined;
    KAFKA_TLS_CA_FILE?: string | undefined;
    KAFKA_TLS_CERT_FILE?: string | undefined;
    KAFKA_TLS_KEY_FILE?: string | undefined;
    KAFKA_TLS_KEY_PASSWORD_FILE?: string | undefined;
  },
  ctx: z.RefinementCtx,
): void {
  const issue = (name: string, message: string) => ctx.addIssue({ code: 'custom', path: [name], message });
  const m = c.KAFKA_SASL_MECHANISM;
  if (m === 'oauthbearer') {
    if (!c.KAFKA_SASL_OAUTHBEARER_TOKEN_FILE) issue('KAFKA_SASL_OAUTHBEARER_TOKEN_FILE', 'KAFKA_SASL_MECHANISM=oauthbearer needs KAFKA_SASL_OAUTHBEARER_TOKEN_FILE');
    if (c.KAFKA_SASL_USERNAME || c.KAFKA_SASL_PASSWORD || c.KAFKA_SASL_PASSWORD_FILE) {
      issue('KAFKA_SASL_MECHANISM', 'oauthbearer takes a token (KAFKA_SASL_OAUTHBEARER_TOKEN_FILE), not KAFKA_SASL_USERNAME / KAFKA_SASL_PASSWORD(_FILE)');
    }
  } else if (m) {
    if (!c.KAFKA_SASL_USERNAME) issue('KAFKA_SASL_USERNAME', `KAFKA_SASL_MECHANISM=${m} needs KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or KAFKA_SASL_PASSWORD_FILE)`);
    if (c.KAFKA_SASL_PASSWORD && c.KAFKA_SASL_PASSWORD_FILE) issue('KAFKA_SASL_PASSWORD_FILE', 'set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both');
    // the path is named, never the password itself (loadConfig echoes the value of the variable an issue names)
    else if (!c.KAFKA_SASL_PASSWORD && !c.KAFKA_SASL_PASSWORD_FILE) issue('KAFKA_SASL_PASSWORD_FILE', `KAFKA_SASL_MECHANISM=${m} needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE`);
    if (c.KAFKA_SASL_OAUTHBEARER_TOKEN_FILE) issue('KAFKA_SASL_OAUTHBEARER_TOKEN_FILE', `a token file is for KAFKA_SASL_MECHANISM=oauthbearer, not ${m}`);
  } else {
    for (const name of ['KAFKA_SASL_USERNAME', 'KAFKA_SASL_PASSWORD_FILE', 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE'] as const) {
      if (c[name]) issue(name, `${name} is set but KAFKA_SASL_MECHANISM is not`);
    }
    if (c.KAFKA_SASL_PASSWORD) issue('KAFKA_SASL_MECHANISM', 'KAFKA_SASL_PASSWORD is set but KAFKA_SASL_MECHANISM is not');
  }
  if (Boolean(c.KAFKA_TLS_CERT_FILE) !== Boolean(c.KAFKA_TLS_KEY_FILE)) {
    issue(c.KAFKA_TLS_CERT_FILE ? 'KAFKA_TLS_KEY_FILE' : 'KAFKA_TLS_CERT_FILE', 'KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together (a client certificate needs its key)');
  }
  if (c.KAFKA_TLS_KEY_PASSWORD_FILE && !c.KAFKA_TLS_KEY_FILE) issue('KAFKA_TLS_KEY_PASSWORD_FILE', 'KAFKA_TLS_KEY_PASSWORD_FILE is the passphrase of KAFKA_TLS_KEY_FILE, which is not set');
  let passphrase: string | undefined;
  if (c.KAFKA_TLS_KEY_PASSWORD_FILE) {
    try {
      passphrase = readFileSync(c.KAFKA_TLS_KEY_PASSWORD_FILE, 'utf8').replace(/\r?\n$/, '');
    } catch {
      // reported below with the other files
    }
  }
  const privateKey = (t: string): string | undefined => {
    const notPem = pem('a private key')(t);
    if (notPem) return notPem;
    try {
      createPrivateKey(passphrase === undefined ? { key: t } : { key: t, passphrase });
      return undefined;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (passphrase === undefined && /PASSPHRASE|BAD_DECRYPT|INTERRUPTED_OR_CANCELLED/.test(code + (e as Error).message)) return 'the key is encrypted: set KAFKA_TLS_KEY_PASSWORD_FILE';
      return passphrase === undefined ? `not a usable private key (${(e as Error).message})` : `cannot decrypt the key with KAFKA_TLS_KEY_PASSWORD_FILE (${(e as Error).message})`;
    }
  };
  const files: [keyof typeof c, ((t: string) => string | undefined) | undefined][] = [
    ['KAFKA_SASL_PASSWORD_FILE', (t) => (t.replace(/\r?\n$/, '') === '' ? 'the password file is empty' : undefined)],
    ['KAFKA_SASL_OAUTHBEARER_TOKEN_FILE', (t) => (t.trim() === '' ? 'the token file is empty' : undefined)],
    ['KAFKA_TLS_CA_FILE', pem('CA certificates')],
    ['KAFKA_TLS_CERT_FILE', pem('a certificate')],
    ['KAFKA_TLS_KEY_FILE', privateKey],
    ['KAFKA_TLS_KEY_PASSWORD_FILE', undefined],
  ];
  for (const [name, check] of files) {
    const file = c[name];
    if (!file) continue;
    const problem = fileIssue(file, check);
    if (problem) issue(name, problem);
  }
}

export type Config = Omit<z.output<typeof configSchema>, 'KEYFLOW_ROLLUPS'> & { KEYFLOW_ROLLUPS: boolean; mode: 'embedded' | 'distributed' };

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
  const mode = c.KAFKA_BROKERS ? 'distributed' : 'embedded';
  return { ...c, KEYFLOW_ROLLUPS: c.KEYFLOW_ROLLUPS ?? mode === 'embedded', mode };
}

/** The table of settings for docs: name, default, description. */
export function describeConfig(): { name: string; description: string }[] {
  return Object.entries(configSchema.shape).map(([name, s]) => ({ name, description: (s as z.ZodType).description ?? '' }));
}
