/**
 * Who may call the API and how often, from the configuration: the authenticator (static tokens
 * and/or JWTs) and the rate limits (in memory embedded; in Redis, shared by every gateway, when
 * REDIS_URL is set).
 */
import type { Redis } from 'ioredis';
import type { Logger } from '../core/index.ts';
import { type Authenticator, createAuthenticator, createJwtVerifier, createRateLimits, type RateLimits } from '../graphql/index.ts';
import { buildRedis, closeRedis, connectRedis, type OwnedRedis } from '../state/index.ts';
import type { Config } from './config.ts';

export interface Access {
  readonly authenticator: Authenticator;
  readonly rateLimits: RateLimits;
  start(): Promise<void>;
  close(): Promise<void>;
}

export function createAccess(config: Config, logger: Logger): Access {
  const jwtEnabled = Boolean(config.KEYFLOW_JWT_SECRET || config.KEYFLOW_JWT_JWKS_FILE || config.KEYFLOW_JWT_JWKS_URL);
  const jwt = jwtEnabled
    ? createJwtVerifier({
        algorithms: config.KEYFLOW_JWT_ALGORITHMS,
        issuer: config.KEYFLOW_JWT_ISSUER!,
        audience: config.KEYFLOW_JWT_AUDIENCE!,
        secret: config.KEYFLOW_JWT_SECRET,
        jwksFile: config.KEYFLOW_JWT_JWKS_FILE,
        jwksUrl: config.KEYFLOW_JWT_JWKS_URL,
        jwksRefreshMs: config.KEYFLOW_JWT_JWKS_REFRESH_MS,
        clockToleranceMs: config.KEYFLOW_JWT_CLOCK_TOLERANCE_MS,
        onWarning: (message, err) => logger.warn({ event: 'auth.jwks_unreadable', err }, message),
      })
    : undefined;
  const authenticator = createAuthenticator({ staticTokens: config.KEYFLOW_API_TOKENS?.split(',') ?? [], jwt });
  const limited = config.KEYFLOW_RATE_LIMIT_PER_IDENTITY > 0 || config.KEYFLOW_RATE_LIMIT_PER_ADDRESS > 0;
  // Rate limiting must never wait on a Redis outage: commands fail at once and the insurance limiter answers.
  // Auto-pipelining: the checks of every request handled in one event-loop turn go out in one socket
  // write (one write per command cost ~7 % of a gateway's CPU under load; BENCHMARKS.md, issue 8 part 2).
  const redis: OwnedRedis | undefined =
    config.REDIS_URL && limited
      ? buildRedis({ url: config.REDIS_URL, commandTimeoutMs: 500, redisOptions: { enableOfflineQueue: false, enableAutoPipelining: true } })
      : undefined;
  const rateLimits = createRateLimits({
    perIdentity: config.KEYFLOW_RATE_LIMIT_PER_IDENTITY,
    perAddress: config.KEYFLOW_RATE_LIMIT_PER_ADDRESS,
    windowMs: config.KEYFLOW_RATE_LIMIT_WINDOW_MS,
    redis: redis?.redis as Redis | undefined,
    keyPrefix: config.KEYFLOW_KEY_PREFIX,
  });
  return {
    authenticator,
    rateLimits,
    async start() {
      if (redis) await connectRedis(redis, 'rate limits');
    },
    async close() {
      if (redis) await closeRedis(redis);
    },
  };
}
