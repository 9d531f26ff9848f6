/**
 * Who is calling and what they may do. A scope is `publish:<eventType>` (or `publish:*`), `read`,
 * `subscribe` or `admin`; `*` (static tokens, and every caller when authentication is off) is all
 * of them.
 */

export const Scope = {
  read: 'read',
  subscribe: 'subscribe',
  admin: 'admin',
  publishAny: 'publish:*',
  all: '*',
} as const;

/** The scope that lets a caller publish events of this type. */
export function publishScope(eventType: string): string {
  return `publish:${eventType}`;
}

export interface Identity {
  /** The partner's id: a JWT's `sub`, `static:<sha-256 prefix>` for a static token, `anonymous` without auth. */
  readonly sub: string;
  readonly scopes: ReadonlySet<string>;
  /** When the credential stops being valid, epoch ms (a JWT's `exp`); undefined: never. */
  readonly expiresAt: number | undefined;
  readonly method: 'jwt' | 'static' | 'anonymous';
}

/** The caller when the API has no credentials configured: every scope. */
export const ANONYMOUS: Identity = Object.freeze({ sub: 'anonymous', scopes: new Set([Scope.all]), expiresAt: undefined, method: 'anonymous' });

export function hasScope(identity: Identity, scope: string): boolean {
  const s = identity.scopes;
  if (s.has(Scope.all) || s.has(scope)) return true;
  return scope.startsWith('publish:') && s.has(Scope.publishAny);
}
