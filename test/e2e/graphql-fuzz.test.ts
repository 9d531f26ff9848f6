/**
 * GraphQL fuzzing against the real embedded server (`keyflow start` as a child process, over real
 * HTTP): fast-check sends random and mutated documents, variables and request bodies — valid
 * operations with one thing broken, token soup, hostile JSON (deep nesting, `__proto__`, 1e308,
 * impossible and far-future dates), malformed bodies and transports.
 *
 * Every answer must be:
 * - below HTTP 500, within the timeout;
 * - masked: every error has a stable code from the documented list (never INTERNAL), a request
 *   id and a timestamp, and no stack trace or source path anywhere in the body;
 * - state-preserving when refused: the event log is exactly as before (read back through the API
 *   after every request), and an eventId of a refused publish was not claimed (publishing it
 *   afterwards is ACCEPTED, not DUPLICATE).
 * At the end, every accepted event must have been processed without a dead letter: what the API
 * accepts, the processor accepts.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type E2eServer, startServer, stopAllServers } from '../helpers/e2e.ts';
import { waitFor } from '../helpers/wait.ts';

const CODES = new Set([
  'SCHEMA_VALIDATION_FAILED',
  'TIMESTAMP_OUT_OF_RANGE',
  'VALUE_OUT_OF_RANGE',
  'UNKNOWN_EVENT_TYPE',
  'UNKNOWN_TOPIC',
  'UNKNOWN_WINDOW',
  'PAYLOAD_TOO_LARGE',
  'BATCH_TOO_LARGE',
  'QUERY_TOO_COMPLEX',
  'RATE_LIMITED',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'BROKER_UNAVAILABLE',
]);
const TOPICS = ['events.iot.sensors', 'events.clickstream', 'events.transactions'];
const RUNS = 400;
/** Stack frames, source paths: what a masked error never shows. */
const LEAK = /\n\s+at |node_modules|\/src\/|\.ts:\d+|\.js:\d+/;

let server: E2eServer;

beforeAll(async () => {
  server = await startServer({ env: { KEYFLOW_TEST_HOOKS: 'false', KEYFLOW_CHECKPOINT_INTERVAL_MS: '200' } });
});

afterAll(async () => {
  await stopAllServers();
});

// ------------------------------------------------------------------ requests

const PUBLISH = 'mutation($input: EventInput!) { publishEvent(input: $input) { status eventId topic partition offset timestamp } }';
const PUBLISH_MANY = 'mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { status eventId topic partition offset } }';

/** Valid operations covering every root field: the material the mutators break. */
const SEED_DOCS = [
  '{ health { status mode uptimeSeconds components { name connected detail } } }',
  '{ topics { name eventType partitions } }',
  'query($t: String!, $n: Int) { latestEvents(topic: $t, limit: $n) { eventId timestamp key payload metadata offset partition } }',
  'query($e: String!, $k: String!, $w: String, $f: DateTime, $to: DateTime) { windows(eventType: $e, key: $k, window: $w, from: $f, to: $to, finalOnly: false) { window windowStart windowEnd count sum avg min max distinctUsers final revision } }',
  'query { keyState(eventType: "iot.sensor", key: "fuzz-k") { partition watermark lastEventTime eventsProcessed openWindows } }',
  '{ deadLetters(limit: 5) { id errorType errorMessage sourceOffset originalMessage } }',
  'query Q { ...F } fragment F on Query { topics { name } health { status } }',
  'query($skip: Boolean!) { topics @skip(if: $skip) { name } __typename }',
  '{ __schema { queryType { name } types { name kind } } }',
  PUBLISH,
  PUBLISH_MANY,
  'mutation { publishEvent(input: { eventType: "iot.sensor", timestamp: "2026-01-15T10:00:00Z", deviceId: "fuzz-lit", payload: { value: 1.5, tags: ["a", 1, null], nested: { ok: true } } }) { status offset } }',
  'subscription { events(topic: "events.iot.sensors") { eventId } }',
];

const TOKENS = [
  '{', '}', '(', ')', '[', ']', ':', '$', '$input', '$x', '!', '=', '...', '@skip(if: true)', '@deprecated', '|', '&',
  'query', 'mutation', 'subscription', 'fragment', 'on', 'null', 'true', 'false', '__typename', '__schema', '__type(name: "Query") { name }',
  'publishEvent', 'publishEvents', 'latestEvents', 'windows', 'keyState', 'deadLetters', 'health', 'topics', 'input', 'inputs',
  'eventType', 'timestamp', 'payload', 'metadata', 'limit: 1000000', 'limit: -1', 'limit: 0',
  '"iot.sensor"', '"events.dlq"', '"no.such"', '""', '"\\u0000"', '"\\uD800"', '"😀"', '"2026-02-30T00:00:00Z"', '"9999-12-31T23:59:59.999Z"', '"T24:00"',
  '1e400', '-0', '9007199254740993', '1e308', '0.1', '-1', '2147483648', '"""block"""', '#comment\n', '\n', ',', 'a'.repeat(300),
  '{ __proto__: 1 }', '{ constructor: { prototype: 1 } }', '[[[[[[[[[[1]]]]]]]]]]',
];

