/**
 * The token limit follows the batch limit: an inline publishEvents of KEYFLOW_MAX_BATCH events
 * (values written in the document, as the README shows) is accepted, one event more is refused
 * with BATCH_TOO_LARGE (not a token error), and every other document keeps the small limit.
 */
import { Lexer, Source, TokenKind } from 'graphql';
import { afterEach, describe, expect, it } from 'vitest';
import { tokenLimit } from '../../src/graphql/plugins/use-token-limit.ts';
import { createHarness, type Harness, type HarnessOptions, sensorEvent } from '../helpers/graphql-harness.ts';

const harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses.splice(0)) await h.close();
});

async function harness(options: HarnessOptions = {}): Promise<Harness> {
  const h = await createHarness(options);
  harnesses.push(h);
  return h;
}

/** A GraphQL input literal of a JS value (object keys unquoted). */
function literal(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(literal).join(', ')}]`;
  if (v !== null && typeof v === 'object') return `{ ${Object.entries(v).map(([k, x]) => `${k}: ${literal(x)}`).join(', ')} }`;
  return JSON.stringify(v);
}

function inlineBatch(events: unknown[]): string {
  return `mutation { publishEvents(inputs: ${literal(events)}) { status eventId } }`;
}

/** Lexical tokens of a GraphQL text, as the parser counts them (no comments, no SOF/EOF). */
function countTokens(text: string): number {
  const lexer = new Lexer(new Source(text));
  let n = 0;
  while (lexer.advance().kind !== TokenKind.EOF) n++;
  return n;
}

function totalRecords(h: Harness): number {
  let n = 0;
  for (const t of h.services.registry.all()) n += h.log.records(t.topic).length;
  return n;
}

describe('token limit sized by the batch limit', () => {
  it('an inline publishEvents of KEYFLOW_MAX_BATCH (1000) events is accepted; 1001 are refused with BATCH_TOO_LARGE', async () => {
    const h = await harness();
    const events = Array.from({ length: 1001 }, (_, i) => sensorEvent({ eventId: `inline-${i}`, deviceId: `dev-${i % 17}`, payload: { value: i, unit: 'C' } }));
    const ok = await h.gql(inlineBatch(events.slice(0, 1000)));
    expect(ok.body.errors, JSON.stringify(ok.body.errors)?.slice(0, 500)).toBeUndefined();
    const receipts = (ok.body.data as { publishEvents: { status: string; eventId: string }[] }).publishEvents;
    expect(receipts).toHaveLength(1000);
    expect(receipts.every((r) => r.status === 'ACCEPTED')).toBe(true);
    expect(totalRecords(h)).toBe(1000);

    const tooMany = await h.gql(inlineBatch(events.map((e, i) => ({ ...e, eventId: `more-${i}` }))));
    expect(tooMany.body.errors?.[0]?.extensions.code).toBe('BATCH_TOO_LARGE');
    expect(totalRecords(h)).toBe(1000);
  });

  it('a batch of maxBatch events of maxTokensPerEvent tokens each passes; the limits cannot contradict', async () => {
    const maxBatch = 40;
    const maxTokensPerEvent = 60;
    const h = await harness({ maxBatch, maxTokensPerEvent, maxQueryTokens: 100 });
    // each event padded to exactly maxTokensPerEvent tokens: `metadata: { pad: [ … ] }` is 8 tokens plus the list items (commas are no tokens)
    const event = (i: number) => {
      const base = sensorEvent({ eventId: `pad-${i}`, payload: { value: i } });
      const baseTokens = countTokens(literal(base));
      const pad = Array.from({ length: maxTokensPerEvent - baseTokens - 8 }, () => 1);
      return { ...base, metadata: { pad } };
    };
    const one = literal(event(0));
    expect(countTokens(one)).toBe(maxTokensPerEvent);
    const events = Array.from({ length: maxBatch }, (_, i) => event(i));
    const doc = inlineBatch(events);
    expect(countTokens(doc)).toBe(countTokens(inlineBatch([])) + maxBatch * maxTokensPerEvent);
    const r = await h.gql(doc);
    expect(r.body.errors, JSON.stringify(r.body.errors)?.slice(0, 500)).toBeUndefined();
    expect(totalRecords(h)).toBe(maxBatch);
  });

  it('other documents keep the small limit: a token bomb outside the events is QUERY_TOO_COMPLEX', async () => {
    const h = await harness({ maxQueryTokens: 2000 });
    expect(tokenLimit({ maxQueryTokens: 2000, maxBatch: 1000, maxTokensPerEvent: 200 })).toBe(202_000);
    const bomb = await h.gql(`{ topics { ${'name '.repeat(3000)} } }`);
    expect(bomb.status).toBe(400);
    expect(bomb.body.errors?.[0]?.extensions.code).toBe('QUERY_TOO_COMPLEX');
    // the same tokens beside a small inline batch: still refused (inline events do not lend their budget)
    const mixed = await h.gql(`mutation { publishEvents(inputs: ${literal([sensorEvent({ eventId: 'mixed' })])}) { status ${'eventId '.repeat(3000)} } }`);
    expect(mixed.body.errors?.[0]?.extensions.code).toBe('QUERY_TOO_COMPLEX');
    expect(totalRecords(h)).toBe(0);
  });

  it('a document past the whole limit is refused while parsing, QUERY_TOO_COMPLEX', async () => {
    const h = await harness({ maxBatch: 5, maxTokensPerEvent: 50, maxQueryTokens: 100 });
    const huge = sensorEvent({ payload: { list: Array.from({ length: 2000 }, () => 1) } });
    const r = await h.gql(inlineBatch([huge]));
    expect(r.body.errors?.[0]?.extensions.code, JSON.stringify(r.body.errors)).toBe('QUERY_TOO_COMPLEX');
    expect(r.body.errors?.[0]?.message).toMatch(/Token limit of 350 exceeded/);
    // the same event through variables is not counted in tokens
    const viaVars = await h.gql('mutation($i: [EventInput!]!) { publishEvents(inputs: $i) { status } }', { i: [{ ...huge, eventId: 'vars' }] });
    expect(viaVars.body.errors).toBeUndefined();
    expect(totalRecords(h)).toBe(1);
  });
});
