/**
 * Resource limits and cross-site rules of the API, before and after authentication: credentials
 * checked before a body is read, rate limits (HTTP 429 + Retry-After, WebSocket operations),
 * the CSRF guard, the CORS allow-list, the WebSocket Origin check, message size, operations per
 * socket, sockets per identity, a subscriber that stops reading, and echoed input cut short.
 */
import { type Server, createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Client, createClient } from 'graphql-ws';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createRateLimits } from '../../src/graphql/plugins/rate-limits.ts';
import { type GraphQLServerOptions, WsClose } from '../../src/graphql/server.ts';
import { publicDetail } from '../../src/graphql/services.ts';
import type { EventLog } from '../../src/log/port.ts';
import { type Harness, PUBLISH, createEmbeddedHarness, sensorEvent } from '../helpers/graphql-harness.ts';

const TOPIC = 'events.iot.sensors';

interface Running {
  h: Harness<EventLog>;
  http: Server;
  port: number;
  wsUrl: string;
  close(): Promise<void>;
}

const running: Running[] = [];
afterEach(async () => {
  for (const r of running.splice(0)) await r.close();
});

async function start(options: GraphQLServerOptions & { maxEventBytes?: number; maxAliases?: number } = {}): Promise<Running> {
  const h = await createEmbeddedHarness(options);
  const http = createServer(h.server.handler);
  const closeWs = h.server.attach(http);
  await new Promise<void>((r) => http.listen(0, '127.0.0.1', r));
  const { port } = http.address() as AddressInfo;
  const r: Running = {
    h,
    http,
    port,
    wsUrl: `ws://127.0.0.1:${port}/graphql`,
    async close() {
      http.closeAllConnections();
      await closeWs();
      await new Promise<void>((res) => http.close(() => res()));
      await h.close();
    },
  };
  running.push(r);
  return r;
}

function client(url: string, token?: string, onClosed?: (e: { code: number; reason: string }) => void): Client {
  return createClient({
    url,
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    lazy: true,
    connectionParams: token ? { authorization: `Bearer ${token}` } : {},
    on: { closed: (e) => onClosed?.(e as { code: number; reason: string }) },
  });
}

/** A raw socket: resolves how the server answered the upgrade, or how it closed the socket. */
function rawSocket(url: string, opts: WebSocket.ClientOptions = {}): Promise<{ ws: WebSocket; opened: boolean; status?: number; close?: { code: number; reason: string } }> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, 'graphql-transport-ws', opts);
    ws.once('open', () => resolve({ ws, opened: true }));
    ws.once('unexpected-response', (_req, res) => resolve({ ws, opened: false, status: res.statusCode }));
    ws.once('error', () => {});
  });
}

function closed(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) => ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
}

describe('credentials before bodies', () => {
  it('a request without a valid token is refused before its body is read', async () => {
    const run = await start({ apiTokens: ['tok'] });
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(ctrl) {
          pulled++;
          ctrl.enqueue(new Uint8Array(1024 * 1024));
          if (pulled >= 25) ctrl.close();
        },
      },
      { highWaterMark: 0 },
    );
    const res = await run.h.server.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
      duplex: 'half',
    } as RequestInit);
    expect(res.status).toBe(401);
    expect(pulled).toBe(0);
  });
});

/** POSTs `chunks` to the server over HTTP: with a Content-Length when `chunked` is false, else with chunked transfer encoding. */
function postRaw(port: number, chunks: string[], chunked: boolean): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const total = chunks.reduce((n, c) => n + Buffer.byteLength(c), 0);
    const req = request(
      { host: '127.0.0.1', port, path: '/graphql', method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json', ...(chunked ? {} : { 'content-length': String(total) }) } },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('error', reject);
    for (const c of chunks) req.write(c);
    req.end();
  });
}

describe('request body size (maxRequestBodyBytes)', () => {
  const publish = (pad: number) => JSON.stringify({ query: PUBLISH, variables: { input: sensorEvent({ payload: { value: 1, note: 'x'.repeat(pad) } }) } });

  it('a body within the limit is served, with a Content-Length and chunked', async () => {
    const run = await start({ maxRequestBodyBytes: 4096 });
    const body = publish(100);
    for (const chunked of [false, true]) {
      const res = await postRaw(run.port, [body.slice(0, 50), body.slice(50)], chunked);
      expect(res.status, res.body).toBe(200);
      expect(JSON.parse(res.body).data.publishEvent.status).toBe('ACCEPTED');
    }
    expect(await run.h.records(TOPIC)).toHaveLength(2);
  });

  it('a Content-Length over the limit is refused 413 before the body is parsed, and a chunked body once it passes the limit', async () => {
    const run = await start({ maxRequestBodyBytes: 4096 });
    const body = publish(5000);
    for (const chunked of [false, true]) {
      const res = await postRaw(run.port, [body.slice(0, 1000), body.slice(1000, 3000), body.slice(3000)], chunked);
      expect(res.status, `chunked=${chunked}: ${res.body}`).toBe(413);
      expect(JSON.parse(res.body).errors[0].extensions.code).toBe('PAYLOAD_TOO_LARGE');
    }
    expect(await run.h.records(TOPIC)).toHaveLength(0);
  });
});

