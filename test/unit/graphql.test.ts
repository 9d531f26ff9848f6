/** The GraphQL API in-process (yoga.fetch): happy paths, every bad input with its own code, ops routes, auth, masking. */
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { DLQ_TOPIC } from '../../src/model/event-types.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import { type Harness, PUBLISH, PUBLISH_MANY, createHarness, sensorEvent } from '../helpers/graphql-harness.ts';

const SENSORS = 'events.iot.sensors';

function totalRecords(h: Harness): number {
  return h.services.registry.all().reduce((n, t) => n + h.log.records(t.topic).length, 0);
}

function expectContractError(
  r: Awaited<ReturnType<Harness['gql']>>,
  code: string,
): NonNullable<Awaited<ReturnType<Harness['gql']>>['body']['errors']>[number] {
  expect(r.body.errors, JSON.stringify(r.body)).toBeDefined();
  const e = r.body.errors![0]!;
  expect(e.extensions.code).toBe(code);
  expect(e.extensions.requestId).toMatch(/\S+/);
  expect(e.extensions.timestamp).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  return e;
}

describe('publishing', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
  });

  it('publishEvent appends the envelope to the type topic and returns a complete receipt', async () => {
    const r = await h.gql(PUBLISH, { input: sensorEvent({ eventId: 'e-1', timestamp: '2024-01-15T12:30:00.5+02:00' }) });
    expect(r.status).toBe(200);
    const receipt = r.body.data!.publishEvent as Record<string, unknown>;
    expect(receipt).toMatchObject({ status: 'ACCEPTED', eventId: 'e-1', topic: SENSORS, offset: '0', timestamp: '2024-01-15T10:30:00.500Z' });
    const [rec] = h.log.records(SENSORS);
    expect(rec!.partition).toBe(receipt.partition);
    expect(rec!.key).toBe('dev-1');
    expect(rec!.headers['content-type']).toBe('application/json');
    expect(rec!.headers.traceparent).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/);
    expect(JSON.parse(new TextDecoder().decode(rec!.value))).toEqual({
      eventId: 'e-1',
      timestamp: '2024-01-15T10:30:00.500Z',
      eventType: 'iot.sensor',
      userId: null,
      deviceId: 'dev-1',
      payload: { value: 1.5 },
      metadata: null,
    });
  });

  it('assigns a UUID when eventId is absent', async () => {
    const r = await h.gql(PUBLISH, { input: sensorEvent() });
    expect((r.body.data!.publishEvent as { eventId: string }).eventId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('publishEvents returns receipts in input order', async () => {
    const inputs = [sensorEvent({ eventId: 'a' }), sensorEvent({ eventId: 'b', eventType: 'clickstream', userId: 'u1', deviceId: null })];
    const r = await h.gql(PUBLISH_MANY, { inputs });
    const receipts = r.body.data!.publishEvents as { eventId: string; topic: string }[];
    expect(receipts.map((x) => [x.eventId, x.topic])).toEqual([
      ['a', SENSORS],
      ['b', 'events.clickstream'],
    ]);
  });

  it('a second publish of an eventId returns the first receipt with status DUPLICATE and appends nothing', async () => {
    const first = await h.gql(PUBLISH, { input: sensorEvent({ eventId: 'dup' }) });
    const second = await h.gql(PUBLISH, { input: sensorEvent({ eventId: 'dup', payload: { value: 99 } }) });
    expect(second.body.data!.publishEvent).toEqual({ ...(first.body.data!.publishEvent as object), status: 'DUPLICATE' });
    expect(h.log.records(SENSORS)).toHaveLength(1);
  });
});

describe('bad input: each has its own code and publishes nothing', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness({ maxEventBytes: 1024, maxBatch: 3, maxQueryDepth: 5, maxAliases: 5 });
  });
  afterEach(() => {
    expect(totalRecords(h)).toBe(0);
  });

  it('malformed JSON body → SCHEMA_VALIDATION_FAILED, HTTP 400', async () => {
    const r = await h.post('{"query": "mutation { publishEvent');
    expect(r.status).toBe(400);
    expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
  });

  it('missing required field → SCHEMA_VALIDATION_FAILED, HTTP 400', async () => {
    const { eventType: _omit, ...input } = sensorEvent();
    const r = await h.gql(PUBLISH, { input });
    expect(r.status).toBe(400);
    expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
  });

  it('mistyped field → SCHEMA_VALIDATION_FAILED', async () => {
    const r = await h.gql(PUBLISH, { input: sensorEvent({ eventType: 42, deviceId: { nested: true } }) });
    expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
  });

  it.each(['yesterday', '2024-01-15', '2024-01-15T10:30:00', '2024-13-45T10:30:00Z', ''])(
    'non-ISO timestamp %j → SCHEMA_VALIDATION_FAILED',
    async (timestamp) => {
      const r = await h.gql(PUBLISH, { input: sensorEvent({ timestamp }) });
      expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
    },
  );

  it('non-ISO timestamp as a literal → SCHEMA_VALIDATION_FAILED', async () => {
    const r = await h.gql(
      'mutation { publishEvent(input: { timestamp: "noon", eventType: "iot.sensor", payload: {} }) { eventId } }',
    );
    expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
  });

  it.each([[[1, 2]], ['text'], [7], [null]])('payload that is not an object (%j) → SCHEMA_VALIDATION_FAILED', async (payload) => {
    const r = await h.gql(PUBLISH, { input: sensorEvent({ payload }) });
    expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
  });

  it('unknown event type → UNKNOWN_EVENT_TYPE', async () => {
    const r = await h.gql(PUBLISH, { input: sensorEvent({ eventType: 'weather.report' }) });
    expectContractError(r, ErrorCode.UNKNOWN_EVENT_TYPE);
  });

  it('payload too large → PAYLOAD_TOO_LARGE with the sizes', async () => {
    const r = await h.gql(PUBLISH, { input: sensorEvent({ payload: { blob: 'x'.repeat(2000) } }) });
    const e = expectContractError(r, ErrorCode.PAYLOAD_TOO_LARGE);
    expect(e.message).toMatch(/1024/);
  });

  it('batch too large → BATCH_TOO_LARGE', async () => {
    const r = await h.gql(PUBLISH_MANY, { inputs: [1, 2, 3, 4].map((i) => sensorEvent({ eventId: `b${i}` })) });
    const e = expectContractError(r, ErrorCode.BATCH_TOO_LARGE);
    expect(e.extensions.details).toMatchObject({ size: 4, maxBatch: 3 });
  });

  it('a batch with one invalid event appends nothing and names the index', async () => {
    const inputs = [sensorEvent({ eventId: 'ok1' }), sensorEvent({ eventId: 'bad', payload: [1] }), sensorEvent({ eventId: 'ok2' })];
    const r = await h.gql(PUBLISH_MANY, { inputs });
    const e = expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
    expect(e.extensions.details!.errors).toEqual([
      { index: 1, code: 'SCHEMA_VALIDATION_FAILED', message: expect.any(String), issues: [{ path: 'payload', message: expect.any(String) }] },
    ]);
  });

  it('a batch with invalid events of different kinds lists every index under SCHEMA_VALIDATION_FAILED', async () => {
    const inputs = [sensorEvent({ eventType: 'nope' }), sensorEvent(), sensorEvent({ payload: { blob: 'x'.repeat(2000) } })];
    const r = await h.gql(PUBLISH_MANY, { inputs });
    const e = expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
    const errors = e.extensions.details!.errors as { index: number; code: string }[];
    expect(errors.map((x) => [x.index, x.code])).toEqual([
      [0, 'UNKNOWN_EVENT_TYPE'],
      [2, 'PAYLOAD_TOO_LARGE'],
    ]);
  });

  it('a batch whose invalid events share a code carries that code', async () => {
    const inputs = [sensorEvent({ eventType: 'nope' }), sensorEvent(), sensorEvent({ eventType: 'nada' })];
    const r = await h.gql(PUBLISH_MANY, { inputs });
    const e = expectContractError(r, ErrorCode.UNKNOWN_EVENT_TYPE);
    expect((e.extensions.details!.errors as { index: number }[]).map((x) => x.index)).toEqual([0, 2]);
  });

  it('a bad timestamp inside a batch names the index in the message', async () => {
    const inputs = [sensorEvent(), sensorEvent({ timestamp: 'soon' })];
    const r = await h.gql(PUBLISH_MANY, { inputs });
    const e = expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
    expect(e.message).toContain('inputs[1].timestamp');
  });

  it('unknown topic → UNKNOWN_TOPIC', async () => {
    const r = await h.gql('{ latestEvents(topic: "events.nothing") { eventId } }');
    expectContractError(r, ErrorCode.UNKNOWN_TOPIC);
  });

  it('the dead-letter topic is not an event topic → UNKNOWN_TOPIC', async () => {
    const r = await h.gql(`{ latestEvents(topic: "${DLQ_TOPIC}") { eventId } }`);
    expectContractError(r, ErrorCode.UNKNOWN_TOPIC);
  });

  it('unknown window → UNKNOWN_WINDOW; unknown event type in windows/keyState → UNKNOWN_EVENT_TYPE', async () => {
    expectContractError(await h.gql('{ windows(eventType: "iot.sensor", key: "k", window: "tumbling-7m") { count } }'), ErrorCode.UNKNOWN_WINDOW);
    expectContractError(await h.gql('{ windows(eventType: "nope", key: "k") { count } }'), ErrorCode.UNKNOWN_EVENT_TYPE);
    expectContractError(await h.gql('{ keyState(eventType: "nope", key: "k") { key } }'), ErrorCode.UNKNOWN_EVENT_TYPE);
  });

  it.each([0, -1, 1001])('latestEvents / deadLetters limit %i outside 1..1000 → SCHEMA_VALIDATION_FAILED', async (limit) => {
    const e = expectContractError(
      await h.gql('query($l: Int) { latestEvents(topic: "events.iot.sensors", limit: $l) { eventId } }', { l: limit }),
      ErrorCode.SCHEMA_VALIDATION_FAILED,
    );
    expect(e.extensions.details).toMatchObject({ argument: 'limit', min: 1, max: 1000 });
    expectContractError(await h.gql('query($l: Int) { deadLetters(limit: $l) { id } }', { l: limit }), ErrorCode.SCHEMA_VALIDATION_FAILED);
  });

  it('a query deeper than the limit → QUERY_TOO_COMPLEX', async () => {
    // The contract's types nest at most three levels, so the limit is set below that to exercise it.
    const h2 = await createHarness({ maxQueryDepth: 2 });
    const ok = await h2.gql('{ health { status } }');
    expect(ok.body.errors).toBeUndefined();
    const r = await h2.gql('{ health { components { name } } }');
    expect(r.status).toBe(400);
    expectContractError(r, ErrorCode.QUERY_TOO_COMPLEX);
    expect(totalRecords(h2)).toBe(0);
  });

  it('a deep query through fragments is measured too', async () => {
    const h2 = await createHarness({ maxQueryDepth: 2 });
    const r = await h2.gql('fragment C on Health { components { name } } { health { ...C } }');
    expectContractError(r, ErrorCode.QUERY_TOO_COMPLEX);
  });

  it('an alias bomb → QUERY_TOO_COMPLEX', async () => {
    const aliases = Array.from({ length: 20 }, (_, i) => `a${i}: topics { name }`).join(' ');
    const r = await h.gql(`{ ${aliases} }`);
    expect(r.status).toBe(400);
    expectContractError(r, ErrorCode.QUERY_TOO_COMPLEX);
  });

  it('a token bomb → QUERY_TOO_COMPLEX', async () => {
    const r = await h.gql(`{ topics { ${'name '.repeat(3000)} } }`);
    expectContractError(r, ErrorCode.QUERY_TOO_COMPLEX);
  });

  it('an unknown field → SCHEMA_VALIDATION_FAILED without suggestions', async () => {
    const r = await h.gql('{ topic { name } }');
    const e = expectContractError(r, ErrorCode.SCHEMA_VALIDATION_FAILED);
    expect(e.message).not.toMatch(/Did you mean/);
  });
});

