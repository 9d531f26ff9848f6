/**
 * Authentication and authorization of GraphQL operations.
 *
 * - Authentication runs in `onRequest`, before yoga reads the body: a request to the GraphQL
 *   endpoint without a valid credential is answered UNAUTHENTICATED (HTTP 401,
 *   `WWW-Authenticate: Bearer`) having read nothing but its headers. GraphiQL's page (a GET that
 *   asks for HTML and carries no query) and /health, /ready, /metrics stay open.
 * - Authorization runs when an operation executes or subscribes, over HTTP, SSE and WebSocket
 *   alike: the operation's root fields need scopes (see auth/root-field-scopes.ts); a missing one
 *   is FORBIDDEN (HTTP 403) and nothing runs. Admin actions and every refusal are audited.
 * - A subscription whose credential expires ends with an UNAUTHENTICATED error (`reason: expired`).
 *
 * The identity is on the context (`identity`) for the resolvers; WebSocket connections put it
 * there from their connection_init (ws-server.ts).
 */
import { type ExecutionResult, GraphQLError } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { AuditLog, Transport } from './auth/audit.ts';
import type { Authenticator } from './auth/authenticator.ts';
import { ANONYMOUS, hasScope, type Identity } from './auth/identity.ts';
import { unauthenticated } from './auth/jwt-verifier.ts';
import { requiredScopes } from './auth/root-field-scopes.ts';
import { clientAddress, nodeRequestOf } from './client-address.ts';
import { errorResponse } from './error-response.ts';
import { requestIdOf } from './use-request-id.ts';

export interface AuthPluginOptions {
  authenticator: Authenticator;
  /** GraphQL endpoint. */
  path: string;
  audit: AuditLog;
  /** Read the client address from X-Forwarded-For. @default false */
  trustProxy?: boolean;
  /** @default Date.now */
  now?: () => number;
}

/** What the auth plugin reads from an operation's context. */
export interface AuthContext {
  readonly identity?: Identity;
  readonly requestId?: string;
  /** Client address, for the audit log. */
  readonly clientAddress?: string;
  readonly transport?: Transport;
}

const identities = new WeakMap<Request, { identity: Identity; address: string }>();

/** The identity {@link useAuth} authenticated for this HTTP request ({@link ANONYMOUS} when it saw none). */
export function identityOf(request: Request | undefined): Identity {
  return (request && identities.get(request)?.identity) ?? ANONYMOUS;
}

/** The client address {@link useAuth} saw for this HTTP request. */
export function addressOf(request: Request | undefined): string {
  return (request && identities.get(request)?.address) ?? 'unknown';
}

function isGraphiqlPage(request: Request, url: URL): boolean {
  return request.method === 'GET' && !url.searchParams.has('query') && (request.headers.get('accept') ?? '').includes('text/html');
}

export function forbidden(missing: string[], fields: string[]): KeyflowError {
  return new KeyflowError(ErrorCode.FORBIDDEN, `the credential lacks the scope${missing.length > 1 ? 's' : ''} ${missing.join(', ')} needed by ${fields.join(', ')}`, {
    details: { missingScopes: missing },
  });
}

/** The refusal of an operation by `identity`, or undefined when every root field is allowed. Audits either way. */
export function authorize(
  args: { schema: Parameters<typeof requiredScopes>[0]; document: Parameters<typeof requiredScopes>[1]; operationName?: string | null | undefined; variableValues?: Record<string, unknown> | null | undefined },
  ctx: AuthContext,
  audit: AuditLog,
): KeyflowError | undefined {
  const identity = ctx.identity ?? ANONYMOUS;
  const needed = requiredScopes(args.schema, args.document, args.operationName, args.variableValues);
  if (!needed) return undefined;
  const missing = [...new Set(needed.filter((n) => !hasScope(identity, n.scope)).map((n) => n.scope))];
  const fields = [...new Set(needed.map((n) => n.field))];
  const base = { transport: ctx.transport ?? 'http', address: ctx.clientAddress ?? 'unknown', requestId: ctx.requestId ?? '' } as const;
  if (missing.length > 0) {
    audit.rejected({ code: ErrorCode.FORBIDDEN, reason: 'missing_scope', sub: identity.sub, fields, ...base });
    return forbidden(missing, fields);
  }
  if (needed.some((n) => n.scope === 'admin')) audit.admin({ sub: identity.sub, fields, ...base });
  return undefined;
}

