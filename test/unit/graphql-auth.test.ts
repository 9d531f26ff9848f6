/**
 * The access matrix: every kind of bad credential (none, wrong signature, alg none, HS/RS
 * confusion, expired, not yet valid, wrong audience, wrong issuer, revoked key after a JWKS
 * rotation) and a missing scope, over HTTP, SSE and graphql-ws — each refused with the right code
 * and nothing appended to the log. Then what a valid credential may do, the publisher recorded on
 * every record, the audit log, and a subscription whose token expires.
 */
import { writeFile, mkdtemp, rm, rename } from 'node:fs/promises';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Client, createClient } from 'graphql-ws';
import { type CryptoKey, type JWK, SignJWT, exportJWK, exportSPKI, generateKeyPair } from 'jose';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createAuthenticator } from '../../src/graphql/plugins/auth/authenticator.ts';
import { createJwtVerifier } from '../../src/graphql/plugins/auth/jwt-verifier.ts';
import { type GraphQLServer, WsClose, createGraphQLServer } from '../../src/graphql/server.ts';
import { PUBLISHER_HEADER } from '../../src/ingest/ingest.ts';
import type { EventLog } from '../../src/log/port.ts';
import { type Harness, PUBLISH, createEmbeddedHarness, sensorEvent } from '../helpers/graphql-harness.ts';

const ISSUER = 'https://id.test';
const AUDIENCE = 'keyflow-api';
const SECRET = 'a-shared-hs256-secret-of-at-least-32-bytes!';
const TOPIC = 'events.iot.sensors';
const SUBSCRIBE_EVENTS = `subscription { events(topic: "${TOPIC}") { eventId } }`;

interface Keys {
  rsa: { privateKey: CryptoKey; publicKey: CryptoKey };
  rsa2: { privateKey: CryptoKey; publicKey: CryptoKey };
  ec: { privateKey: CryptoKey; publicKey: CryptoKey };
}

async function jwk(key: CryptoKey, kid: string, alg: string): Promise<JWK> {
  return { ...(await exportJWK(key)), kid, alg, use: 'sig' };
}

interface Claims {
  sub?: string;
  scope?: string;
  aud?: string;
  iss?: string;
  exp?: number;
  nbf?: number;
}

const nowS = () => Math.floor(Date.now() / 1000);

async function sign(alg: 'RS256' | 'ES256' | 'HS256', key: CryptoKey | Uint8Array, kid: string | undefined, c: Claims = {}): Promise<string> {
  const jwt = new SignJWT({ scope: c.scope ?? 'publish:* read subscribe' })
    .setProtectedHeader({ alg, ...(kid ? { kid } : {}) })
    .setSubject(c.sub ?? 'partner-a')
    .setIssuer(c.iss ?? ISSUER)
    .setAudience(c.aud ?? AUDIENCE)
    .setIssuedAt()
    .setExpirationTime(c.exp ?? nowS() + 600);
  if (c.nbf !== undefined) jwt.setNotBefore(c.nbf);
  return jwt.sign(key);
}

function b64url(s: string): string {
  return Buffer.from(s).toString('base64url');
}

interface Running {
  h: Harness<EventLog>;
  server: GraphQLServer;
  http: Server;
  wsUrl: string;
  logs: Record<string, unknown>[];
  jwksFile: string;
  close(): Promise<void>;
}