describe('queries', () => {
  let h: Harness;
  beforeEach(async () => {
    h = await createHarness();
  });

  it('topics lists the event types with topic and partitions', async () => {
    const r = await h.gql('{ topics { name eventType partitions } }');
    expect(r.body.data!.topics).toEqual([
      { name: 'events.iot.sensors', eventType: 'iot.sensor', partitions: 12 },
      { name: 'events.clickstream', eventType: 'clickstream', partitions: 24 },
      { name: 'events.transactions', eventType: 'transaction', partitions: 12 },
    ]);
  });

  it('health reports mode, status and components', async () => {
    const r = await h.gql('{ health { status mode uptimeSeconds components { name connected detail } } }');
    expect(r.body.data!.health).toMatchObject({
      status: 'ok',
      mode: 'embedded',
      components: [
        { name: 'broker', connected: true, detail: null },
        { name: 'bus', connected: true, detail: null },
      ],
    });
  });

  it('windows and keyState come from the reader, with DateTime in UTC and filters passed through', async () => {
    const base = Date.UTC(2024, 0, 15, 10, 30);
    for (const [i, final] of [
      [0, true],
      [1, false],
    ] as const) {
      h.windowResults.push({
        eventType: 'iot.sensor',
        key: 'dev-1',
        window: 'tumbling-1m',
        windowStart: base + i * 60_000,
        windowEnd: base + (i + 1) * 60_000,
        count: 2,
        valueCount: 1,
        sum: 3,
        avg: 3,
        min: 3,
        max: 3,
        distinctUsers: 0,
        final,
        revision: 0,
      });
    }
    const all = await h.gql('{ windows(eventType: "iot.sensor", key: "dev-1") { windowStart windowEnd final } }');
    expect(all.body.data!.windows).toEqual([
      { windowStart: '2024-01-15T10:30:00.000Z', windowEnd: '2024-01-15T10:31:00.000Z', final: true },
      { windowStart: '2024-01-15T10:31:00.000Z', windowEnd: '2024-01-15T10:32:00.000Z', final: false },
    ]);
    const finals = await h.gql('{ windows(eventType: "iot.sensor", key: "dev-1", finalOnly: true) { windowStart } }');
    expect(finals.body.data!.windows).toHaveLength(1);
    const from = await h.gql('{ windows(eventType: "iot.sensor", key: "dev-1", from: "2024-01-15T11:31:00+01:00") { windowStart } }');
    expect(from.body.data!.windows).toEqual([{ windowStart: '2024-01-15T10:31:00.000Z' }]);

    expect((await h.gql('{ keyState(eventType: "iot.sensor", key: "dev-1") { key } }')).body.data!.keyState).toBeNull();
    h.keyStates.set('iot.sensor/dev-1', {
      eventType: 'iot.sensor',
      key: 'dev-1',
      topic: SENSORS,
      partition: 3,
      watermark: null,
      lastEventTime: base,
      eventsProcessed: 2,
      openWindows: 4,
    });
    const ks = await h.gql('{ keyState(eventType: "iot.sensor", key: "dev-1") { partition watermark lastEventTime openWindows } }');
    expect(ks.body.data!.keyState).toEqual({ partition: 3, watermark: null, lastEventTime: '2024-01-15T10:30:00.000Z', openWindows: 4 });
  });

  it('deadLetters parses the dead-letter topic, newest first, and skips records that are not dead letters', async () => {
    const dl = (n: number) => ({
      originalMessage: `{"n":${n}}`,
      originalEncoding: 'utf8',
      originalKey: 'k',
      errorType: 'DECODE_FAILED',
      errorMessage: `bad ${n}`,
      retryCount: 3,
      firstAttemptTime: '2024-01-15T10:30:00.000Z',
      lastAttemptTime: '2024-01-15T10:30:01.000Z',
      sourceTopic: SENSORS,
      sourcePartition: 2,
      sourceOffset: String(n),
    });
    await h.log.append(DLQ_TOPIC, [{ key: 'k', value: JSON.stringify(dl(1)), partition: 0 }]);
    // the harness log stamps appends with a strictly increasing time: the next one is newer, no wait needed
    await h.log.append(DLQ_TOPIC, [{ key: 'k', value: 'not json', partition: 1 }]);
    await h.log.append(DLQ_TOPIC, [{ key: 'k', value: JSON.stringify(dl(2)), partition: 1 }]);
    const r = await h.gql('{ deadLetters { id errorType errorMessage retryCount sourceOffset originalMessage lastAttemptTime } }');
    expect(r.body.data!.deadLetters).toEqual([
      {
        id: `${DLQ_TOPIC}/1/1`,
        errorType: 'DECODE_FAILED',
        errorMessage: 'bad 2',
        retryCount: 3,
        sourceOffset: '2',
        originalMessage: '{"n":2}',
        lastAttemptTime: '2024-01-15T10:30:01.000Z',
      },
      expect.objectContaining({ id: `${DLQ_TOPIC}/0/0`, errorMessage: 'bad 1' }),
    ]);
    const one = await h.gql('{ deadLetters(limit: 1) { id } }');
    expect(one.body.data!.deadLetters).toEqual([{ id: `${DLQ_TOPIC}/1/1` }]);
  });
});