function errorResult(e: KeyflowError): ExecutionResult {
  return { errors: [new GraphQLError(e.message, { originalError: e })] };
}

const MAX_TIMER_MS = 2_147_483_647;

/** The stream, ended with an UNAUTHENTICATED error once `expiresAt` passes. */
function untilExpiry<T>(source: AsyncIterable<T>, expiresAt: number, now: () => number): AsyncIterableIterator<T | ExecutionResult> {
  const it = source[Symbol.asyncIterator]();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let expired = false;
  let ended = false;
  const expiry = new Promise<'expired'>((resolve) => {
    timer = setTimeout(() => {
      expired = true;
      resolve('expired');
    }, Math.min(MAX_TIMER_MS, Math.max(0, expiresAt - now())));
  });
  const out: AsyncIterableIterator<T | ExecutionResult> = {
    async next() {
      if (ended) return { done: true, value: undefined };
      if (!expired) {
        const r = await Promise.race([it.next(), expiry]);
        if (r !== 'expired') {
          if (r.done) clearTimeout(timer);
          return r;
        }
      }
      ended = true;
      void it.return?.();
      return { done: false, value: errorResult(unauthenticated('expired', 'the credential expired; the subscription ends: reconnect with a fresh token')) };
    },
    async return() {
      ended = true;
      clearTimeout(timer);
      await it.return?.();
      return { done: true, value: undefined };
    },
    async throw(e) {
      clearTimeout(timer);
      if (it.throw) return it.throw(e);
      throw e;
    },
    [Symbol.asyncIterator]() {
      return out;
    },
  };
  return out;
}

export function useAuth(options: AuthPluginOptions): Plugin<AuthContext> {
  const { authenticator, path, audit } = options;
  const trustProxy = options.trustProxy ?? false;
  const now = options.now ?? Date.now;
  return {
    async onRequest({ request, url, serverContext, endResponse, fetchAPI }) {
      if (url.pathname !== path || request.method === 'OPTIONS') return;
      const address = clientAddress(nodeRequestOf(serverContext), trustProxy);
      if (!authenticator.required) {
        identities.set(request, { identity: ANONYMOUS, address });
        return;
      }
      if (isGraphiqlPage(request, url)) return;
      try {
        identities.set(request, { identity: await authenticator.authenticate(request.headers.get('authorization')), address });
      } catch (e) {
        const err = e instanceof KeyflowError ? e : unauthenticated('invalid', 'invalid bearer token', e);
        const requestId = requestIdOf(request);
        audit.rejected({ code: err.code, reason: String(err.details?.reason ?? 'invalid'), transport: 'http', address, requestId });
        endResponse(errorResponse(fetchAPI, err, requestId, { 'www-authenticate': 'Bearer' }));
      }
    },
    onExecute({ args, setResultAndStopExecution }) {
      const refused = authorize(args, args.contextValue, audit);
      if (refused) setResultAndStopExecution(errorResult(refused));
    },
    onSubscribe({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue;
      const refused = authorize(args, ctx, audit);
      if (refused) {
        setResultAndStopExecution(errorResult(refused));
        return;
      }
      const expiresAt = ctx.identity?.expiresAt;
      if (expiresAt === undefined) return;
      return {
        onSubscribeResult({ result, setResult }) {
          if (Symbol.asyncIterator in result) setResult(untilExpiry(result as AsyncIterable<ExecutionResult>, expiresAt, now));
        },
      };
    },
  };
}