async function start(keys: Keys): Promise<Running> {
  const dir = await mkdtemp(join(tmpdir(), 'keyflow-auth-'));
  const jwksFile = join(dir, 'jwks.json');
  await writeFile(jwksFile, JSON.stringify({ keys: [await jwk(keys.rsa.publicKey, 'rsa-1', 'RS256'), await jwk(keys.ec.publicKey, 'ec-1', 'ES256')] }));
  const h = await createEmbeddedHarness();
  const logs: Record<string, unknown>[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void logs.push(JSON.parse(line) as Record<string, unknown>) });
  const authenticator = createAuthenticator({
    staticTokens: ['static-admin-token'],
    jwt: createJwtVerifier({
      algorithms: ['HS256', 'RS256', 'ES256'],
      issuer: ISSUER,
      audience: AUDIENCE,
      secret: SECRET,
      jwksFile,
      jwksRefreshMs: 0,
      clockToleranceMs: 1000,
    }),
  });
  const server = createGraphQLServer({ ...h.services, logger }, { authenticator });
  const http = createServer(server.handler);
  const closeWs = server.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  return {
    h,
    server,
    http,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    logs,
    jwksFile,
    async close() {
      await closeWs();
      await new Promise<void>((r) => http.close(() => r()));
      await h.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function httpGql(run: Running, query: string, variables: Record<string, unknown> | undefined, token: string | undefined) {
  const res = await run.server.yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'application/json', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return { status: res.status, headers: res.headers, body: (await res.json()) as { data?: unknown; errors?: { message: string; extensions: { code: string; details?: Record<string, unknown> } }[] } };
}

/** The first SSE `next` payload of a subscription over HTTP (or the refusal before the stream). */
async function sse(run: Running, query: string, token: string | undefined) {
  const res = await run.server.yoga.fetch('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream', ...(token !== undefined ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query }),
  });
  if (!(res.headers.get('content-type') ?? '').includes('text/event-stream')) {
    return { status: res.status, first: (await res.json()) as { errors?: { extensions: { code: string; details?: Record<string, unknown> } }[] } };
  }
  const reader = res.body!.getReader();
  let text = '';
  const decoder = new TextDecoder();
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value);
    const m = /event: next\ndata: (.*)\n/.exec(text);
    if (m) {
      await reader.cancel();
      return { status: res.status, first: JSON.parse(m[1]!) as { errors?: { extensions: { code: string; details?: Record<string, unknown> } }[] } };
    }
  }
  throw new Error(`SSE stream ended without a next event: ${text}`);
}

function wsClient(url: string, token: string | undefined, onClosed?: (e: { code: number; reason: string }) => void): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: token !== undefined ? { authorization: `Bearer ${token}` } : {},
    on: { closed: (e) => onClosed?.(e as { code: number; reason: string }) },
  });
}

/** Runs one operation over graphql-ws: its first result, or how the socket was closed. */
async function ws(run: Running, query: string, variables: Record<string, unknown> | undefined, token: string | undefined) {
  let closedWith: { code: number; reason: string } | undefined;
  const c = wsClient(run.wsUrl, token, (e) => {
    closedWith = e;
  });
  try {
    const r = await c.iterate({ query, variables }).next();
    return { result: r.value as { data?: unknown; errors?: { extensions: { code: string; details?: Record<string, unknown> } }[] } | undefined, closed: closedWith };
  } catch (e) {
    return { result: undefined, closed: closedWith ?? (e as { code: number; reason: string }) };
  } finally {
    await c.dispose();
  }
}