describe('errors, auth and operator routes', () => {
  it('an unexpected error is INTERNAL without its message or stack', async () => {
    const h = await createHarness();
    (h.services.reader as { keyState: unknown }).keyState = async () => {
      throw new TypeError('secret detail at /srv/app.ts:12');
    };
    const r = await h.gql('{ keyState(eventType: "iot.sensor", key: "k") { key } }');
    const e = expectContractError(r, ErrorCode.INTERNAL);
    expect(JSON.stringify(r.body)).not.toMatch(/secret|app\.ts|TypeError|stack/);
    expect(e.message).toMatch(/request id/);
  });

  it('a broker outage surfaces as BROKER_UNAVAILABLE after bounded retries', async () => {
    const h = await createHarness();
    h.log.failNext(10, new KeyflowError(ErrorCode.TIMEOUT, 'broker down', { retriable: true }));
    const r = await h.gql(PUBLISH, { input: sensorEvent() });
    expectContractError(r, ErrorCode.BROKER_UNAVAILABLE);
    expect(h.log.appendCalls).toBe(3);
  });

  it('the request id comes from x-request-id when given and is echoed', async () => {
    const h = await createHarness();
    const r = await h.gql('{ nope }', undefined, { 'x-request-id': 'req_client-1' });
    expect(r.headers.get('x-request-id')).toBe('req_client-1');
    expect(r.body.errors![0]!.extensions.requestId).toBe('req_client-1');
  });

  it('with tokens configured, operations need a bearer token (UNAUTHENTICATED, 401) and nothing is published', async () => {
    const h = await createHarness({ apiTokens: ['s3cret', 'other'] });
    const none = await h.gql(PUBLISH, { input: sensorEvent() });
    expect(none.status).toBe(401);
    expectContractError(none, ErrorCode.UNAUTHENTICATED);
    const wrong = await h.gql(PUBLISH, { input: sensorEvent() }, { authorization: 'Bearer s3cre' });
    expectContractError(wrong, ErrorCode.UNAUTHENTICATED);
    expect(h.log.records(SENSORS)).toHaveLength(0);
    const ok = await h.gql(PUBLISH, { input: sensorEvent() }, { authorization: 'Bearer other' });
    expect(ok.body.errors).toBeUndefined();
    expect(h.log.records(SENSORS)).toHaveLength(1);
    // Operator routes stay open.
    expect((await h.server.yoga.fetch('http://yoga/health')).status).toBe(200);
  });

  it('GET /health, /ready and /metrics', async () => {
    const h = await createHarness();
    await h.gql(PUBLISH, { input: sensorEvent() });
    const health = await h.server.yoga.fetch('http://yoga/health');
    expect(health.status).toBe(200);
    expect(await health.json()).toMatchObject({ status: 'ok', mode: 'embedded' });
    expect((await h.server.yoga.fetch('http://yoga/ready')).status).toBe(200);
    const metrics = await (await h.server.yoga.fetch('http://yoga/metrics')).text();
    expect(metrics).toMatch(/keyflow_graphql_requests_total\{operation="mutation.publishEvent",status="ok"\} 1/);
    expect(metrics).toMatch(/keyflow_events_ingested_total\{topic="events.iot.sensors"\} 1/);

    h.log.healthy = async () => ({ connected: false, detail: 'data dir not writable' });
    const down = await h.server.yoga.fetch('http://yoga/health');
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ status: 'degraded', components: [{ name: 'broker', connected: false, detail: 'data dir not writable' }, { name: 'bus' }] });
    expect((await h.server.yoga.fetch('http://yoga/ready')).status).toBe(503);
  });

  it('GraphiQL is served to browsers', async () => {
    const h = await createHarness();
    const r = await h.server.yoga.fetch('http://yoga/graphql', { headers: { accept: 'text/html' } });
    expect(r.status).toBe(200);
    expect(await r.text()).toMatch(/graphiql/i);
  });
});

