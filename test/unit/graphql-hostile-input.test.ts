/**
 * Hostile input through the GraphQL API (in-process, over the real embedded file log): each is
 * refused with its stable code and field path, or kept exactly — never an INTERNAL error, never
 * silently altered — and a refused publish appends nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventLog } from '../../src/log/port.ts';
import { decodeEnvelope } from '../../src/model/event.ts';
import { DEFAULT_MAX_FUTURE_SKEW_MS, MAX_JSON_DEPTH } from '../../src/model/index.ts';
import { type GqlResponse, type Harness, PUBLISH, PUBLISH_MANY, createEmbeddedHarness, sensorEvent } from '../helpers/graphql-harness.ts';

let h: Harness<EventLog>;
beforeAll(async () => {
  h = await createEmbeddedHarness({ feedBus: false });
});
afterAll(async () => {
  await h.close();
});

async function recordCount(): Promise<number> {
  let n = 0;
  for (const t of h.services.registry.all()) for (const x of await h.log.endOffsets(t.topic)) n += x;
  return n;
}

/** Runs a request that must be refused; checks it appended nothing and returns its one error. */
async function refused(run: () => Promise<GqlResponse>) {
  const before = await recordCount();
  const res = await run();
  expect(res.status).toBeLessThan(500);
  expect(res.body.errors, JSON.stringify(res.body)).toHaveLength(1);
  expect(await recordCount()).toBe(before);
  const e = res.body.errors![0]!;
  expect(e.extensions.code).not.toBe('INTERNAL');
  return e;
}

function issuesOf(e: { extensions: { details?: Record<string, unknown> } }, index = 0): { path: string; message: string }[] {
  const errors = e.extensions.details?.errors as { index: number; issues?: { path: string; message: string }[] }[];
  return errors.find((x) => x.index === index)?.issues ?? [];
}

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = { a: v };
  return v;
}

const iso = (ms: number) => new Date(ms).toISOString();

describe('event time bound', () => {
  it('refuses an event later than now + KEYFLOW_MAX_FUTURE_SKEW_MS with TIMESTAMP_OUT_OF_RANGE, accepts one within it', async () => {
    for (const timestamp of ['9999-12-31T23:59:59.999Z', iso(Date.now() + DEFAULT_MAX_FUTURE_SKEW_MS + 60_000)]) {
      const e = await refused(() => h.gql(PUBLISH, { input: sensorEvent({ timestamp }) }));
      expect(e.extensions.code).toBe('TIMESTAMP_OUT_OF_RANGE');
      expect(issuesOf(e)).toEqual([{ path: 'timestamp', message: expect.stringContaining('KEYFLOW_MAX_FUTURE_SKEW_MS') }]);
    }
    const ok = await h.gql(PUBLISH, { input: sensorEvent({ timestamp: iso(Date.now() + DEFAULT_MAX_FUTURE_SKEW_MS - 60_000) }) });
    expect(ok.body.errors).toBeUndefined();
  });

  it('a batch with one far-future event publishes nothing and names its index', async () => {
    const e = await refused(() =>
      h.gql(PUBLISH_MANY, { inputs: [sensorEvent({ deviceId: 'victim' }), sensorEvent({ deviceId: 'attacker', timestamp: '9999-12-31T23:59:59.999Z' })] }),
    );
    expect(e.extensions.code).toBe('TIMESTAMP_OUT_OF_RANGE');
    expect(((e.extensions.details?.errors ?? []) as { index: number; code: string }[]).map((x) => [x.index, x.code])).toEqual([[1, 'TIMESTAMP_OUT_OF_RANGE']]);
  });

  it('accepts old event times (1969, year 0000)', async () => {
    for (const timestamp of ['1969-12-31T23:59:59.999Z', '0000-01-01T00:00:00.000Z']) {
      const res = await h.gql(PUBLISH, { input: sensorEvent({ timestamp, deviceId: 'old' }) });
      expect(res.body.errors).toBeUndefined();
      expect((res.body.data?.publishEvent as { timestamp: string } | undefined)?.timestamp).toBe(timestamp);
    }
  });
});

