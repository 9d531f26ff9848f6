/**
 * What access control costs per request (issue 12), in process: authenticating a static token and
 * an HS256 / RS256 / ES256 JWT (jose, keys from a JWKS file), the scope check of a publishEvent
 * document, and one rate-limit point in memory. One line each: operations per second of one core.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'graphql';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { createAuthenticator } from '../src/graphql/plugins/auth/authenticator.ts';
import { requiredScopes } from '../src/graphql/plugins/auth/root-field-scopes.ts';
import { createJwtVerifier } from '../src/graphql/plugins/auth/jwt-verifier.ts';
import { createRateLimits } from '../src/graphql/plugins/rate-limits.ts';
import { buildSchema } from '../src/graphql/schema/index.ts';
import type { BenchContext } from './embedded.ts';
import { fmtInt } from './lib/stats.ts';

async function opsPerSecond(label: string, ms: number, op: () => Promise<unknown> | unknown): Promise<void> {
  for (let i = 0; i < 200; i++) await op();
  let n = 0;
  const started = performance.now();
  while (performance.now() - started < ms) {
    for (let i = 0; i < 50; i++) await op();
    n += 50;
  }
  const perSecond = (n * 1000) / (performance.now() - started);
  process.stdout.write(`${label.padEnd(44)} ${fmtInt(Math.round(perSecond)).padStart(10)} /s  (${(1e6 / perSecond).toFixed(1)} µs each)\n`);
}

export async function benchAuth(ctx: BenchContext): Promise<void> {
  const ms = ctx.quick ? 1000 : 3000;
  const dir = mkdtempSync(join(tmpdir(), 'keyflow-bench-auth-'));
  try {
    const rs = await generateKeyPair('RS256', { extractable: true });
    const es = await generateKeyPair('ES256', { extractable: true });
    const jwks = join(dir, 'jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(rs.publicKey)), kid: 'rs', alg: 'RS256' }, { ...(await exportJWK(es.publicKey)), kid: 'es', alg: 'ES256' }] }));
    const secret = 'a-benchmark-secret-of-at-least-32-bytes';
    const auth = createAuthenticator({
      staticTokens: ['static-token'],
      jwt: createJwtVerifier({ algorithms: ['HS256', 'RS256', 'ES256'], issuer: 'https://id', audience: 'keyflow', secret, jwksFile: jwks }),
    });
    const sign = (alg: string, key: CryptoKey | Uint8Array, kid?: string) =>
      new SignJWT({ scope: 'publish:*' }).setProtectedHeader({ alg, ...(kid ? { kid } : {}) }).setSubject('p').setIssuer('https://id').setAudience('keyflow').setExpirationTime('1h').sign(key);
    const hs = await sign('HS256', new TextEncoder().encode(secret));
    const rsToken = await sign('RS256', rs.privateKey, 'rs');
    const esToken = await sign('ES256', es.privateKey, 'es');
    await opsPerSecond('static token', ms, () => auth.authenticate('Bearer static-token'));
    await opsPerSecond('JWT HS256', ms, () => auth.authenticate(`Bearer ${hs}`));
    await opsPerSecond('JWT RS256 (JWKS file)', ms, () => auth.authenticate(`Bearer ${rsToken}`));
    await opsPerSecond('JWT ES256 (JWKS file)', ms, () => auth.authenticate(`Bearer ${esToken}`));
    const schema = buildSchema();
    const doc = parse('mutation($i: [EventInput!]!) { publishEvents(inputs: $i) { status } }');
    const inputs = Array.from({ length: 100 }, (_, i) => ({ eventType: 'iot.sensor', deviceId: `d${i}`, timestamp: '2026-01-15T10:00:00Z', payload: { value: i } }));
    await opsPerSecond('scope check of publishEvents (100 events)', ms, () => requiredScopes(schema, doc, undefined, { i: inputs }));
    const limits = createRateLimits({ perIdentity: 1_000_000_000, windowMs: 1000 });
    let k = 0;
    await opsPerSecond('rate-limit point, memory (1000 identities)', ms, () => limits.consume('identity', `id-${k++ % 1000}`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
