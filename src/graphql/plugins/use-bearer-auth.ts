/**
 * Bearer-token authentication for GraphQL operations over HTTP: with tokens configured, an
 * operation without `Authorization: Bearer <one of them>` fails with UNAUTHENTICATED (HTTP 401).
 * GraphiQL's page and the /health, /ready, /metrics routes stay open. WebSocket connections
 * authenticate in connection_init (see server.ts) with {@link tokenAccepted}.
 */
import { GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode, KeyflowError } from '../../model/index.ts';

export interface BearerAuthOptions {
  /** Accepted tokens; empty disables authentication. */
  tokens: readonly string[];
}

const encoder = new TextEncoder();

/** Compares in time independent of where the strings differ. */
function equalConstantTime(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/** Whether an `Authorization` value (`Bearer <token>`) carries one of the tokens. */
export function tokenAccepted(tokens: readonly string[], authorization: unknown): boolean {
  if (typeof authorization !== 'string') return false;
  const m = /^Bearer\s+(\S+)$/i.exec(authorization.trim());
  if (!m) return false;
  let ok = false;
  for (const t of tokens) ok = equalConstantTime(t, m[1]!) || ok;
  return ok;
}

export function unauthenticated(): KeyflowError {
  return new KeyflowError(
    ErrorCode.UNAUTHENTICATED,
    'missing or invalid bearer token: send Authorization: Bearer <token> (WebSocket: in the connection_init payload)',
  );
}

export function useBearerAuth(options: BearerAuthOptions): Plugin {
  const { tokens } = options;
  return {
    onParams({ request, setResult }) {
      if (tokens.length === 0 || tokenAccepted(tokens, request.headers.get('authorization'))) return;
      const e = unauthenticated();
      // useErrorCodes turns it into the contract shape and keeps the status and header.
      setResult({
        errors: [new GraphQLError(e.message, { originalError: e, extensions: { http: { status: 401, headers: { 'www-authenticate': 'Bearer' } } } })],
      });
    },
  };
}
