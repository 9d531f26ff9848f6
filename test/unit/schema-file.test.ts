/** schema.graphql at the repository root is the SDL the server prints; `npm run schema` regenerates it. */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { printServedSchema } from '../../src/cli/schema.ts';

const FILE = fileURLToPath(new URL('../../schema.graphql', import.meta.url));

describe('schema.graphql', () => {
  it('equals the printed schema', async () => {
    const committed = readFileSync(FILE, 'utf8');
    const printed = await printServedSchema();
    if (committed !== printed) {
      expect.fail('schema.graphql differs from the schema the server prints: run `npm run schema` and commit the result');
    }
    expect(committed).toContain('type Query {');
  });
});
