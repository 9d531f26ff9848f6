import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import { createEventTypeRegistry } from '../../src/model/event-types.ts';
import { parseEventInput } from '../../src/model/event.ts';
import {
  GENERATED_EVENT_TYPES,
  corruptEvent,
  createEventGenerator,
  createLatencyHistogram,
  createRandom,
  formatStatsTable,
  runProducer,
} from '../../src/loadgen/index.ts';
import { parseProduceArgs, runProduceCli } from '../../src/cli/produce.ts';

/** The options `keyflow produce <argv>` runs with (fails the test on a help request). */
function opts(argv: string[]) {
  const parsed = parseProduceArgs(argv);
  if (parsed.help) throw new Error('unexpected help request');
  return parsed;
}

function invalidConfig(fn: () => unknown): KeyflowError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(KeyflowError);
    expect((e as KeyflowError).code).toBe(ErrorCode.INVALID_CONFIG);
    return e as KeyflowError;
  }
  throw new Error('expected INVALID_CONFIG');
}

describe('parseProduceArgs', () => {
  it('reads every flag, in both --flag value and --flag=value forms', () => {
    const o = opts([
      '--rate',
      '250',
      '--duration=30s',
      '--batch',
      '25',
      '--types',
      'iot.sensor,transaction:3',
      '--url',
      'http://gw:4000/graphql',
      '--keys',
      '7',
      '--late-fraction',
      '0.2',
      '--max-lateness',
      '3s',
      '--invalid-fraction=0.05',
      '--token',
      'secret',
      '--seed',
      '42',
      '--concurrency',
      '4',
      '--timeout',
      '500ms',
      '--json',
      '--quiet',
    ]);
    expect(o).toMatchObject({
      rate: 250,
      durationMs: 30_000,
      count: null,
      batch: 25,
      types: ['iot.sensor', 'transaction'],
      weights: [1, 3],
      url: 'http://gw:4000/graphql',
      keys: 7,
      lateFraction: 0.2,
      maxLatenessMs: 3000,
      invalidFraction: 0.05,
      token: 'secret',
      seed: 42,
      concurrency: 4,
      requestTimeoutMs: 500,
      json: true,
      progress: false,
      summary: true,
      handleSigint: true,
    });
  });

  it('has defaults, reads a bare duration as seconds, and a count alone lifts the time limit', () => {
    const d = opts([]);
    expect(d).toMatchObject({ rate: 100, durationMs: 60_000, batch: 10, keys: 100, url: 'http://localhost:4000/graphql' });
    expect(d.types).toEqual([...GENERATED_EVENT_TYPES]);
    expect(opts(['--duration', '2']).durationMs).toBe(2000);
    expect(opts(['--duration', '1.5']).durationMs).toBe(1500);
    expect(opts(['--duration', '2m']).durationMs).toBe(120_000);
    expect(opts(['--count', '500'])).toMatchObject({ count: 500, durationMs: null });
    expect(opts(['--count', '500', '--duration', '5s'])).toMatchObject({ count: 500, durationMs: 5000 });
    expect(parseProduceArgs(['--help']).help).toBe(true);
    expect(parseProduceArgs(['-h']).help).toBe(true);
  });

  it.each([
    [['--rate', 'fast'], '--rate'],
    [['--rate', '-5'], '--rate'],
    [['--rate'], '--rate'],
    [['--rate', '--batch', '2'], '--rate'],
    [['--batch', '0'], '--batch'],
    [['--batch', '2.5'], '--batch'],
    [['--duration', '0'], '--duration'],
    [['--duration', 'soon'], '--duration'],
    [['--duration', '1.5m'], '--duration'],
    [['--duration', '400d'], '--duration'],
    [['--count', '-1'], '--count'],
    [['--types', 'iot.sensor,weather'], '--types'],
    [['--types', ','], '--types'],
    [['--types', 'clickstream:0'], '--types'],
    [['--types', 'clickstream,clickstream'], '--types'],
    [['--keys', '0'], '--keys'],
    [['--late-fraction', '1.5'], '--late-fraction'],
    [['--invalid-fraction', 'x'], '--invalid-fraction'],
    [['--url', 'not a url'], '--url'],
    [['--url', 'ftp://host/graphql'], '--url'],
    [['--seed', '1.5'], '--seed'],
    [['--concurrency', '0'], '--concurrency'],
    [['--token', ''], '--token'],
    [['--json=yes'], '--json'],
    [['--speed', '3'], '--speed'],
    [['-x'], '-x'],
    [['--quiet=no'], '--quiet'],
    [['--timeout', '0'], '--timeout'],
  ])('rejects %j with INVALID_CONFIG naming %s', (argv, flag) => {
    const e = invalidConfig(() => parseProduceArgs(argv));
    expect(e.message).toContain(flag);
    expect(e.details?.flag).toBe(flag);
  });

  it('rejects a positional argument', () => {
    const e = invalidConfig(() => parseProduceArgs(['fast']));
    expect(e.message).toContain('"fast"');
    expect(e.details?.argument).toBe('fast');
  });
});