describe('subscriptions over HTTP (server-sent events)', () => {
  async function* sse(res: Response): AsyncGenerator<Record<string, unknown>> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value, { stream: true });
        let cut: number;
        while ((cut = text.indexOf('\n\n')) >= 0) {
          const block = text.slice(0, cut);
          text = text.slice(cut + 2);
          const data = block
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trim())
            .join('');
          if (data) yield JSON.parse(data);
        }
      }
    } finally {
      // The client going away: the server must end the subscription.
      await reader.cancel().catch(() => {});
    }
  }

  async function subscribe(h: Harness, query: string, signal: AbortSignal): Promise<Response> {
    return await h.server.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
      body: JSON.stringify({ query }),
      signal,
    });
  }

  it('streams events and maps stream errors to contract codes', async () => {
    const h = await createHarness();
    const ac = new AbortController();
    try {
      const bad = sse(await subscribe(h, 'subscription { events(topic: "events.none") { eventId } }', ac.signal));
      const first = (await bad.next()).value as { errors: { extensions: { code: string; requestId: string } }[] };
      expect(first.errors[0]!.extensions).toMatchObject({ code: 'UNKNOWN_TOPIC', requestId: expect.any(String) });

      const stream = sse(await subscribe(h, 'subscription { events(topic: "events.iot.sensors") { eventId key } }', ac.signal));
      const next = stream.next();
      const subject = 'keyflow.events.events_iot_sensors';
      await vi.waitFor(() => expect(h.subscriberCount(subject)).toBeGreaterThan(0), { timeout: 5000, interval: 2 });
      await h.gql(PUBLISH, { input: sensorEvent({ eventId: 'sse-1' }) });
      expect((await next).value).toEqual({ data: { events: { eventId: 'sse-1', key: 'dev-1' } } });
      await stream.return(undefined);
      await bad.return(undefined);
      await vi.waitFor(() => expect(h.subscriberCount(subject)).toBe(0), { timeout: 5000, interval: 2 });
    } finally {
      ac.abort();
    }
  });
});
