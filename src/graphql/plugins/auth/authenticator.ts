/**
 * Turns an `Authorization: Bearer …` value into an {@link Identity}: a static token (every scope),
 * or a JWT checked by {@link createJwtVerifier}. With neither configured every caller is
 * {@link ANONYMOUS}. Failures are UNAUTHENTICATED errors with `details.reason`.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { ANONYMOUS, type Identity, Scope } from './identity.ts';
import { type JwtVerifier, unauthenticated } from './jwt-verifier.ts';

export interface AuthenticatorOptions {
  /** Static bearer tokens (KEYFLOW_API_TOKENS); each grants every scope. Blank entries are ignored. @default [] */
  staticTokens?: readonly string[];
  /** JWT verification; undefined accepts no JWT. */
  jwt?: JwtVerifier | undefined;
}

export interface Authenticator {
  /** Whether a credential is required (static tokens or JWTs configured). */
  readonly required: boolean;
  /** The caller behind an Authorization value (`Bearer <token>`); throws UNAUTHENTICATED. */
  authenticate(authorization: unknown): Promise<Identity>;
}

const BEARER = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)$/i;
/** Longest credential looked at, bytes: a JWT with a few dozen scopes fits easily. */
const MAX_TOKEN_LENGTH = 8192;

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * @example
 * const auth = createAuthenticator({ staticTokens: ['s3cret'], jwt: createJwtVerifier({ … }) });
 * const identity = await auth.authenticate(request.headers.get('authorization'));
 */
export function createAuthenticator(options: AuthenticatorOptions = {}): Authenticator {
  const statics = (options.staticTokens ?? []).map((t) => t.trim()).filter((t) => t.length > 0);
  // Compared as SHA-256 digests: equal length, so the comparison time says nothing about the token.
  const staticIdentities = statics.map((t) => {
    const d = digest(t);
    const identity: Identity = { sub: `static:${d.toString('hex').slice(0, 12)}`, scopes: new Set([Scope.all]), expiresAt: undefined, method: 'static' };
    return { digest: d, identity };
  });
  const jwt = options.jwt;
  const required = staticIdentities.length > 0 || jwt !== undefined;
  return {
    required,
    async authenticate(authorization) {
      if (!required) return ANONYMOUS;
      if (typeof authorization !== 'string' || authorization.trim() === '') {
        throw unauthenticated('missing', 'missing bearer token: send Authorization: Bearer <token> (WebSocket: in the connection_init payload)');
      }
      const value = authorization.trim();
      const m = value.length <= MAX_TOKEN_LENGTH + 16 ? BEARER.exec(value) : null;
      if (!m) throw unauthenticated('malformed', 'the Authorization value is not `Bearer <token>`');
      const token = m[1]!;
      if (staticIdentities.length > 0) {
        const d = digest(token);
        let found: Identity | undefined;
        for (const s of staticIdentities) if (timingSafeEqual(s.digest, d)) found = s.identity;
        if (found) return found;
      }
      if (jwt && token.split('.').length === 3) {
        const v = await jwt.verify(token);
        return { sub: v.sub, scopes: new Set(v.scopes), expiresAt: v.expiresAt, method: 'jwt' };
      }
      throw unauthenticated('invalid', 'invalid bearer token');
    },
  };
}
