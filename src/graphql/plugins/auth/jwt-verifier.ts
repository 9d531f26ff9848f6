/**
 * JWT verification with jose, following RFC 8725: an explicit algorithm allow-list (never `none`),
 * the key chosen by algorithm family so an HS256 token is never checked against an RSA/EC public
 * key (HS/RS confusion), issuer and audience always checked, `exp` and `sub` required, `nbf` and
 * `exp` with a small leeway. RS256/ES256 keys come from a JWKS file (re-read when it changes) or
 * URL (jose's cached remote set); HS256 from a shared secret.
 */
import { createSecretKey } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  type JSONWebKeySet,
  type JWTPayload,
  type JWTVerifyGetKey,
  errors as joseErrors,
  jwtVerify,
} from 'jose';
import { ErrorCode, KeyflowError } from '../../../model/index.ts';

export type JwtAlgorithm = 'HS256' | 'RS256' | 'ES256';

export interface JwtVerifierOptions {
  /** Accepted `alg` values. */
  algorithms: readonly JwtAlgorithm[];
  /** Required `iss`. */
  issuer: string;
  /** Required `aud` (one of the token's audiences). */
  audience: string;
  /** HS256 shared secret (≥ 32 bytes). */
  secret?: string | undefined;
  /** Path of a JWKS file with the RS256/ES256 public keys. */
  jwksFile?: string | undefined;
  /** URL of a JWKS with the RS256/ES256 public keys. */
  jwksUrl?: string | undefined;
  /** How long a loaded JWKS is used before the file's mtime (or the URL) is looked at again, ms. @default 30_000 */
  jwksRefreshMs?: number;
  /** Leeway on exp/nbf, ms. @default 30_000 */
  clockToleranceMs?: number;
  /** Warnings (a JWKS file that cannot be read keeps the keys loaded before). */
  onWarning?: (message: string, err: unknown) => void;
  /** @default Date.now */
  now?: () => number;
}

export interface VerifiedJwt {
  readonly sub: string;
  readonly scopes: string[];
  /** epoch ms */
  readonly expiresAt: number;
}

export interface JwtVerifier {
  verify(token: string): Promise<VerifiedJwt>;
}

/** Why a token was refused; the client sees it in `extensions.details.reason`. */
export type JwtRejection = 'malformed' | 'algorithm_not_allowed' | 'bad_signature' | 'unknown_key' | 'expired' | 'not_yet_valid' | 'bad_claims';

export function unauthenticated(reason: string, message: string, cause?: unknown): KeyflowError {
  return new KeyflowError(ErrorCode.UNAUTHENTICATED, message, { cause, details: { reason } });
}

function rejection(e: unknown): { reason: JwtRejection; message: string } {
  if (e instanceof joseErrors.JWTExpired) return { reason: 'expired', message: 'the token has expired' };
  if (e instanceof joseErrors.JWTClaimValidationFailed) {
    if (e.claim === 'nbf') return { reason: 'not_yet_valid', message: 'the token is not valid yet (nbf)' };
    return { reason: 'bad_claims', message: `the token's ${e.claim} claim is not accepted` };
  }
  if (e instanceof joseErrors.JOSEAlgNotAllowed || e instanceof joseErrors.JOSENotSupported) {
    return { reason: 'algorithm_not_allowed', message: 'the token is signed with an algorithm that is not allowed' };
  }
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return { reason: 'bad_signature', message: 'the token signature does not verify' };
  if (e instanceof joseErrors.JWKSNoMatchingKey || e instanceof joseErrors.JWKSMultipleMatchingKeys) {
    return { reason: 'unknown_key', message: 'no current key matches the token (unknown or revoked kid)' };
  }
  return { reason: 'malformed', message: 'the token is not a well-formed JWT' };
}

/** A JWKS file, re-read when its mtime or size changes (checked at most every `refreshMs`). */
function fileJwks(path: string, refreshMs: number, now: () => number, onWarning: JwtVerifierOptions['onWarning']): JWTVerifyGetKey {
  let keys: JWTVerifyGetKey | undefined;
  let version = '';
  let checkedAt = Number.NEGATIVE_INFINITY;
  let loading: Promise<void> | undefined;
  async function refresh(): Promise<void> {
    try {
      const s = await stat(path);
      const v = `${s.mtimeMs}:${s.size}`;
      if (v !== version || !keys) {
        keys = createLocalJWKSet(JSON.parse(await readFile(path, 'utf8')) as JSONWebKeySet);
        version = v;
      }
      checkedAt = now();
    } catch (e) {
      // A rotation written non-atomically may be caught half-way: keep the previous keys.
      onWarning?.(`cannot load the JWKS file ${path}`, e);
      if (!keys) throw new KeyflowError(ErrorCode.UNAUTHENTICATED, 'no verification keys are available', { cause: e, details: { reason: 'unknown_key' } });
    }
  }
  return async (header, token) => {
    if (now() - checkedAt >= refreshMs) {
      loading ??= refresh().finally(() => {
        loading = undefined;
      });
      await loading;
    }
    return keys!(header, token);
  };
}

function scopesOf(payload: JWTPayload): string[] {
  const out: string[] = [];
  for (const claim of [payload.scope, payload.scp, payload.scopes]) {
    if (typeof claim === 'string') out.push(...claim.split(' ').filter((s) => s.length > 0));
    else if (Array.isArray(claim)) for (const s of claim) if (typeof s === 'string') out.push(s);
  }
  return out;
}

/**
 * @example
 * const jwt = createJwtVerifier({ algorithms: ['RS256'], issuer: 'https://id.example', audience: 'keyflow', jwksFile: './jwks.json' });
 * const { sub, scopes } = await jwt.verify(token);
 */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const now = options.now ?? Date.now;
  const refreshMs = options.jwksRefreshMs ?? 30_000;
  const algorithms = [...options.algorithms];
  // A KeyObject, imported once: jose would import raw bytes again for every token.
  const secret = options.secret ? createSecretKey(Buffer.from(options.secret, 'utf8')) : undefined;
  const jwks: JWTVerifyGetKey | undefined = options.jwksFile
    ? fileJwks(options.jwksFile, refreshMs, now, options.onWarning)
    : options.jwksUrl
      ? createRemoteJWKSet(new URL(options.jwksUrl), { cacheMaxAge: refreshMs, cooldownDuration: Math.min(refreshMs, 30_000) })
      : undefined;
  // The key follows the algorithm family, so a token can never pick a public key as an HMAC secret.
  const getKey: JWTVerifyGetKey = async (header, token) => {
    if (header.alg === 'HS256') {
      if (!secret) throw new joseErrors.JOSEAlgNotAllowed('HS256 has no configured secret');
      return secret;
    }
    if (!jwks) throw new joseErrors.JWKSNoMatchingKey();
    return jwks(header, token);
  };
  const clockTolerance = Math.round((options.clockToleranceMs ?? 30_000) / 1000);
  return {
    async verify(token) {
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, getKey, {
          algorithms,
          issuer: options.issuer,
          audience: options.audience,
          clockTolerance,
          currentDate: new Date(now()),
          requiredClaims: ['exp', 'sub'],
        }));
      } catch (e) {
        if (e instanceof KeyflowError) throw e;
        const r = rejection(e);
        throw unauthenticated(r.reason, r.message, e);
      }
      if (typeof payload.sub !== 'string' || payload.sub.length === 0 || payload.sub.length > 256) {
        throw unauthenticated('bad_claims', "the token's sub claim is not accepted");
      }
      return { sub: payload.sub, scopes: scopesOf(payload), expiresAt: payload.exp! * 1000 };
    },
  };
}