describe('rate limits', () => {
  it('over HTTP: the request past the per-identity budget gets 429 RATE_LIMITED with Retry-After, and appends nothing', async () => {
    const run = await start({ apiTokens: ['tok'], rateLimits: createRateLimits({ perIdentity: 3, perAddress: 0, windowMs: 60_000 }) });
    const auth = { authorization: 'Bearer tok' };
    for (let i = 0; i < 3; i++) expect((await run.h.gql(PUBLISH, { input: sensorEvent() }, auth)).status).toBe(200);
    const before = (await run.h.records(TOPIC)).length;
    const r = await run.h.gql(PUBLISH, { input: sensorEvent() }, auth);
    expect(r.status).toBe(429);
    expect(r.body.errors?.[0]?.extensions.code).toBe('RATE_LIMITED');
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(r.body.errors?.[0]?.extensions.details?.retryAfterSeconds).toBe(Number(r.headers.get('retry-after')));
    expect((await run.h.records(TOPIC)).length).toBe(before);
  });

  it('over graphql-ws: each operation takes a point; the one past the budget fails RATE_LIMITED', async () => {
    const run = await start({ rateLimits: createRateLimits({ perIdentity: 0, perAddress: 2, windowMs: 60_000 }) });
    const c = client(run.wsUrl);
    try {
      const q = { query: '{ topics { name } }' };
      expect((await c.iterate(q).next()).value.errors).toBeUndefined();
      expect((await c.iterate(q).next()).value.errors).toBeUndefined();
      const third = await c.iterate(q).next().catch((e: unknown) => ({ value: { errors: e as { extensions: { code: string } }[] } }));
      expect((third.value.errors as { extensions: { code: string } }[])[0]!.extensions.code).toBe('RATE_LIMITED');
    } finally {
      await c.dispose();
    }
    const metrics = await run.h.services.metrics!.registry.metrics();
    expect(metrics).toMatch(/keyflow_requests_rejected_total\{code="RATE_LIMITED",transport="ws"\} 1/);
  });
});

describe('cross-site requests', () => {
  it.each(['application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'text/plain'])('a %s POST is refused with 415 and runs nothing', async (type) => {
    const run = await start();
    const before = (await run.h.records(TOPIC)).length;
    const body = type.startsWith('application/x-www')
      ? `query=${encodeURIComponent('mutation { publishEvent(input: {eventType: "iot.sensor", deviceId: "d", timestamp: "2024-01-15T10:30:00Z", payload: {}}) { status } }')}`
      : JSON.stringify({ query: 'mutation { publishEvent(input: {eventType: "iot.sensor", deviceId: "d", timestamp: "2024-01-15T10:30:00Z", payload: {}}) { status } }' });
    const res = await run.h.server.yoga.fetch('http://yoga/graphql', { method: 'POST', headers: { 'content-type': type, origin: 'https://evil.example' }, body });
    expect(res.status).toBe(415);
    const json = (await res.json()) as { errors: { extensions: { code: string } }[] };
    expect(json.errors[0]!.extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
    expect((await run.h.records(TOPIC)).length).toBe(before);
  });

  it('the CORS preflight answers only allowed origins, and never with credentials for *', async () => {
    const preflight = (r: Running, origin: string) =>
      r.h.server.yoga.fetch('http://yoga/graphql', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type,authorization' },
      });
    const closedRun = await start();
    const evil = await preflight(closedRun, 'https://evil.example');
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    expect(evil.headers.get('access-control-allow-credentials')).toBeNull();

    const listed = await start({ cors: { origins: ['https://app.example'], credentials: true } });
    const ok = await preflight(listed, 'https://app.example');
    expect(ok.headers.get('access-control-allow-origin')).toBe('https://app.example');
    expect(ok.headers.get('access-control-allow-credentials')).toBe('true');
    expect((await preflight(listed, 'https://evil.example')).headers.get('access-control-allow-origin')).toBeNull();

    const any = await start({ cors: { origins: ['*'], credentials: true } });
    const star = await preflight(any, 'https://evil.example');
    expect(star.headers.get('access-control-allow-origin')).not.toBeNull();
    expect(star.headers.get('access-control-allow-credentials')).toBeNull();
  });

  it('a WebSocket from a foreign Origin is refused with 403; the same origin, an allowed one and no Origin are served', async () => {
    const run = await start({ cors: { origins: ['https://app.example'] } });
    const evil = await rawSocket(run.wsUrl, { origin: 'https://evil.example' });
    expect(evil).toMatchObject({ opened: false, status: 403 });
    for (const origin of [`http://127.0.0.1:${run.port}`, 'https://app.example', undefined]) {
      const s = await rawSocket(run.wsUrl, origin ? { origin } : {});
      expect(s.opened).toBe(true);
      s.ws.close();
    }
  });
});

