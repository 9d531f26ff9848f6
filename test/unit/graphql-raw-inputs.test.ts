/**
 * The fast path of `publishEvents` through variables (src/graphql/plugins/use-raw-event-inputs.ts):
 * the list reaches ingest as sent, without GraphQL's input coercion, and is held to the same
 * contract — every invalid index with its code, nothing published — including what only the
 * coercion used to check (fields EventInput lacks, wrong scalar types, null items). Inline
 * literals and the nesting bound of the token limit are checked here too.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nestsDeeperThan } from '../../src/graphql/plugins/use-token-limit.ts';
import { createHarness, type Harness, PUBLISH_MANY, sensorEvent } from '../helpers/graphql-harness.ts';

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

async function harness(): Promise<Harness> {
  const h = await createHarness();
  harnesses.push(h);
  return h;
}

function totalRecords(h: Harness): number {
  return h.services.registry.all().reduce((n, t) => n + h.log.records(t.topic).length, 0);
}

interface ErrorEntry {
  index: number;
  code: string;
  issues?: { path: string; message: string }[];
}

function errorsOf(r: Awaited<ReturnType<Harness['gql']>>): { code: unknown; entries: ErrorEntry[] } {
  const e = r.body.errors?.[0];
  return { code: e?.extensions.code, entries: (e?.extensions.details?.errors ?? []) as ErrorEntry[] };
}

describe('publishEvents through variables', () => {
  it('refuses a field EventInput does not have, by index and path, and publishes nothing', async () => {
    const h = await harness();
    const r = await h.gql(PUBLISH_MANY, { inputs: [sensorEvent(), sensorEvent({ color: 'red' }), sensorEvent({ __proto__x: 1 })] });
    const { code, entries } = errorsOf(r);
    expect(code).toBe('SCHEMA_VALIDATION_FAILED');
    expect(entries.map((x) => [x.index, x.issues?.[0]?.path])).toEqual([
      [1, 'color'],
      [2, '__proto__x'],
    ]);
    expect(totalRecords(h)).toBe(0);
  });

  it('a top-level __proto__ field is refused too (JSON.parse keeps it as an own key)', async () => {
    const h = await harness();
    const body = `{"query":${JSON.stringify(PUBLISH_MANY)},"variables":{"inputs":[${JSON.stringify(sensorEvent()).replace(/}$/, ',"__proto__":{"x":1}}')}]}}`;
    const r = await h.post(body);
    const { code, entries } = errorsOf(r);
    expect(code).toBe('SCHEMA_VALIDATION_FAILED');
    expect(entries[0]?.issues?.[0]?.path).toBe('__proto__');
    expect(totalRecords(h)).toBe(0);
  });

  it('wrong scalar types, missing required fields and null items get their index; nothing is published', async () => {
    const h = await harness();
    const inputs = [sensorEvent(), sensorEvent({ eventType: 7 }), null, sensorEvent({ timestamp: 12 }), { eventType: 'iot.sensor' }, sensorEvent({ deviceId: ['x'] })];
    const r = await h.gql(PUBLISH_MANY, { inputs });
    const { code, entries } = errorsOf(r);
    expect(code).toBe('SCHEMA_VALIDATION_FAILED');
    expect(entries.map((x) => x.index)).toEqual([1, 2, 3, 4, 5]);
    expect(entries.every((x) => x.code === 'SCHEMA_VALIDATION_FAILED')).toBe(true);
    expect(r.body.errors?.[0]?.message).toContain('inputs[1].eventType');
    expect(totalRecords(h)).toBe(0);
  });

  it('eventId: null means absent (the server assigns one), as GraphQL coercion allowed', async () => {
    const h = await harness();
    const r = await h.gql(PUBLISH_MANY, { inputs: [sensorEvent({ eventId: null }), sensorEvent({ eventId: 'given' })] });
    expect(r.body.errors).toBeUndefined();
    const receipts = (r.body.data as { publishEvents: { status: string; eventId: string }[] }).publishEvents;
    expect(receipts[0]!.eventId).toMatch(/^[0-9a-f-]{36}$/);
    expect(receipts[1]!.eventId).toBe('given');
    expect(totalRecords(h)).toBe(2);
  });

  it('a list variable that is not a list, or null, is refused by GraphQL as before', async () => {
    const h = await harness();
    expect(errorsOf(await h.gql(PUBLISH_MANY, { inputs: null })).code).toBe('SCHEMA_VALIDATION_FAILED');
    // a single object where a list is expected is coerced to a list of one, as GraphQL does
    const one = await h.gql(PUBLISH_MANY, { inputs: sensorEvent({ eventId: 'single' }) });
    expect(one.body.errors).toBeUndefined();
    expect(totalRecords(h)).toBe(1);
  });

  it('the same batch inline and through variables gives the same receipts and records', async () => {
    const h = await harness();
    const events = [sensorEvent({ eventId: 'same-1', payload: { value: 2, tags: ['a', 'b'], nested: { x: null } } }), sensorEvent({ eventId: 'same-2', userId: 'u-1', metadata: { src: 'm' } })];
    const viaVars = await h.gql(PUBLISH_MANY, { inputs: events });
    expect(viaVars.body.errors).toBeUndefined();
    const stored = h.log.records('events.iot.sensors').map((r) => JSON.parse(new TextDecoder().decode(r.value)));
    const h2 = await harness();
    const lit = (v: unknown): string =>
      Array.isArray(v) ? `[${v.map(lit).join(' ')}]` : v !== null && typeof v === 'object' ? `{ ${Object.entries(v).map(([k, x]) => `${k}: ${lit(x)}`).join(' ')} }` : JSON.stringify(v);
    const inline = await h2.gql(`mutation { publishEvents(inputs: ${lit(events)}) { status eventId topic partition offset timestamp } }`);
    expect(inline.body.errors).toBeUndefined();
    expect(inline.body.data).toEqual(viaVars.body.data);
    expect(h2.log.records('events.iot.sensors').map((r) => JSON.parse(new TextDecoder().decode(r.value)))).toEqual(stored);
  });
});

describe('bracket nesting bound of the token limit', () => {
  it('counts brackets outside strings and comments only', () => {
    expect(nestsDeeperThan('{ a { b { c } } }', 3)).toBe(false);
    expect(nestsDeeperThan('{ a { b { c { d } } } }', 3)).toBe(true);
    expect(nestsDeeperThan(`{ a(s: "${'{'.repeat(100)}") }`, 3)).toBe(false);
    expect(nestsDeeperThan(`{ a(s: "\\"${'['.repeat(100)}") }`, 3)).toBe(false);
    expect(nestsDeeperThan(`{ a(s: """${'('.repeat(100)} \\""" ${'{'.repeat(9)}""") }`, 3)).toBe(false);
    expect(nestsDeeperThan(`# ${'{'.repeat(100)}\n{ a }`, 3)).toBe(false);
  });
});
