/**
 * Refuses a GraphQL HTTP request over its rate limit with RATE_LIMITED (HTTP 429, `Retry-After`)
 * before its body is read. Used twice: per client address before authentication (so token
 * guessing is throttled too), per identity after it. WebSocket operations are limited in ws-server.ts.
 */
import type { Plugin } from 'graphql-yoga';
import type { AuditLog } from './auth/audit.ts';
import { clientAddress, nodeRequestOf } from './client-address.ts';
import { errorResponse } from './error-response.ts';
import type { RateLimitScope, RateLimits } from './rate-limits.ts';
import { identityOf } from './use-auth.ts';
import { requestIdOf } from './use-request-id.ts';

export interface RateLimitPluginOptions {
  limits: RateLimits;
  scope: RateLimitScope;
  /** GraphQL endpoint; other paths are not limited. */
  path: string;
  audit: AuditLog;
  /** Read the client address from X-Forwarded-For. @default false */
  trustProxy?: boolean;
}

export function useRateLimit(options: RateLimitPluginOptions): Plugin {
  const { limits, scope, path, audit } = options;
  const trustProxy = options.trustProxy ?? false;
  return {
    async onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      if (url.pathname !== path || request.method === 'OPTIONS') return;
      const address = clientAddress(nodeRequestOf(serverContext), trustProxy);
      const identity = scope === 'identity' ? identityOf(request) : undefined;
      const key = identity ? (identity.method === 'anonymous' ? `address:${address}` : identity.sub) : address;
      const refused = await limits.consume(scope, key);
      if (!refused) return;
      const requestId = requestIdOf(request);
      audit.rejected({ code: refused.code, reason: `rate_limit_${scope}`, transport: 'http', address, sub: identity?.sub, requestId });
      endResponse(errorResponse(fetchAPI, refused, requestId, { 'retry-after': String(refused.details?.retryAfterSeconds ?? 1) }));
    },
  };
}
