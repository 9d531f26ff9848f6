/**
 * The Redis results store packs one commit's finals of an actor into one hash field; reading the
 * fields back must give every window's latest row, whatever the ids and data contain.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { FinalWrite } from '../../src/state/index.ts';
import { groupFinals, unpackFinalFields } from '../../src/state/redis/checkpoints.ts';

/** Stores `commits` the way the commit script does: per actor and commit one field `<n>:<latest end>`. */
function store(commits: FinalWrite[][]): Map<string, Record<string, string>> {
  const hashes = new Map<string, Record<string, string>>();
  for (const finals of commits) {
    const g = groupFinals(finals);
    for (let i = 0; i < g.actors.length; i++) {
      const h = hashes.get(g.actors[i]!) ?? { '#': '0' };
      const n = Number(h['#']) + 1;
      h['#'] = String(n);
      h[`${n}:${g.latestEnds[i]}`] = g.packed[i]!;
      hashes.set(g.actors[i]!, h);
    }
  }
  return hashes;
}

const final = fc.record({
  actor: fc.constantFrom('a', 'b', '__proto__', 'x:y,1'),
  id: fc.string({ maxLength: 12 }),
  windowEnd: fc.integer({ min: 0, max: 2 ** 45 }),
  data: fc.string({ maxLength: 20, unit: 'binary' }),
});

describe('Redis finals packing', () => {
  it('property: reading the packed fields gives, per actor, the latest row of every id', () => {
    fc.assert(
      fc.property(fc.array(fc.array(final, { maxLength: 12 }), { maxLength: 6 }), (commits) => {
        const hashes = store(commits);
        const expected = new Map<string, Map<string, string>>();
        for (const f of commits.flat()) {
          const m = expected.get(f.actor) ?? new Map<string, string>();
          m.set(f.id, f.data);
          expected.set(f.actor, m);
        }
        for (const [actor, m] of expected) {
          expect(unpackFinalFields(hashes.get(actor)!, actor).sort()).toEqual([...m.values()].sort());
        }
        for (const actor of hashes.keys()) expect(expected.has(actor)).toBe(true);
      }),
      { numRuns: 200 },
    );
  });

  it('records the latest window end of each actor in the commit', () => {
    const g = groupFinals([
      { actor: 'a', id: 'w|0', windowEnd: 60_000, data: '1' },
      { actor: 'b', id: 'w|0', windowEnd: 10, data: '2' },
      { actor: 'a', id: 'w|1', windowEnd: 120_000, data: '3' },
      { actor: 'a', id: 'w|2', windowEnd: 90_000, data: '4' },
    ]);
    expect(g.actors).toEqual(['a', 'b']);
    expect(g.latestEnds).toEqual([120_000, 10]);
  });

  it('rejects a damaged field with CORRUPT_RECORD instead of returning half of it', () => {
    expect(() => unpackFinalFields({ '1:5': '3,4:w|0abc' }, 'dev')).toThrow(expect.objectContaining({ code: 'CORRUPT_RECORD' }));
  });
});