const idArb = fc.oneof(fc.stringMatching(/^[A-Za-z0-9._:-]{1,20}$/), fc.constantFrom('', 'x'.repeat(300), '__proto__', 'constructor'), fc.integer());

const timestampArb = fc.oneof(
  fc.integer({ min: Date.UTC(1990, 0, 1), max: Date.now() - 60_000 }).map((ms) => new Date(ms).toISOString()),
  fc.constantFrom(
    '2026-02-30T00:00:00Z',
    '2026-01-01T24:00:00Z',
    '9999-12-31T23:59:59.999Z',
    '0000-01-01T00:00:00Z',
    '1969-12-31T23:59:59.999Z',
    '2026-01-15',
    'yesterday',
    '2026-01-15T10:00:00+25:00',
    '+010000-01-01T00:00:00Z',
  ),
  fc.integer().map((n) => new Date(Date.now() + n * 1000).toISOString()),
  fc.string({ maxLength: 30 }),
  fc.integer(),
  fc.constant(null),
);

/** JSON values with the hostile numbers and keys mixed in. */
const jsonArb: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 4, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  { weight: 1, arbitrary: fc.constantFrom(1e308, -1e308, 1e16, Number.MAX_SAFE_INTEGER + 2, -0, Number.MIN_VALUE) },
  { weight: 1, arbitrary: fc.integer({ min: 30, max: 600 }).map((n) => nest(n)) },
  { weight: 1, arbitrary: fc.constantFrom({ constructor: 1 }, { prototype: { constructor: 'x' } }, { toString: 1, valueOf: 2, hasOwnProperty: 3 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 70_000, maxLength: 70_010 }) },
);

function nest(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = i % 2 ? [v] : { a: v };
  return v;
}

const eventArb = fc.record(
  {
    eventId: idArb,
    eventType: fc.oneof(fc.constantFrom('iot.sensor', 'clickstream', 'transaction'), fc.constantFrom('no.such', '', 'iot.sensor '), fc.string({ maxLength: 5 })),
    timestamp: timestampArb,
    deviceId: fc.oneof(fc.stringMatching(/^fuzz-[a-z0-9]{1,6}$/), fc.constantFrom('', null)),
    userId: fc.oneof(fc.stringMatching(/^u-[a-z0-9]{1,6}$/), fc.constant(null)),
    payload: fc.oneof(
      fc.record({ value: jsonArb, amount: jsonArb }, { requiredKeys: [] }),
      fc.dictionary(fc.string({ maxLength: 6 }), jsonArb, { maxKeys: 4 }),
      jsonArb,
    ),
    metadata: fc.oneof(fc.constant(null), fc.dictionary(fc.string({ maxLength: 6 }), jsonArb, { maxKeys: 3 }), jsonArb),
  },
  { requiredKeys: ['eventType', 'timestamp', 'payload'] },
);

const variablesArb: fc.Arbitrary<Record<string, unknown>> = fc.oneof(
  eventArb.map((input) => ({ input })),
  fc.array(eventArb, { maxLength: 5 }).map((inputs) => ({ inputs })),
  fc.record({ t: fc.constantFrom(...TOPICS, 'events.dlq', 'nope'), n: fc.oneof(fc.integer(), fc.constant(null)) }),
  fc.record({ e: fc.constantFrom('iot.sensor', 'nope'), k: fc.string(), w: fc.oneof(fc.constantFrom('tumbling-1m', 'weekly'), fc.constant(null)), f: timestampArb, to: timestampArb }),
  fc.dictionary(fc.string({ maxLength: 6 }), jsonArb, { maxKeys: 4 }),
);

/** A document with 1-3 edits: delete, insert a token, duplicate or truncate. */
const mutatedDocArb = fc
  .tuple(
    fc.constantFrom(...SEED_DOCS),
    fc.array(fc.tuple(fc.constantFrom('delete', 'insert', 'duplicate', 'truncate'), fc.nat(), fc.nat({ max: 40 }), fc.constantFrom(...TOKENS)), { minLength: 1, maxLength: 3 }),
  )
  .map(([doc, edits]) => {
    let s = doc;
    for (const [op, at, len, token] of edits) {
      const i = at % (s.length + 1);
      if (op === 'delete') s = s.slice(0, i) + s.slice(i + len);
      else if (op === 'insert') s = `${s.slice(0, i)} ${token} ${s.slice(i)}`;
      else if (op === 'duplicate') s = s.slice(0, i + len) + s.slice(i, i + len) + s.slice(i + len);
      else s = s.slice(0, i);
    }
    return s;
  });