describe('access matrix: each bad credential is refused over HTTP, SSE and graphql-ws, and nothing is appended', () => {
  let keys: Keys;
  let run: Running;
  const bad: Record<string, () => Promise<string | undefined>> = {};

  beforeAll(async () => {
    keys = {
      rsa: await generateKeyPair('RS256', { extractable: true }),
      rsa2: await generateKeyPair('RS256', { extractable: true }),
      ec: await generateKeyPair('ES256', { extractable: true }),
    };
    run = await start(keys);
    const other = await generateKeyPair('RS256');
    Object.assign(bad, {
      'no token': async () => undefined,
      'a static token nobody issued': async () => 'not-a-token-we-know',
      'wrong signature': async () => sign('RS256', other.privateKey, 'rsa-1'),
      'alg none': async () => `${b64url(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64url(JSON.stringify({ sub: 'x', iss: ISSUER, aud: AUDIENCE, exp: nowS() + 600, scope: 'publish:*' }))}.`,
      'HS/RS confusion (HS256 keyed with the RSA public key)': async () =>
        sign('HS256', new TextEncoder().encode(await exportSPKI(keys.rsa.publicKey)), 'rsa-1'),
      expired: async () => sign('RS256', keys.rsa.privateKey, 'rsa-1', { exp: nowS() - 120 }),
      'not yet valid': async () => sign('ES256', keys.ec.privateKey, 'ec-1', { nbf: nowS() + 300 }),
      'wrong audience': async () => sign('RS256', keys.rsa.privateKey, 'rsa-1', { aud: 'someone-else' }),
      'wrong issuer': async () => sign('HS256', new TextEncoder().encode(SECRET), undefined, { iss: 'https://evil.test' }),
      'an unknown kid': async () => sign('RS256', keys.rsa2.privateKey, 'rsa-2'),
    });
  });
  afterAll(async () => {
    await run.close();
  });

  const cases = [
    'no token',
    'a static token nobody issued',
    'wrong signature',
    'alg none',
    'HS/RS confusion (HS256 keyed with the RSA public key)',
    'expired',
    'not yet valid',
    'wrong audience',
    'wrong issuer',
    'an unknown kid',
  ];

  it.each(cases)('%s → UNAUTHENTICATED over HTTP (401), SSE (401) and graphql-ws (close 4401); nothing appended', async (name) => {
    const token = await bad[name]!();
    const before = (await run.h.records(TOPIC)).length;

    const h = await httpGql(run, PUBLISH, { input: sensorEvent() }, token);
    expect(h.status).toBe(401);
    expect(h.headers.get('www-authenticate')).toBe('Bearer');
    expect(h.body.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');

    const s = await sse(run, SUBSCRIBE_EVENTS, token);
    expect(s.status).toBe(401);
    expect(s.first.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');

    const w = await ws(run, PUBLISH, { input: sensorEvent() }, token);
    expect(w.result).toBeUndefined();
    expect(w.closed?.code).toBe(WsClose.unauthenticated);
    expect(w.closed?.reason).toMatch(/^UNAUTHENTICATED/);

    expect((await run.h.records(TOPIC)).length).toBe(before);
  });

  it('the refusal says why (expired, not yet valid, bad signature) without echoing the token', async () => {
    const expired = await httpGql(run, '{ topics { name } }', undefined, await bad.expired!());
    expect(expired.body.errors?.[0]?.extensions.details?.reason).toBe('expired');
    const early = await httpGql(run, '{ topics { name } }', undefined, await bad['not yet valid']!());
    expect(early.body.errors?.[0]?.extensions.details?.reason).toBe('not_yet_valid');
    const token = (await bad['wrong signature']!())!;
    const sig = await httpGql(run, '{ topics { name } }', undefined, token);
    expect(sig.body.errors?.[0]?.extensions.details?.reason).toBe('bad_signature');
    expect(JSON.stringify(sig.body)).not.toContain(token.slice(-20));
  });

  it('a missing scope → FORBIDDEN over HTTP (403), SSE and graphql-ws; nothing appended', async () => {
    const readOnly = await sign('ES256', keys.ec.privateKey, 'ec-1', { scope: 'read' });
    const before = (await run.h.records(TOPIC)).length;

    const h = await httpGql(run, PUBLISH, { input: sensorEvent() }, readOnly);
    expect(h.status).toBe(403);
    expect(h.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect(h.body.errors?.[0]?.extensions.details?.missingScopes).toEqual(['publish:iot.sensor']);

    const s = await sse(run, SUBSCRIBE_EVENTS, readOnly);
    expect(s.first.errors?.[0]?.extensions.code).toBe('FORBIDDEN');

    const w = await ws(run, PUBLISH, { input: sensorEvent() }, readOnly);
    expect(w.result?.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    const wsSub = await ws(run, SUBSCRIBE_EVENTS, undefined, readOnly);
    expect(wsSub.result?.errors?.[0]?.extensions.code).toBe('FORBIDDEN');

    expect((await run.h.records(TOPIC)).length).toBe(before);
  });

  it('a revoked key stops working once the JWKS file is rotated, without a restart; the new key works', async () => {
    const old = await sign('RS256', keys.rsa.privateKey, 'rsa-1');
    expect((await httpGql(run, '{ topics { name } }', undefined, old)).status).toBe(200);
    const next = { keys: [await jwk(keys.rsa2.publicKey, 'rsa-2', 'RS256'), await jwk(keys.ec.publicKey, 'ec-1', 'ES256')] };
    // Written beside and renamed, as a rotation job would, so no reader sees half a file.
    await writeFile(`${run.jwksFile}.tmp`, JSON.stringify(next));
    await rename(`${run.jwksFile}.tmp`, run.jwksFile);
    const before = (await run.h.records(TOPIC)).length;

    const h = await httpGql(run, PUBLISH, { input: sensorEvent() }, old);
    expect(h.status).toBe(401);
    expect(h.body.errors?.[0]?.extensions.details?.reason).toBe('unknown_key');
    expect((await sse(run, SUBSCRIBE_EVENTS, old)).status).toBe(401);
    expect((await ws(run, PUBLISH, { input: sensorEvent() }, old)).closed?.code).toBe(WsClose.unauthenticated);
    expect((await run.h.records(TOPIC)).length).toBe(before);

    const fresh = await sign('RS256', keys.rsa2.privateKey, 'rsa-2');
    const ok = await httpGql(run, PUBLISH, { input: sensorEvent() }, fresh);
    expect(ok.body.errors).toBeUndefined();
  });
});

describe('what a valid credential may do', () => {
  let keys: Keys;
  let run: Running;
  beforeAll(async () => {
    keys = {
      rsa: await generateKeyPair('RS256', { extractable: true }),
      rsa2: await generateKeyPair('RS256', { extractable: true }),
      ec: await generateKeyPair('ES256', { extractable: true }),
    };
    run = await start(keys);
  });
  afterAll(async () => {
    await run.close();
  });

  it('publish:<type> publishes that type only, and every record names its publisher', async () => {
    const token = await sign('RS256', keys.rsa.privateKey, 'rsa-1', { sub: 'partner-iot', scope: 'publish:iot.sensor' });
    const ok = await httpGql(run, PUBLISH, { input: sensorEvent({ deviceId: 'pub-1' }) }, token);
    expect(ok.body.errors).toBeUndefined();
    const receipt = (ok.body.data as { publishEvent: { partition: number; offset: string } }).publishEvent;
    const record = (await run.h.records(TOPIC)).find((r) => r.partition === receipt.partition && r.offset === Number(receipt.offset));
    expect(record?.headers[PUBLISHER_HEADER]).toBe('partner-iot');

    const other = await httpGql(
      run,
      PUBLISH,
      { input: { eventType: 'transaction', userId: 'u-1', timestamp: '2024-01-15T10:30:00.000Z', payload: { amount: 1, currency: 'EUR' } } },
      token,
    );
    expect(other.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    // A batch mixing an allowed and a forbidden type is refused whole.
    const batch = await httpGql(
      run,
      'mutation($i: [EventInput!]!) { publishEvents(inputs: $i) { status } }',
      { i: [sensorEvent(), { eventType: 'clickstream', userId: 'u', timestamp: '2024-01-15T10:30:00.000Z', payload: {} }] },
      token,
    );
    expect(batch.body.errors?.[0]?.extensions.details?.missingScopes).toEqual(['publish:clickstream']);
  });

  it('each publisher is recorded as itself, across alternating requests (services are kept per publisher)', async () => {
    const tokens = await Promise.all(['partner-a', 'partner-b'].map((sub) => sign('RS256', keys.rsa.privateKey, 'rsa-1', { sub, scope: 'publish:iot.sensor' })));
    for (let i = 0; i < 4; i++) {
      const r = await httpGql(run, PUBLISH, { input: sensorEvent({ deviceId: `alt-${i}` }) }, tokens[i % 2]);
      expect(r.body.errors).toBeUndefined();
      const receipt = (r.body.data as { publishEvent: { partition: number; offset: string } }).publishEvent;
      const record = (await run.h.records(TOPIC)).find((x) => x.partition === receipt.partition && x.offset === Number(receipt.offset));
      expect(record?.headers[PUBLISHER_HEADER]).toBe(i % 2 === 0 ? 'partner-a' : 'partner-b');
    }
  });

  it('reads need read, dead-letter payloads need admin; an admin action leaves an audit line', async () => {
    const reader = await sign('ES256', keys.ec.privateKey, 'ec-1', { sub: 'dash', scope: 'read' });
    expect((await httpGql(run, `{ latestEvents(topic: "${TOPIC}", limit: 1) { eventId } }`, undefined, reader)).body.errors).toBeUndefined();
    expect((await httpGql(run, '{ deadLetters(limit: 1) { errorType } }', undefined, reader)).body.errors).toBeUndefined();
    const payload = await httpGql(run, 'query { deadLetters(limit: 1) { ...P } } fragment P on DeadLetter { originalMessage }', undefined, reader);
    expect(payload.body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    expect(payload.body.errors?.[0]?.extensions.details?.missingScopes).toEqual(['admin']);
    const writer = await sign('ES256', keys.ec.privateKey, 'ec-1', { sub: 'writer', scope: 'publish:*' });
    expect((await httpGql(run, '{ keyState(eventType: "iot.sensor", key: "k") { partition } }', undefined, writer)).body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');

    const admin = await sign('HS256', new TextEncoder().encode(SECRET), undefined, { sub: 'ops-1', scope: 'admin' });
    expect((await httpGql(run, '{ deadLetters(limit: 1) { originalMessage } }', undefined, admin)).body.errors?.[0]?.extensions.code).toBe('FORBIDDEN');
    const adminReader = await sign('HS256', new TextEncoder().encode(SECRET), undefined, { sub: 'ops-1', scope: 'read admin' });
    expect((await httpGql(run, '{ deadLetters(limit: 1) { originalMessage } }', undefined, adminReader)).body.errors).toBeUndefined();
    expect(run.logs).toContainEqual(expect.objectContaining({ event: 'audit.admin_action', sub: 'ops-1', fields: ['query.deadLetters', 'query.deadLetters.originalMessage'] }));
    expect(run.logs).toContainEqual(expect.objectContaining({ event: 'audit.request_rejected', code: 'FORBIDDEN', sub: 'dash', reason: 'missing_scope' }));
  });

  it('a static token keeps every scope', async () => {
    const r = await httpGql(run, PUBLISH, { input: sensorEvent() }, 'static-admin-token');
    expect(r.body.errors).toBeUndefined();
  });

  it('a WebSocket whose token expires is closed with 4401 "token expired"', async () => {
    const token = await sign('RS256', keys.rsa.privateKey, 'rsa-1', { exp: nowS() + 2, scope: 'subscribe' });
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      const c = wsClient(run.wsUrl, token, resolve);
      c.subscribe({ query: SUBSCRIBE_EVENTS }, { next: () => {}, error: () => {}, complete: () => {} });
    });
    const e = await closed;
    expect(e.code).toBe(WsClose.unauthenticated);
    expect(e.reason).toContain('token expired');
  });

  it('an SSE subscription whose token expires ends with UNAUTHENTICATED (expired)', async () => {
    const token = await sign('RS256', keys.rsa.privateKey, 'rsa-1', { exp: nowS() + 2, scope: 'subscribe' });
    const first = await sse(run, SUBSCRIBE_EVENTS, token);
    expect(first.first.errors?.[0]?.extensions.code).toBe('UNAUTHENTICATED');
    expect(first.first.errors?.[0]?.extensions.details?.reason).toBe('expired');
  });
});