describe('WebSocket limits', () => {
  it('a message over maxPayloadBytes (a 2 MB connection_init) closes the socket with 1009 before any auth', async () => {
    const run = await start({ apiTokens: ['tok'], ws: { maxPayloadBytes: 64 * 1024 } });
    const s = await rawSocket(run.wsUrl);
    const done = closed(s.ws);
    s.ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: 'Bearer tok', pad: 'x'.repeat(2_000_000) } }));
    expect((await done).code).toBe(1009);
  });

  it('one socket runs at most maxOperations operations; the next is refused RATE_LIMITED and the socket stays usable', async () => {
    const run = await start({ ws: { maxOperations: 3 } });
    const c = client(run.wsUrl);
    const unsubs: (() => void)[] = [];
    try {
      for (let i = 0; i < 3; i++) {
        unsubs.push(c.subscribe({ query: `subscription { events(topic: "${TOPIC}") { eventId } }` }, { next: () => {}, error: () => {}, complete: () => {} }));
      }
      await expect
        .poll(async () => (await run.h.services.metrics!.registry.getSingleMetricAsString('keyflow_subscriptions_active')).includes('keyflow_subscriptions_active 3'), { timeout: 5000 })
        .toBe(true);
      const fourth = await new Promise<{ extensions: { code: string; details?: Record<string, unknown> } }[]>((resolve) => {
        c.subscribe({ query: `subscription { events(topic: "${TOPIC}") { eventId } }` }, { next: () => {}, error: (e) => resolve(e as never), complete: () => {} });
      });
      expect(fourth[0]!.extensions.code).toBe('RATE_LIMITED');
      expect(fourth[0]!.extensions.details?.limit).toBe(3);
      unsubs.pop()!();
      await expect
        .poll(async () => (await run.h.services.metrics!.registry.getSingleMetricAsString('keyflow_subscriptions_active')).includes('keyflow_subscriptions_active 2'), { timeout: 5000 })
        .toBe(true);
      expect((await c.iterate({ query: '{ topics { name } }' }).next()).value.errors).toBeUndefined();
    } finally {
      for (const u of unsubs) u();
      await c.dispose();
    }
  });

  it('one identity holds at most maxConnectionsPerIdentity sockets; the next closes with 4429', async () => {
    const run = await start({ apiTokens: ['tok'], ws: { maxConnectionsPerIdentity: 2 } });
    // Lazy clients hold their socket while a subscription is open.
    const clients = [client(run.wsUrl, 'tok'), client(run.wsUrl, 'tok')];
    const sub = { query: `subscription { events(topic: "${TOPIC}") { eventId } }` };
    try {
      for (const c of clients) c.subscribe(sub, { next: () => {}, error: () => {}, complete: () => {} });
      await expect
        .poll(async () => (await run.h.services.metrics!.registry.getSingleMetricAsString('keyflow_websocket_connections')).includes('keyflow_websocket_connections 2'), { timeout: 5000 })
        .toBe(true);
      let third: { code: number; reason: string } | undefined;
      const c3 = client(run.wsUrl, 'tok', (e) => {
        third = e;
      });
      await c3
        .iterate({ query: '{ topics { name } }' })
        .next()
        .catch(() => {});
      await c3.dispose();
      expect(third?.code).toBe(WsClose.tooManyConnections);
      expect(third?.reason).toMatch(/^RATE_LIMITED/);
      // Closing one frees its place.
      await clients.pop()!.dispose();
      await expect
        .poll(async () => {
          const c = client(run.wsUrl, 'tok');
          try {
            return (await c.iterate({ query: '{ topics { name } }' }).next()).value.errors === undefined;
          } catch {
            return false;
          } finally {
            await c.dispose();
          }
        })
        .toBe(true);
    } finally {
      for (const c of clients) await c.dispose();
    }
  });

  it('a subscriber that stops reading is dropped once its unsent bytes pass maxBufferedBytes; the others keep their stream', async () => {
    const run = await start({ ws: { maxBufferedBytes: 256 * 1024 }, maxEventBytes: 1024 * 1024 });
    const slow = await rawSocket(run.wsUrl);
    slow.ws.send(JSON.stringify({ type: 'connection_init' }));
    await new Promise<void>((r) => slow.ws.once('message', () => r()));
    for (const id of ['1']) {
      slow.ws.send(JSON.stringify({ id, type: 'subscribe', payload: { query: `subscription { events(topic: "${TOPIC}") { eventId payload } }` } }));
    }
    let healthyGot = 0;
    const healthy = client(run.wsUrl);
    healthy.subscribe({ query: `subscription { events(topic: "${TOPIC}") { eventId } }` }, { next: () => void healthyGot++, error: () => {}, complete: () => {} });
    const gauge = async (name: string) => (await run.h.services.metrics!.registry.getSingleMetricAsString(name)).split('\n').find((l) => l.startsWith(name))!;
    await expect.poll(() => gauge('keyflow_subscriptions_active'), { timeout: 5000 }).toBe('keyflow_subscriptions_active 2');
    // Stop reading: the kernel buffers fill, then the server's send buffer grows. (The paused
    // client does not see the server drop it either, so the server's gauges tell.)
    (slow.ws as unknown as { _socket: { pause(): void } })._socket.pause();
    const big = 'x'.repeat(200_000);
    let sent = 0;
    while ((await gauge('keyflow_websocket_connections')) !== 'keyflow_websocket_connections 1' && sent < 100) {
      await run.h.gql(PUBLISH, { input: sensorEvent({ payload: { value: 1, blob: big } }) });
      sent++;
      // Gives the sweep (once a second) its turn without tying the count of events to the kernel's buffer sizes.
      if (sent > 20) await new Promise((r) => setTimeout(r, 50));
    }
    expect(await gauge('keyflow_websocket_connections')).toBe('keyflow_websocket_connections 1');
    expect(await gauge('keyflow_subscriptions_active')).toBe('keyflow_subscriptions_active 1');
    const before = healthyGot;
    await run.h.gql(PUBLISH, { input: sensorEvent() });
    await expect.poll(() => healthyGot, { timeout: 5000 }).toBeGreaterThan(before);
    slow.ws.terminate();
    await healthy.dispose();
  });
});