const documentArb = fc.oneof(
  { weight: 2, arbitrary: fc.constantFrom(...SEED_DOCS) },
  { weight: 4, arbitrary: mutatedDocArb },
  { weight: 1, arbitrary: fc.array(fc.constantFrom(...TOKENS), { maxLength: 30 }).map((t) => t.join(' ')) },
  { weight: 1, arbitrary: fc.string({ maxLength: 200, unit: 'binary' }) },
);

type Request =
  | { kind: 'json'; body: { query?: unknown; variables?: unknown; operationName?: unknown } }
  | { kind: 'raw'; body: string; contentType: string }
  | { kind: 'get'; search: string };

/** Bodies JSON.stringify cannot write: own `__proto__` keys, 10,000 levels of nesting. */
const rawHostileArb = fc.tuple(fc.constantFrom('{"__proto__":{"value":1}}', '{"a":[{"__proto__":null}]}', `${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`), fc.constantFrom('payload', 'metadata')).map(
  ([json, field]): Request => {
    const input = JSON.stringify({ eventType: 'iot.sensor', timestamp: '2026-01-15T10:00:00Z', deviceId: 'fuzz-raw', payload: {}, [field]: 'X' }).replace('"X"', json);
    return { kind: 'raw', body: `{"query":${JSON.stringify(PUBLISH)},"variables":{"input":${input}}}`, contentType: 'application/json' };
  },
);

const requestArb: fc.Arbitrary<Request> = fc.oneof(
  { weight: 8, arbitrary: fc.record({ query: documentArb, variables: fc.oneof(variablesArb, fc.constant(undefined)) }).map((body): Request => ({ kind: 'json', body })) },
  {
    weight: 1,
    arbitrary: fc.record({ query: fc.oneof(fc.constant(undefined), fc.jsonValue()), variables: fc.jsonValue(), operationName: fc.oneof(fc.string(), fc.integer()) }).map((body): Request => ({ kind: 'json', body })),
  },
  { weight: 1, arbitrary: rawHostileArb },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.oneof(fc.string({ maxLength: 100 }), fc.constantFrom('{"query":', '[{"query":"{ topics { name } }"}]', 'null', '{"query":"{ topics { name } }","variables":"x"}')), fc.constantFrom('application/json', 'text/plain', 'application/graphql', 'multipart/form-data'))
      .map(([body, contentType]): Request => ({ kind: 'raw', body, contentType })),
  },
  { weight: 1, arbitrary: fc.tuple(documentArb, fc.string({ maxLength: 40 })).map(([q, v]): Request => ({ kind: 'get', search: `?query=${encodeURIComponent(q)}&variables=${encodeURIComponent(v)}` })) },
);

interface Answer {
  status: number;
  text: string;
  body: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: Record<string, unknown> }[] } | undefined;
}

async function send(r: Request): Promise<Answer> {
  const headers = { accept: 'application/graphql-response+json, application/json' };
  const res =
    r.kind === 'get'
      ? await fetch(`${server.url}${r.search}`, { headers, signal: AbortSignal.timeout(15_000) })
      : await fetch(server.url, {
          method: 'POST',
          headers: { ...headers, 'content-type': r.kind === 'raw' ? r.contentType : 'application/json' },
          body: r.kind === 'raw' ? r.body : JSON.stringify(r.body),
          signal: AbortSignal.timeout(15_000),
        });
  const text = await res.text();
  let body: Answer['body'];
  try {
    body = JSON.parse(text) as Answer['body'];
  } catch {
    body = undefined;
  }
  return { status: res.status, text, body };
}

function checkMasked(a: Answer, what: string): void {
  expect(a.status, `${what} → ${a.text.slice(0, 500)}`).toBeLessThan(500);
  expect(a.text, `${what} leaks internals`).not.toMatch(LEAK);
  for (const e of a.body?.errors ?? []) {
    const code = String(e.extensions?.code);
    expect(CODES.has(code), `${what} → unexpected code ${code}: ${e.message}`).toBe(true);
    expect(typeof e.extensions?.requestId, what).toBe('string');
    expect(typeof e.extensions?.timestamp, what).toBe('string');
    expect(e.extensions?.stack ?? e.extensions?.exception, what).toBeUndefined();
  }
}

// ------------------------------------------------------------------ state

interface Record_ {
  eventId: string;
  topic: string;
  partition: number;
  offset: string;
}

