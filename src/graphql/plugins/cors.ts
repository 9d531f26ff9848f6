/**
 * The CORS policy from an allow-list of origins: an allowed Origin is echoed (with credentials
 * only when configured and never for `*`), any other gets no CORS headers, so the browser keeps
 * the response from the page. The same list decides which browser pages may open a WebSocket.
 */
import type { CORSOptions } from 'graphql-yoga';

export interface CorsPolicy {
  /** Allowed origins (`https://app.example`); `*` allows any origin without credentials. @default [] (same origin only) */
  origins?: readonly string[];
  /** Let allowed origins send credentials. @default false */
  credentials?: boolean;
}

export function originAllowed(policy: CorsPolicy, origin: string): boolean {
  const list = policy.origins ?? [];
  return list.includes('*') || list.includes(origin.replace(/\/$/, ''));
}

/** yoga's `cors` option for this policy. */
export function corsOptions(policy: CorsPolicy): (request: Request) => CORSOptions {
  const wildcard = (policy.origins ?? []).includes('*');
  return (request) => {
    const origin = request.headers.get('origin');
    if (!origin || !originAllowed(policy, origin)) return false;
    return {
      origin: wildcard ? '*' : origin,
      credentials: !wildcard && (policy.credentials ?? false),
      methods: ['GET', 'POST', 'OPTIONS'],
      allowedHeaders: ['authorization', 'content-type', 'accept', 'x-request-id', 'traceparent', 'tracestate'],
      exposedHeaders: ['x-request-id', 'retry-after'],
      maxAge: 600,
    };
  };
}
