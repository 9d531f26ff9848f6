/**
 * The event-type store contract (`src/types/store.ts`): every adapter (the data-dir file, the
 * compacted log topic) runs this suite. `open` returns a store on one shared backing — a second
 * node's view of it — so a registration made through one is read by the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createEventTypeRegistry, definitionOf } from '../../src/model/index.ts';
import { createTypeCatalog, type EventTypeStore, type StoredEventType } from '../../src/types/index.ts';

export interface EventTypeStoreFixture {
  /** A store on the shared backing (another node's, each call). */
  open(): EventTypeStore;
  cleanup(): Promise<void>;
}

const entry = (name: string, version: number, over: Partial<StoredEventType['definition']> = {}): StoredEventType => ({
  definition: { name, topic: `events.${name}`, partitions: 3, valuePath: null, ...over },
  version,
  registeredAt: new Date(1_700_000_000_000 + version).toISOString(),
});

export function describeEventTypeStoreContract(name: string, makeFixture: () => Promise<EventTypeStoreFixture>): void {
  describe(`EventTypeStore contract: ${name}`, () => {
    let fx: EventTypeStoreFixture;
    beforeAll(async () => {
      fx = await makeFixture();
    });
    afterAll(async () => {
      await fx?.cleanup();
    });

    it('starts empty', async () => {
      expect(await fx.open().load()).toEqual([]);
    });

    it('a registration is read back by another node, with its definition as stored', async () => {
      const a = fx.open();
      const e = entry('alpha', 1, { keyPaths: ['payload.id'], schema: { type: 'object', properties: { id: { type: 'string' } } } });
      await a.put(e);
      const b = fx.open();
      expect(await b.load()).toEqual([e]);
      expect(await a.load()).toEqual([e]);
    });

    it('the latest registration of a type wins; others stay', async () => {
      const a = fx.open();
      const b = fx.open();
      expect(await b.load()).toHaveLength(1); // b has read alpha v1 before the change
      await a.put(entry('beta', 1));
      await a.put(entry('alpha', 2, { description: 'v2' }));
      const seen = await b.load();
      expect(seen.map((t) => [t.definition.name, t.version]).sort()).toEqual([
        ['alpha', 2],
        ['beta', 1],
      ]);
      expect(seen.find((t) => t.definition.name === 'alpha')?.definition.description).toBe('v2');
      expect(await fx.open().load()).toHaveLength(2);
    });

    it('concurrent registrations of different types are all kept', async () => {
      const stores = [fx.open(), fx.open(), fx.open()];
      await Promise.all(stores.map((s, i) => s.put(entry(`gamma-${i}`, 1))));
      const names = (await fx.open().load()).map((t) => t.definition.name);
      expect(names).toEqual(expect.arrayContaining(['gamma-0', 'gamma-1', 'gamma-2']));
    });

    it('the first claim of a version wins for every reader; a later claim of the same version is ignored', async () => {
      const a = fx.open();
      const b = fx.open();
      await a.put(entry('delta', 1, { description: 'first' }));
      await b.put(entry('delta', 1, { description: 'second' }));
      for (const s of [a, b, fx.open()]) expect((await s.load()).find((t) => t.definition.name === 'delta')?.definition.description).toBe('first');
      await b.put(entry('delta', 2, { description: 'v2' }));
      expect((await fx.open().load()).find((t) => t.definition.name === 'delta')?.version).toBe(2);
    });

    it('two nodes registering different definitions of one type at the same instant end with the same definition', async () => {
      const clock = createSimulatedClock(1_700_000_000_000);
      const nodes = [0, 1].map(() => {
        const registry = createEventTypeRegistry([]);
        return { registry, catalog: createTypeCatalog({ registry, store: fx.open(), log: { ensureTopics: async () => {} }, clock, logger: silentLogger() }) };
      });
      await Promise.all(nodes.map((n) => n.catalog.start()));
      const def = (description: string, schema?: Record<string, unknown>) => ({ name: 'epsilon', partitions: 2, description, ...(schema ? { schema } : {}) });
      // a description-only change is compatible; a schema where there was none is not
      const outcomes = await Promise.allSettled([
        nodes[0]!.catalog.register(def('from node 0')),
        nodes[1]!.catalog.register(def('from node 1', { type: 'object', required: ['x'] })),
      ]);
      expect(outcomes.some((o) => o.status === 'fulfilled')).toBe(true);
      for (const o of outcomes) if (o.status === 'rejected') expect((o.reason as { code?: string }).code).toBe('EVENT_TYPE_INCOMPATIBLE');
      await Promise.all(nodes.map((n) => n.catalog.refresh()));
      const views = nodes.map((n) => JSON.stringify(definitionOf(n.registry.resolve('epsilon')!)));
      expect(views[1]).toBe(views[0]);
      const stored = (await fx.open().load()).find((t) => t.definition.name === 'epsilon')!;
      expect(JSON.stringify(stored.definition)).toBe(views[0]);
      await Promise.all(nodes.map((n) => n.catalog.close()));
    });
  });
}
