/**
 * The schema store contract (`src/schemas/store.ts`): every adapter (the data-dir file, the log
 * topic) runs this suite. `open` returns a store on one shared backing — a second node's view of
 * it. Besides the store itself, registries on different nodes that register at the same instant
 * must end with the same subjects, versions and ids (claim-and-read-back).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createSchemaRegistry, type SchemaClaim, type SchemaRegistry, type SchemaStore } from '../../src/schemas/index.ts';

export interface SchemaStoreFixture {
  /** A store on the shared backing (another node's, each call). */
  open(): SchemaStore;
  cleanup(): Promise<void>;
}

const claim = (subject: string, n: number): SchemaClaim => ({
  subject,
  schemaType: 'AVRO',
  schema: JSON.stringify({ type: 'record', name: 'R', fields: [{ name: `f${n}`, type: 'int' }] }),
  claimId: `${subject}-${n}-${Math.random()}`,
  claimedAt: new Date(1_700_000_000_000 + n).toISOString(),
});

const record = (fields: { name: string; type: unknown; default?: unknown }[]) => JSON.stringify({ type: 'record', name: 'Order', fields });

/** What a registry knows, comparable across nodes. */
function snapshot(r: SchemaRegistry): unknown {
  return r
    .subjects()
    .sort()
    .map((s) => [s, r.versions(s).map((v) => [v.version, v.id, v.codec.canonical])]);
}

export function describeSchemaStoreContract(name: string, makeFixture: () => Promise<SchemaStoreFixture>): void {
  describe(`SchemaStore contract: ${name}`, () => {
    let fx: SchemaStoreFixture;
    beforeAll(async () => {
      fx = await makeFixture();
    });
    afterAll(async () => {
      await fx?.cleanup();
    });

    it('starts empty', async () => {
      expect(await fx.open().readFrom(0)).toEqual([]);
    });

    it('claims are read back by another node in position order, from any position', async () => {
      const a = fx.open();
      const c1 = claim('alpha-value', 1);
      const c2 = claim('alpha-value', 2);
      const p1 = await a.append(c1);
      const p2 = await a.append(c2);
      expect(p2).toBeGreaterThan(p1);
      const b = fx.open();
      expect(await b.readFrom(0)).toEqual([
        { position: p1, claim: c1 },
        { position: p2, claim: c2 },
      ]);
      expect(await b.readFrom(p2)).toEqual([{ position: p2, claim: c2 }]);
      expect(await b.readFrom(p2 + 1)).toEqual([]);
    });

    it('concurrent claims from several nodes are all kept, each at its own position', async () => {
      const stores = [fx.open(), fx.open(), fx.open()];
      const claims = stores.flatMap((_, i) => [claim(`c${i}-value`, 10 + i), claim(`c${i}-value`, 20 + i)]);
      const positions = await Promise.all(claims.map((c, i) => stores[i % 3]!.append(c)));
      expect(new Set(positions).size).toBe(claims.length);
      const all = await fx.open().readFrom(0);
      for (const [i, c] of claims.entries()) expect(all.find((x) => x.position === positions[i])?.claim).toEqual(c);
    });

    it('two nodes registering different versions of one subject at the same instant agree on the outcome', async () => {
      const clock = createSimulatedClock(1_700_000_000_000);
      const nodes = [0, 1, 2].map(() => createSchemaRegistry({ store: fx.open(), clock, logger: silentLogger() }));
      const base = [{ name: 'id', type: 'string' }];
      await nodes[0]!.register('race-value', { schema: record(base) });
      await Promise.all(nodes.map((n) => n.refresh()));
      // each compatible with v1, but b and c are not compatible with each other's order: both add the
      // same field name with different types
      const b = record([...base, { name: 'x', type: 'int', default: 0 }]);
      const c = record([...base, { name: 'x', type: 'string', default: '' }]);
      const outcomes = await Promise.allSettled([nodes[1]!.register('race-value', { schema: b }), nodes[2]!.register('race-value', { schema: c })]);
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      const lost = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
      expect(won).toHaveLength(1);
      expect(lost.map((l) => (l.reason as { code?: string }).code)).toEqual(['SCHEMA_INCOMPATIBLE']);
      await Promise.all(nodes.map((n) => n.refresh()));
      const views = nodes.map(snapshot);
      expect(views[1]).toEqual(views[0]);
      expect(views[2]).toEqual(views[0]);
      expect(nodes[0]!.versions('race-value').map((v) => v.version)).toEqual([1, 2]);
      expect(nodes[0]!.versions('race-value')[1]!.id).toBe((won[0] as PromiseFulfilledResult<{ id: number }>).value.id);
    });
  });
}
