/** GraphiQL is served with every asset inline (no CDN), opens with the README's operations, and can be turned off. */
import { parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import { EXAMPLE_OPERATIONS } from '../../src/graphql/graphiql.ts';
import { buildSchema } from '../../src/graphql/schema/index.ts';
import { createHarness } from '../helpers/graphql-harness.ts';

/** Every URL the page would fetch by itself: src/href attributes, CSS url(), @import, script imports. */
function externalReferences(html: string): string[] {
  const refs: string[] = [];
  const patterns = [/\b(?:src|href)\s*=\s*["']?(https?:)?\/\/[^"'\s>]+/gi, /url\(\s*["']?(?:https?:)?\/\/[^)"']+/gi, /@import\s+["'](?:https?:)?\/\/[^"']+/gi, /\bimport\s*\(\s*["'](?:https?:)?\/\/[^"']+/gi];
  for (const p of patterns) for (const m of html.matchAll(p)) refs.push(m[0]);
  return refs;
}

describe('GraphiQL', () => {
  it('is one page with every asset inline: no script, style, font or worker from another origin', async () => {
    const h = await createHarness();
    const r = await h.server.yoga.fetch('http://yoga/graphql', { headers: { accept: 'text/html' } });
    expect(r.status).toBe(200);
    const html = await r.text();
    expect(html).toContain('keyflow GraphiQL');
    expect(html).not.toMatch(/unpkg\.com|jsdelivr|cdnjs|esm\.sh/);
    expect(externalReferences(html)).toEqual([]);
    // the README walk-through's operations are the default tabs
    for (const op of EXAMPLE_OPERATIONS) expect(html).toContain(JSON.stringify(op.query).slice(1, 40));
    await h.close();
  });

  it('the example operations are valid against the served schema', () => {
    const schema = buildSchema();
    for (const op of EXAMPLE_OPERATIONS) expect(validate(schema, parse(op.query)).map((e) => e.message), op.title).toEqual([]);
  });

  it('graphiql: false serves no page (a browser GET gets no HTML)', async () => {
    const h = await createHarness({ graphiql: false });
    const r = await h.server.yoga.fetch('http://yoga/graphql', { headers: { accept: 'text/html' } });
    expect(r.headers.get('content-type') ?? '').not.toMatch(/text\/html/);
    expect(await r.text()).not.toMatch(/graphiql/i);
    await h.close();
  });
});