describe('rejected requests are counted', () => {
  it('by contract code and transport: 401, 400, QUERY_TOO_COMPLEX over HTTP; refused and accepted WebSocket operations', async () => {
    const run = await start({ apiTokens: ['tok'], maxAliases: 2 });
    const metrics = () => run.h.services.metrics!.registry.metrics();
    expect((await run.h.gql('{ topics { name } }')).status).toBe(401);
    expect((await run.h.gql('{ nope }', undefined, { authorization: 'Bearer tok' })).status).toBe(400);
    expect((await run.h.gql('{ a: topics { name } b: topics { name } c: topics { name } }', undefined, { authorization: 'Bearer tok' })).body.errors?.[0]?.extensions.code).toBe(
      'QUERY_TOO_COMPLEX',
    );
    const c = client(run.wsUrl, 'tok');
    try {
      expect((await c.iterate({ query: '{ topics { name } }' }).next()).value.errors).toBeUndefined();
      await c.iterate({ query: '{ nope }' }).next().catch(() => {});
    } finally {
      await c.dispose();
    }
    const text = await metrics();
    expect(text).toMatch(/keyflow_requests_rejected_total\{code="UNAUTHENTICATED",transport="http"\} 1/);
    expect(text).toMatch(/keyflow_requests_rejected_total\{code="SCHEMA_VALIDATION_FAILED",transport="http"\} 1/);
    expect(text).toMatch(/keyflow_requests_rejected_total\{code="QUERY_TOO_COMPLEX",transport="http"\} 1/);
    expect(text).toMatch(/keyflow_websocket_operations_total\{outcome="accepted"\} 1/);
    expect(text).toMatch(/keyflow_websocket_operations_total\{outcome="invalid"\} 1/);
  });
});

describe('nothing internal leaks', () => {
  it('an error echoing a 1 MB argument returns it cut short', async () => {
    const run = await start();
    const topic = 't'.repeat(1_000_000);
    const r = await run.h.gql('query($t: String!) { latestEvents(topic: $t) { eventId } }', { t: topic });
    expect(r.body.errors?.[0]?.extensions.code).toBe('UNKNOWN_TOPIC');
    expect(JSON.stringify(r.body).length).toBeLessThan(4096);
  });

  it('health details show no absolute path', () => {
    expect(publicDetail("cannot open '/var/lib/keyflow/data/log/events.iot.sensors/0' (EACCES)")).toBe("cannot open '…/0' (EACCES)");
    expect(publicDetail('redis://10.0.0.1:6379/0 is down')).toBe('redis://10.0.0.1:6379/0 is down');
  });
});