/** Every record of the event topics, read back through the API. */
async function logState(): Promise<string[]> {
  const fields = '{ eventId topic partition offset }';
  const q = `{ a: latestEvents(topic: "${TOPICS[0]}", limit: 1000) ${fields} b: latestEvents(topic: "${TOPICS[1]}", limit: 1000) ${fields} c: latestEvents(topic: "${TOPICS[2]}", limit: 1000) ${fields} }`;
  const a = await send({ kind: 'json', body: { query: q } });
  expect(a.body?.errors, a.text.slice(0, 500)).toBeUndefined();
  const data = a.body!.data as Record<string, Record_[]>;
  return Object.values(data)
    .flat()
    .map((r) => `${r.topic}/${r.partition}/${r.offset}/${r.eventId}`)
    .sort();
}

/** eventIds of the inputs of a publish request (to check that a refused one claimed nothing). */
function inputIds(r: Request): string[] {
  if (r.kind !== 'json' || typeof r.body.variables !== 'object' || r.body.variables === null) return [];
  const v = r.body.variables as { input?: { eventId?: unknown }; inputs?: { eventId?: unknown }[] };
  const inputs = [v.input, ...(Array.isArray(v.inputs) ? v.inputs : [])];
  return inputs.map((i) => i?.eventId).filter((id): id is string => typeof id === 'string' && id.length >= 1 && id.length <= 256);
}

function acceptedOf(a: Answer): { eventId: string }[] {
  const d = a.body?.data;
  if (!d) return [];
  const receipts = [d.publishEvent, ...(Array.isArray(d.publishEvents) ? d.publishEvents : [])] as ({ status: string; eventId: string } | null | undefined)[];
  return receipts.filter((r): r is { status: string; eventId: string } => r?.status === 'ACCEPTED');
}

async function metricSum(name: string): Promise<number> {
  const text = await (await fetch(`${server.baseUrl}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  return sum;
}

describe('GraphQL fuzzing against the embedded server', () => {
  it(`${RUNS} random and mutated requests: no 5xx, every error masked with a stable code, refused requests change nothing`, async () => {
    let state = await logState();
    const refusedIds = new Set<string>();
    const acceptedIds = new Set<string>();
    const counts = { requests: 0, refused: 0, accepted: 0 };
    try {
      await fc.assert(
        fc.asyncProperty(requestArb, async (r) => {
          const what = JSON.stringify(r).slice(0, 300);
          const a = await send(r);
          counts.requests++;
          checkMasked(a, what);
          const accepted = acceptedOf(a);
          const after = await logState();
          if (accepted.length === 0) {
            expect(after, `${what} changed the log without a receipt`).toEqual(state);
            if ((a.body?.errors?.length ?? 0) > 0) {
              counts.refused++;
              for (const id of inputIds(r)) refusedIds.add(id);
            }
          } else {
            counts.accepted += accepted.length;
            for (const x of accepted) acceptedIds.add(x.eventId);
            expect(after.length, what).toBe(state.length + accepted.length);
            state = after;
          }
        }),
        { numRuns: RUNS },
      );
    } catch (e) {
      if (e instanceof Error) e.message += `\n--- server output (tail) ---\n${server.output().slice(-4000)}`;
      throw e;
    }
    // a refused publish claimed no eventId: publishing each now is ACCEPTED
    const ids = [...refusedIds].filter((id) => !acceptedIds.has(id));
    for (let i = 0; i < ids.length; i += 100) {
      const inputs = ids.slice(i, i + 100).map((eventId) => ({ eventId, eventType: 'clickstream', userId: 'u-retry', timestamp: '2026-01-15T10:00:00Z', payload: {} }));
      const a = await send({ kind: 'json', body: { query: PUBLISH_MANY, variables: { inputs } } });
      expect(a.body?.errors, a.text.slice(0, 500)).toBeUndefined();
      const receipts = (a.body?.data?.publishEvents ?? []) as { eventId: string; status: string }[];
      // the same id twice in one batch is ACCEPTED once, DUPLICATE after: ids are distinct here
      expect(receipts.map((x) => x.status)).toEqual(inputs.map(() => 'ACCEPTED'));
    }
    const total = (await logState()).length;
    // what the API accepted, the processor processed, and dead-lettered nothing of it
    await waitFor(async () => (await metricSum('keyflow_events_processed_total')) + (await metricSum('keyflow_events_dead_lettered_total')) >= total, {
      timeoutMs: 30_000,
      message: 'the processor did not catch up with the accepted events',
    });
    expect(await metricSum('keyflow_events_dead_lettered_total')).toBe(0);
    expect(counts.refused).toBeGreaterThan(RUNS / 4);
  });
});
