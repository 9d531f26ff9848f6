/**
 * Reading what keyflow writes: paginated latest events and dead letters (every record once across
 * pages, newest first, records appended meanwhile never shift a page), the finals of
 * events.aggregated and the late events of events.late as pages and as subscriptions.
 */
import { parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { requiredScopes } from '../../src/graphql/plugins/auth/root-field-scopes.ts';
import { buildSchema } from '../../src/graphql/schema/index.ts';
import { AGGREGATED_TOPIC, DLQ_TOPIC, LATE_TOPIC } from '../../src/model/event-types.ts';
import type { WindowResult } from '../../src/model/window-result.ts';
import { createLogTopicSink } from '../../src/sinks/index.ts';
import { createHarness, PUBLISH_MANY, sensorEvent } from '../helpers/graphql-harness.ts';

const SENSORS = 'events.iot.sensors';
const PAGE = `query($topic: String!, $first: Int, $after: String) { latestEventsPage(topic: $topic, first: $first, after: $after) { nodes { eventId partition offset } pageInfo { hasNextPage endCursor } } }`;

interface PageOut {
  nodes: { eventId: string }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

async function sseFirstEvents(fetcher: (url: string, init: RequestInit) => Promise<Response>, query: string, n: number, onOpen: () => Promise<void>): Promise<Record<string, unknown>[]> {
  const ctrl = new AbortController();
  const res = await fetcher('http://yoga/graphql', {
    method: 'POST',
    headers: { 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ query }),
    signal: ctrl.signal,
  });
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let text = '';
  const out: Record<string, unknown>[] = [];
  let opened = false;
  const deadline = Date.now() + 10_000;
  while (out.length < n && Date.now() < deadline) {
    if (!opened) {
      opened = true;
      void onOpen();
    }
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
    let i: number;
    while ((i = text.indexOf('\n\n')) >= 0) {
      const block = text.slice(0, i);
      text = text.slice(i + 2);
      const data = block.split('\n').find((l) => l.startsWith('data: '));
      if (data && block.includes('event: next')) out.push(JSON.parse(data.slice(6)) as Record<string, unknown>);
    }
  }
  ctrl.abort();
  return out;
}

describe('latestEventsPage', () => {
  it('pages through every event once, newest appended first, unaffected by events appended between pages', async () => {
    const h = await createHarness();
    const inputs = Array.from({ length: 50 }, (_, i) => sensorEvent({ eventId: `e-${i}`, deviceId: `d-${i % 13}` }));
    for (let i = 0; i < 50; i += 10) await h.gql(PUBLISH_MANY, { inputs: inputs.slice(i, i + 10) });
    const seen: string[] = [];
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const r = await h.gql(PAGE, { topic: SENSORS, first: 7, after });
      expect(r.body.errors).toBeUndefined();
      const p = r.body.data!.latestEventsPage as PageOut;
      seen.push(...p.nodes.map((n) => n.eventId));
      if (page === 1) await h.gql(PUBLISH_MANY, { inputs: [sensorEvent({ eventId: 'later' })] });
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => `e-${49 - i}`));
    const first = (await h.gql(PAGE, { topic: SENSORS, first: 1 })).body.data!.latestEventsPage as PageOut;
    expect(first.nodes.map((n) => n.eventId)).toEqual(['later']);
    expect((await h.gql(PAGE, { topic: SENSORS, after: 'junk' })).body.errors![0]!.extensions.code).toBe('INVALID_CURSOR');
    expect((await h.gql(PAGE, { topic: SENSORS, first: 0 })).body.errors![0]!.extensions.code).toBe('SCHEMA_VALIDATION_FAILED');
    await h.close();
  });

  it('events.late is readable like an event topic (page and subscription)', async () => {
    const h = await createHarness();
    const late = (id: string) => ({ key: 'd-1', value: JSON.stringify({ eventId: id, timestamp: '2024-01-15T10:30:00.000Z', eventType: 'iot.sensor', userId: null, deviceId: 'd-1', payload: { value: 1 }, metadata: null }) });
    await h.log.append(LATE_TOPIC, [late('late-1')]);
    const p = (await h.gql(PAGE, { topic: LATE_TOPIC })).body.data!.latestEventsPage as PageOut;
    expect(p.nodes.map((n) => n.eventId)).toEqual(['late-1']);
    const got = await sseFirstEvents((u, i) => Promise.resolve(h.server.yoga.fetch(u, i)), `subscription { events(topic: "${LATE_TOPIC}") { eventId cursor } }`, 1, async () => {
      await new Promise((r) => setTimeout(r, 100));
      await h.log.append(LATE_TOPIC, [late('late-2')]);
    });
    expect((got[0]!.data as { events: { eventId: string } }).events.eventId).toBe('late-2');
    await h.close();
  });
});