describe('createEventGenerator', () => {
  const registry = createEventTypeRegistry();

  it('makes valid envelopes of the requested types with well-formed payloads', () => {
    // Feature: keyflow, Property 1: Schema validation consistency — generated events pass the envelope schema
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 0xffffffff }),
        fc.subarray([...GENERATED_EVENT_TYPES], { minLength: 1 }),
        fc.integer({ min: 1, max: 50 }),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (seed, types, keys, lateFraction) => {
          const now = 1_700_000_000_000;
          const gen = createEventGenerator({ seed, types, keys, lateFraction, maxLatenessMs: 4000, now: () => now });
          const ids = new Set<string>();
          for (let i = 0; i < 40; i++) {
            const input = gen.next();
            const e = parseEventInput(input, () => 'assigned');
            expect(types).toContain(e.eventType);
            expect(registry.resolve(e.eventType)).toBeDefined();
            expect(e.eventId).not.toBe('assigned');
            ids.add(e.eventId);
            expect(e.timestamp).toBeLessThanOrEqual(now);
            expect(e.timestamp).toBeGreaterThanOrEqual(now - 4000);
            if (e.eventType === 'iot.sensor') {
              expect(e.deviceId).toMatch(/^sensor-\d+$/);
              expect(Number(e.deviceId!.slice(7))).toBeLessThan(keys);
              expect(Number.isFinite(e.payload.value)).toBe(true);
              expect(e.payload.unit).toBe('celsius');
              expect(e.payload.battery).toBeGreaterThan(0);
              expect(e.payload.battery).toBeLessThanOrEqual(100);
            } else {
              expect(e.deviceId).toBeNull();
              expect(e.userId).toMatch(/^user-\d+$/);
              expect(Number(e.userId!.slice(5))).toBeLessThan(keys);
              if (e.eventType === 'clickstream') {
                expect(typeof e.payload.page).toBe('string');
                expect(typeof e.payload.action).toBe('string');
                expect(typeof e.payload.sessionId).toBe('string');
              } else {
                expect(Number.isFinite(e.payload.amount)).toBe(true);
                expect(e.payload.amount).toBeGreaterThan(0);
                expect(['USD', 'EUR', 'GBP', 'JPY']).toContain(e.payload.currency);
                expect(typeof e.payload.merchant).toBe('string');
              }
            }
          }
          expect(ids.size).toBe(40);
          expect(gen.generated).toBe(40);
          if (lateFraction === 0) expect(gen.late).toBe(0);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('makes events the gateway must reject when corrupted', () => {
    // Feature: keyflow, Property 1: Schema validation consistency — corrupted events fail validation or routing
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffffffff }), (seed) => {
        const gen = createEventGenerator({ seed });
        const rand = createRandom(seed);
        for (let i = 0; i < 10; i++) {
          const bad = corruptEvent(gen.next(), rand);
          let rejected = false;
          try {
            const e = parseEventInput(bad, () => 'x');
            rejected = registry.resolve(e.eventType) === undefined;
          } catch (err) {
            rejected = err instanceof KeyflowError && err.code === ErrorCode.SCHEMA_VALIDATION_FAILED;
          }
          expect(rejected).toBe(true);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('is reproducible: the same seed and clock give the same events, another seed other eventIds', () => {
    const now = () => 1_700_000_000_000;
    const a = createEventGenerator({ seed: 99, keys: 10, now, lateFraction: 0.3 });
    const b = createEventGenerator({ seed: 99, keys: 10, now, lateFraction: 0.3 });
    const c = createEventGenerator({ seed: 100, keys: 10, now });
    const as = Array.from({ length: 200 }, () => a.next());
    expect(Array.from({ length: 200 }, () => b.next())).toEqual(as);
    const cs = new Set(Array.from({ length: 200 }, () => c.next().eventId));
    expect(as.some((e) => cs.has(e.eventId!))).toBe(false);
    expect(a.seed).toBe(99);
  });

  it('keeps sensor readings of one device close together (drift, not noise)', () => {
    const gen = createEventGenerator({ seed: 5, types: ['iot.sensor'], keys: 1, now: () => 0 });
    const values = Array.from({ length: 500 }, () => gen.next().payload.value as number);
    let bigJumps = 0;
    for (let i = 1; i < values.length; i++) if (Math.abs(values[i]! - values[i - 1]!) > 3) bigJumps++;
    expect(bigJumps).toBeLessThan(5); // only the rare deliberate spikes
    expect(Math.min(...values)).toBeGreaterThan(5);
    expect(Math.max(...values)).toBeLessThan(50);
  });
});

describe('createLatencyHistogram', () => {
  it('answers percentiles within a few percent', () => {
    const h = createLatencyHistogram();
    for (let i = 1; i <= 1000; i++) h.record(i);
    const s = h.summary();
    expect(s.count).toBe(1000);
    expect(s.p50).toBeGreaterThan(480);
    expect(s.p50).toBeLessThan(520);
    expect(s.p99).toBeGreaterThan(970);
    expect(s.p99).toBeLessThanOrEqual(1000);
    expect(s.max).toBe(1000);
    h.reset();
    expect(h.summary().p50).toBe(0);
  });
});

// ---------------------------------------------------------------- against a fake gateway

interface FakeGateway {
  url: string;
  server: Server;
  received: number;
  accepted: number;
  duplicates: number;
  rejectedByCode: Record<string, number>;
  operations: string[];
  authorization: (string | undefined)[];
  maxConcurrent: number;
}

interface FakeOptions {
  delayMs?: number;
  /** Answer every request with HTTP 500 and a plain-text body. */
  broken?: boolean;
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

/** A node:http server that answers the two publish mutations as the contract says. */
async function startFakeGateway(opts: FakeOptions = {}): Promise<FakeGateway> {
  const registry = createEventTypeRegistry();
  const seen = new Set<string>();
  let concurrent = 0;
  const g: FakeGateway = {
    url: '',
    server: undefined as unknown as Server,
    received: 0,
    accepted: 0,
    duplicates: 0,
    rejectedByCode: {},
    operations: [],
    authorization: [],
    maxConcurrent: 0,
  };
  const respond = (res: ServerResponse, body: unknown) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    concurrent++;
    g.maxConcurrent = Math.max(g.maxConcurrent, concurrent);
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (opts.delayMs) await new Promise((r) => setTimeout(r, opts.delayMs));
    concurrent--;
    g.authorization.push(req.headers.authorization);
    if (opts.broken) {
      res.writeHead(500, { 'content-type': 'text/plain' });
      res.end('upstream exploded');
      return;
    }
    const { query, variables } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      query: string;
      variables: { input?: unknown; inputs?: unknown[] };
    };
    const many = query.includes('publishEvents');
    g.operations.push(many ? 'publishEvents' : 'publishEvent');
    const inputs = many ? variables.inputs! : [variables.input];
    g.received += inputs.length;
    // All or nothing, as the contract says for publishEvents.
    let code: string | null = null;
    const envelopes = [];
    for (const input of inputs) {
      try {
        const e = parseEventInput(input, () => crypto.randomUUID());
        if (!registry.resolve(e.eventType)) code ??= 'UNKNOWN_EVENT_TYPE';
        envelopes.push(e);
      } catch {
        code ??= 'SCHEMA_VALIDATION_FAILED';
      }
    }
    if (code) {
      g.rejectedByCode[code] = (g.rejectedByCode[code] ?? 0) + inputs.length;
      respond(res, { data: null, errors: [{ message: 'rejected', extensions: { code, requestId: 'r', timestamp: 't' } }] });
      return;
    }
    const receipts = envelopes.map((e) => {
      const dup = seen.has(e.eventId);
      seen.add(e.eventId);
      if (dup) g.duplicates++;
      else g.accepted++;
      return { status: dup ? 'DUPLICATE' : 'ACCEPTED' };
    });
    respond(res, { data: many ? { publishEvents: receipts } : { publishEvent: receipts[0] } });
  };
  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  g.server = server;
  g.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
  return g;
}

describe('runProducer against a fake gateway', () => {
  it('counts accepted events and rejected requests by code exactly as the server saw them', async () => {
    const gw = await startFakeGateway();
    const stats = await runProducer({ url: gw.url, count: 300, batch: 10, rate: 0, seed: 7, invalidFraction: 0.05 });
    expect(stats.stoppedBy).toBe('count');
    expect(stats.eventsSent).toBe(300);
    expect(gw.received).toBe(300);
    expect(stats.requests).toBe(30);
    expect(stats.invalidSent).toBeGreaterThan(0);
    expect(stats.accepted).toBe(gw.accepted);
    expect(stats.duplicates).toBe(0);
    expect(stats.errorsByCode).toEqual(gw.rejectedByCode);
    expect(stats.errors).toBeGreaterThan(0);
    expect(stats.accepted + stats.errors).toBe(300);
    expect(stats.failedRequests * 10).toBe(stats.errors);
    expect(stats.latencyMs.count).toBe(30);
    expect(gw.operations.every((op) => op === 'publishEvents')).toBe(true);
  });

  it('uses publishEvent for batch 1, sends the bearer token, and reports a rerun of a seed as duplicates', async () => {
    const gw = await startFakeGateway();
    const first = await runProducer({ url: gw.url, count: 25, batch: 1, rate: 0, seed: 11, token: 'tok' });
    expect(first).toMatchObject({ eventsSent: 25, accepted: 25, duplicates: 0, errors: 0, requests: 25 });
    expect(gw.operations).toEqual(Array(25).fill('publishEvent'));
    expect(new Set(gw.authorization)).toEqual(new Set(['Bearer tok']));
    const again = await runProducer({ url: gw.url, count: 25, batch: 5, rate: 0, seed: 11 });
    expect(again).toMatchObject({ eventsSent: 25, accepted: 0, duplicates: 25, errors: 0 });
    expect(again.achievedRate).toBeGreaterThan(0);
  });

  it('paces to the target rate: never more than rate × duration plus one batch', async () => {
    const gw = await startFakeGateway();
    const stats = await runProducer({ url: gw.url, rate: 200, durationMs: 1000, batch: 5 });
    expect(stats.stoppedBy).toBe('duration');
    expect(stats.eventsSent).toBeLessThanOrEqual(205);
    // Loose: even a slow CI machine sends a good part of the target.
    expect(stats.eventsSent).toBeGreaterThan(50);
    expect(stats.accepted).toBe(stats.eventsSent);
    expect(gw.received).toBe(stats.eventsSent);
  });

  it('prints progress lines to stderr while running and counts out-of-order events', async () => {
    const gw = await startFakeGateway();
    let err = '';
    let out = '';
    const stats = await runProducer(
      { url: gw.url, rate: 500, durationMs: 400, batch: 5, progress: true, progressIntervalMs: 50, lateFraction: 0.5, summary: true },
      { stderr: (t) => (err += t), stdout: (t) => (out += t) },
    );
    const lines = err.trim().split('\n');
    expect(lines.length).toBeGreaterThan(0);
    expect(lines[0]).toMatch(/^\[produce\] \d+s sent=\d+ acked=\d+ errors=0 rate=[\d.]+\/s p50=[\d.]+ms p99=[\d.]+ms inflight=\d+$/);
    expect(stats.lateSent).toBeGreaterThan(0);
    expect(stats.lateSent).toBeLessThan(stats.eventsSent);
    expect(out).toContain('late (out of order)');
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    const gw = await startFakeGateway({ delayMs: 20 });
    const stats = await runProducer({ url: gw.url, rate: 0, count: 60, batch: 2, concurrency: 3 });
    expect(stats.accepted).toBe(60);
    expect(gw.maxConcurrent).toBeLessThanOrEqual(3);
  });

  it('stops gracefully when the signal aborts and accounts for every request in flight', async () => {
    const gw = await startFakeGateway({ delayMs: 5 });
    const ac = new AbortController();
    const run = runProducer({ url: gw.url, rate: 500, durationMs: 60_000, batch: 5, signal: ac.signal });
    setTimeout(() => ac.abort(), 300);
    const stats = await run;
    expect(stats.stoppedBy).toBe('signal');
    expect(stats.eventsSent).toBeGreaterThan(0);
    expect(stats.accepted + stats.errors).toBe(stats.eventsSent);
    expect(gw.received).toBe(stats.eventsSent);
  });

  it('classifies HTTP failures and unreachable servers', async () => {
    const broken = await startFakeGateway({ broken: true });
    const s500 = await runProducer({ url: broken.url, count: 20, batch: 10, rate: 0 });
    expect(s500.errorsByCode).toEqual({ HTTP_500: 20 });
    expect(s500.latencyMs.count).toBe(2);

    const gone = await startFakeGateway();
    await new Promise((r) => gone.server.close(r));
    const sNet = await runProducer({ url: gone.url, count: 6, batch: 3, rate: 0 });
    expect(sNet).toMatchObject({ eventsSent: 6, errors: 6, failedRequests: 2, errorsByCode: { NETWORK: 6 } });
  });

  it('refuses a run that could never stop', async () => {
    await expect(runProducer({ durationMs: null })).rejects.toMatchObject({ code: ErrorCode.INVALID_CONFIG });
  });
});

describe('runProduceCli', () => {
  it('prints JSON statistics with --json and exits 0', async () => {
    const gw = await startFakeGateway();
    let out = '';
    let err = '';
    const code = await runProduceCli(['--url', gw.url, '--count', '40', '--rate', '0', '--batch', '8', '--json'], {
      stdout: (t) => (out += t),
      stderr: (t) => (err += t),
    });
    expect(code).toBe(0);
    const stats = JSON.parse(out) as { eventsSent: number; accepted: number; latencyMs: { p99: number } };
    expect(stats.eventsSent).toBe(40);
    expect(stats.accepted).toBe(40);
    expect(typeof stats.latencyMs.p99).toBe('number');
    expect(err).not.toContain('Error');
  });

  it('prints a table, exits 1 when every request failed and 2 on a bad flag', async () => {
    const gone = await startFakeGateway();
    await new Promise((r) => gone.server.close(r));
    let out = '';
    expect(await runProduceCli(['--url', gone.url, '--count', '3', '--quiet'], { stdout: (t) => (out += t) })).toBe(1);
    expect(out).toContain('events sent');
    expect(out).toContain('NETWORK');
    let err = '';
    expect(await runProduceCli(['--rate', 'lots'], { stderr: (t) => (err += t) })).toBe(2);
    expect(err).toContain('--rate');
    expect(err).toContain('Usage: keyflow produce');
    let help = '';
    expect(await runProduceCli(['--help'], { stdout: (t) => (help += t) })).toBe(0);
    expect(help).toContain('--invalid-fraction');
  });

  it('formats a table with every error code', () => {
    const text = formatStatsTable({
      seed: 1,
      url: 'http://x/graphql',
      targetRate: 10,
      batch: 1,
      durationMs: 1000,
      stoppedBy: 'duration',
      requests: 10,
      failedRequests: 2,
      eventsSent: 10,
      accepted: 8,
      duplicates: 0,
      errors: 2,
      errorsByCode: { RATE_LIMITED: 2 },
      invalidSent: 0,
      lateSent: 0,
      sendRate: 10,
      achievedRate: 8,
      latencyMs: { count: 10, mean: 1, p50: 1, p95: 2, p99: 3, max: 3 },
    });
    expect(text).toContain('RATE_LIMITED');
    expect(text).toContain('p95 2.00 ms');
  });
});
