/**
 * The event-type store contract (`src/types/store.ts`): every adapter (the data-dir file, the
 * compacted log topic) runs this suite. `open` returns a store on one shared backing — a second
 * node's view of it — so a registration made through one is read by the other.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EventTypeStore, StoredEventType } from '../../src/types/index.ts';

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
  });
}