describe('value bound', () => {
  it('refuses value fields outside ±1e15 with VALUE_OUT_OF_RANGE and the path; a batch of mixed problems is SCHEMA_VALIDATION_FAILED', async () => {
    const e = await refused(() => h.gql(PUBLISH, { input: sensorEvent({ payload: { value: 1e308 } }) }));
    expect(e.extensions.code).toBe('VALUE_OUT_OF_RANGE');
    expect(issuesOf(e)).toEqual([{ path: 'payload.value', message: expect.stringContaining('1e+308') }]);
    const tx = await refused(() =>
      h.gql(PUBLISH, { input: { eventType: 'transaction', userId: 'u', timestamp: '2026-01-15T10:00:00Z', payload: { amount: -2e15 } } }),
    );
    expect(issuesOf(tx)).toEqual([{ path: 'payload.amount', message: expect.any(String) }]);
    // a literal too: GraphQL's Float reads 1e400 as Infinity, which JSON cannot carry
    const lit = await refused(() => h.gql(`mutation { publishEvent(input: { eventType: "iot.sensor", timestamp: "2026-01-15T10:00:00Z", deviceId: "d", payload: { value: 1e400 } }) { offset } }`));
    expect(lit.extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
    expect(issuesOf(lit)).toEqual([{ path: 'payload.value', message: expect.stringContaining('Infinity') }]);
    const mixed = await refused(() =>
      h.gql(PUBLISH_MANY, { inputs: [sensorEvent({ payload: { value: 1e16 } }), sensorEvent({ timestamp: '9999-01-01T00:00:00Z' })] }),
    );
    expect(mixed.extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
    expect(((mixed.extensions.details?.errors ?? []) as { code: string }[]).map((x) => x.code)).toEqual(['VALUE_OUT_OF_RANGE', 'TIMESTAMP_OUT_OF_RANGE']);
    const edge = await h.gql(PUBLISH, { input: sensorEvent({ payload: { value: -1e15 } }) });
    expect(edge.body.errors).toBeUndefined();
  });
});

describe('payload depth', () => {
  it('refuses 10,000 levels in variables with SCHEMA_VALIDATION_FAILED and the path, never INTERNAL', async () => {
    for (const field of ['payload', 'metadata'] as const) {
      // written by hand: JSON.stringify itself overflows on such a value
      const input = JSON.stringify(sensorEvent({ [field]: 'X' })).replace('"X"', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`);
      const e = await refused(() => h.post(`{"query":${JSON.stringify(PUBLISH)},"variables":{"input":${input}}}`));
      expect(e.extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
      expect(issuesOf(e)[0]!.path).toBe(`${field}${'.a'.repeat(MAX_JSON_DEPTH)}`);
    }
  });

  it(`accepts ${MAX_JSON_DEPTH} levels and refuses ${MAX_JSON_DEPTH + 1}, in variables and in a literal`, async () => {
    expect((await h.gql(PUBLISH, { input: sensorEvent({ payload: nested(MAX_JSON_DEPTH) as Record<string, unknown> }) })).body.errors).toBeUndefined();
    await refused(() => h.gql(PUBLISH, { input: sensorEvent({ payload: nested(MAX_JSON_DEPTH + 1) as Record<string, unknown> }) }));
    const literal = (depth: number) =>
      `mutation { publishEvent(input: { eventType: "iot.sensor", timestamp: "2026-01-15T10:00:00Z", deviceId: "d", payload: ${'{ a: '.repeat(depth)}1${' }'.repeat(depth)} }) { offset } }`;
    expect((await h.gql(literal(MAX_JSON_DEPTH))).body.errors).toBeUndefined();
    expect((await refused(() => h.gql(literal(MAX_JSON_DEPTH + 1)))).extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
    // far deeper literals exceed the document's token limit before anything recurses
    expect((await refused(() => h.gql(literal(10_000)))).extensions.code).toBe('QUERY_TOO_COMPLEX');
  });
});

describe('__proto__, constructor and prototype keys', () => {
  it('refuses __proto__ at any depth, in variables and in literals, by its path', async () => {
    const viaVars = await refused(() => h.post(`{"query":${JSON.stringify(PUBLISH)},"variables":{"input":${JSON.stringify(sensorEvent({ payload: 'X' })).replace('"X"', '{"ok":1,"list":[{"__proto__":{"value":1}}]}')}}}`));
    expect(viaVars.extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
    expect(issuesOf(viaVars)[0]!.path).toBe('payload.list.0.__proto__');
    const meta = await refused(() => h.post(`{"query":${JSON.stringify(PUBLISH)},"variables":{"input":${JSON.stringify(sensorEvent({ metadata: 'X' })).replace('"X"', '{"__proto__":null}')}}}`));
    expect(issuesOf(meta)[0]!.path).toBe('metadata.__proto__');
    const viaLiteral = await refused(() =>
      h.gql(`mutation { publishEvent(input: { eventType: "iot.sensor", timestamp: "2026-01-15T10:00:00Z", deviceId: "d", payload: { a: { __proto__: { polluted: true } } } }) { offset } }`),
    );
    expect(issuesOf(viaLiteral)[0]!.path).toBe('payload.a.__proto__');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('keeps constructor and prototype as data, through the log and back out of the API', async () => {
    const payload = { constructor: 'c', prototype: { constructor: 1, toString: 2 }, value: 3 };
    const viaVars = await h.gql(PUBLISH, { input: sensorEvent({ deviceId: 'ctor-vars', payload }) });
    const viaLiteral = await h.gql(
      `mutation { publishEvent(input: { eventType: "iot.sensor", timestamp: "2024-01-15T10:30:00.000Z", deviceId: "ctor-lit", payload: { constructor: "c", prototype: { constructor: 1, toString: 2 }, value: 3 } }) { offset partition } }`,
    );
    for (const res of [viaVars, viaLiteral]) {
      expect(res.body.errors).toBeUndefined();
      const r = res.body.data?.publishEvent as { partition: number; offset: string };
      const [rec] = await h.log.read('events.iot.sensors', r.partition, Number(r.offset), 1);
      expect(decodeEnvelope(rec!.value).payload).toEqual(payload);
    }
    const latest = await h.gql(`{ latestEvents(topic: "events.iot.sensors", limit: 1000) { deviceId payload } }`);
    const got = (latest.body.data?.latestEvents as { deviceId: string; payload: unknown }[] | undefined)?.filter((e) => e.deviceId?.startsWith('ctor-'));
    expect(got?.map((e) => e.payload)).toEqual([payload, payload]);
  });
});

describe('dates are checked field by field', () => {
  it('refuses impossible dates in publish and in query arguments instead of shifting them', async () => {
    for (const [timestamp, why] of [
      ['2026-02-30T00:00:00.000Z', /day 30; 2026-02 has days 01 to 28/],
      ['2026-01-01T24:00:00Z', /hour 24/],
      ['2026-01-01T23:59:60Z', /second 60/],
      ['2026-01-01T10:00:00+24:00', /offset/],
    ] as const) {
      const e = await refused(() => h.gql(PUBLISH, { input: sensorEvent({ timestamp }) }));
      expect(e.extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
      expect(e.message).toMatch(why);
      const lit = await refused(() => h.gql(`mutation { publishEvent(input: { eventType: "iot.sensor", timestamp: "${timestamp}", deviceId: "d", payload: {} }) { offset } }`));
      expect(lit.extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
      const q = await refused(() => h.gql(`query($from: DateTime) { windows(eventType: "iot.sensor", key: "k", from: $from) { count } }`, { from: timestamp }));
      expect(q.extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
    }
    const leap = await h.gql(PUBLISH, { input: sensorEvent({ timestamp: '2024-02-29T12:00:00+01:00' }) });
    expect((leap.body.data?.publishEvent as { timestamp: string } | undefined)?.timestamp).toBe('2024-02-29T11:00:00.000Z');
  });
});

describe('malformed requests', () => {
  it('a GET whose variables are not JSON is SCHEMA_VALIDATION_FAILED with 400, not INTERNAL (found by the fuzz test)', async () => {
    for (const variables of [' ', 'b', '{"a":', '[1]x']) {
      const res = await h.server.yoga.fetch(`http://yoga/graphql?query=${encodeURIComponent('{ topics { name } }')}&variables=${encodeURIComponent(variables)}`, {
        headers: { accept: 'application/json' },
      });
      const body = (await res.json()) as { errors: { extensions: { code: string } }[] };
      expect(res.status).toBe(400);
      expect(body.errors.map((e) => e.extensions.code)).toEqual(['SCHEMA_VALIDATION_FAILED']);
    }
  });
});
