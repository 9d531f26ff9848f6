/**
 * Cross-site request forgery guard: a POST to the GraphQL endpoint must be JSON
 * (`application/json`, `application/graphql-response+json`) or `application/graphql`. A page on
 * another site can send `application/x-www-form-urlencoded`, `multipart/form-data` or
 * `text/plain` without a CORS preflight; those are refused with 415 before anything is parsed.
 * (GET runs queries only — yoga refuses mutations over GET — so it cannot change anything.)
 */
import type { Plugin } from 'graphql-yoga';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { AuditLog } from './auth/audit.ts';
import { clientAddress, nodeRequestOf } from './client-address.ts';
import { errorResponse } from './error-response.ts';
import { requestIdOf } from './use-request-id.ts';

export interface CsrfGuardOptions {
  /** GraphQL endpoint. */
  path: string;
  audit: AuditLog;
  /** @default false */
  trustProxy?: boolean;
}

const ACCEPTED = new Set(['application/json', 'application/graphql-response+json', 'application/graphql']);

export function useCsrfGuard(options: CsrfGuardOptions): Plugin {
  return {
    onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      if (url.pathname !== options.path || request.method !== 'POST') return;
      const type = (request.headers.get('content-type') ?? '').split(';')[0]!.trim().toLowerCase();
      if (ACCEPTED.has(type)) return;
      const requestId = requestIdOf(request);
      const shown = type.slice(0, 64) || '(none)';
      const e = new KeyflowError(
        ErrorCode.SCHEMA_VALIDATION_FAILED,
        `content type ${shown} is not accepted: POST GraphQL as application/json (other types are refused to prevent cross-site request forgery)`,
        { details: { contentType: shown, accepted: [...ACCEPTED] } },
      );
      options.audit.rejected({ code: e.code, reason: 'content_type', transport: 'http', address: clientAddress(nodeRequestOf(serverContext), options.trustProxy ?? false), requestId });
      endResponse(errorResponse(fetchAPI, e, requestId, { accept: [...ACCEPTED].join(', ') }, 415));
    },
  };
}