describe('deadLettersPage', () => {
  it('pages every dead letter once, newest first; the payload still needs admin at any depth', async () => {
    const h = await createHarness();
    const dl = (i: number) => ({
      key: `k${i}`,
      partition: i % 6,
      value: JSON.stringify({
        originalMessage: `m${i}`,
        originalEncoding: 'utf8',
        originalKey: `k${i}`,
        errorType: 'SCHEMA_VALIDATION_FAILED',
        errorMessage: 'bad',
        retryCount: 0,
        firstAttemptTime: '2024-01-15T10:30:00.000Z',
        lastAttemptTime: '2024-01-15T10:30:00.000Z',
        sourceTopic: SENSORS,
        sourcePartition: 0,
        sourceOffset: String(i),
      }),
    });
    for (let i = 0; i < 12; i++) await h.log.append(DLQ_TOPIC, [dl(i)]);
    await h.log.append(DLQ_TOPIC, [{ key: 'x', value: 'not a dead letter' }]);
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const r = await h.gql(`query($after: String) { deadLettersPage(first: 5, after: $after) { nodes { sourceOffset } pageInfo { hasNextPage endCursor } } }`, { after });
      const p = r.body.data!.deadLettersPage as { nodes: { sourceOffset: string }[]; pageInfo: PageOut['pageInfo'] };
      seen.push(...p.nodes.map((n) => n.sourceOffset));
      if (!p.pageInfo.hasNextPage) break;
      after = p.pageInfo.endCursor;
    }
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => String(11 - i)));
    const scopes = requiredScopes(buildSchema(), parse(`{ deadLettersPage { nodes { originalMessage } } }`), null, {});
    expect(scopes?.map((s) => s.scope)).toContain('admin');
    const plain = requiredScopes(buildSchema(), parse(`{ deadLettersPage { nodes { errorType } } }`), null, {});
    expect(plain?.map((s) => s.scope)).not.toContain('admin');
    await h.close();
  });
});

describe('finals (events.aggregated)', () => {
  const w = (i: number): WindowResult => ({
    eventType: 'iot.sensor',
    key: `d-${i % 3}`,
    window: 'tumbling-1m',
    windowStart: i * 60_000,
    windowEnd: (i + 1) * 60_000,
    count: i + 1,
    valueCount: i + 1,
    sum: i,
    avg: 1,
    min: 0,
    max: i,
    distinctUsers: 0,
    final: true,
    revision: 0,
  });

  it('finalsPage reads the results the aggregated sink wrote, filtered; the finals subscription gets new ones with a cursor', async () => {
    const h = await createHarness();
    const sink = createLogTopicSink({ log: h.log });
    await sink.start();
    await sink.write(Array.from({ length: 9 }, (_, i) => w(i)));
    const r = await h.gql(`{ finalsPage(eventType: "iot.sensor", key: "d-1", first: 10) { nodes { key windowStart count final } pageInfo { hasNextPage } } }`);
    const p = r.body.data!.finalsPage as { nodes: { key: string; count: number }[] };
    expect(p.nodes.map((n) => n.count)).toEqual([8, 5, 2]);
    const got = await sseFirstEvents((u, i) => Promise.resolve(h.server.yoga.fetch(u, i)), `subscription { finals(eventType: "iot.sensor", key: "d-2") { key count cursor } }`, 2, async () => {
      await new Promise((res) => setTimeout(res, 100));
      await sink.write([w(10), w(11), w(14)]);
    });
    const counts = got.map((g) => (g.data as { finals: { count: number; cursor: string } }).finals);
    expect(counts.map((c) => c.count)).toEqual([12, 15]);
    expect(counts[1]!.cursor).toMatch(/^ev1\./);
    expect(AGGREGATED_TOPIC).toBe('events.aggregated');
    await h.close();
  });
});
