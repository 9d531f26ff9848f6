/** Subscription execution shared between subscribers: one execution per live item and operation. */
import { GraphQLInt, GraphQLObjectType, GraphQLSchema, GraphQLString, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import { subscribeShared } from '../../src/graphql/shared-execution.ts';

function setup() {
  let executions = 0;
  const sources: ((item: unknown) => void)[] = [];
  const Item = new GraphQLObjectType({ name: 'Item', fields: { n: { type: GraphQLInt }, s: { type: GraphQLString } } });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({ name: 'Query', fields: { x: { type: GraphQLInt } } }),
    subscription: new GraphQLObjectType({
      name: 'Subscription',
      fields: {
        items: {
          type: Item,
          args: { plus: { type: GraphQLInt } },
          subscribe: () => {
            const queue: unknown[] = [];
            let wake: (() => void) | null = null;
            sources.push((item) => {
              queue.push(item);
              wake?.();
            });
            return (async function* () {
              for (;;) {
                if (queue.length === 0) await new Promise<void>((r) => (wake = r));
                yield queue.shift();
              }
            })();
          },
          resolve: (item: { n: number }, a: { plus?: number }) => {
            executions++;
            if (item.n < 0) throw new Error('negative');
            return { n: item.n + (a.plus ?? 0), s: `#${item.n}` };
          },
        },
      },
    }),
  });
  const sub = async (query: string, variables: Record<string, unknown> = {}) => {
    const it = (await subscribeShared({ schema, document: parse(query), variableValues: variables }, `${query}${JSON.stringify(variables)}`)) as AsyncIterableIterator<{
      data?: { items: { n: number } };
      errors?: unknown[];
    }>;
    return it;
  };
  const publish = (item: unknown) => {
    for (const s of sources) s(item);
  };
  return { sub, publish, executions: () => executions };
}

describe('shared subscription execution', () => {
  it('executes an item once per operation however many subscribers, and separately for another operation', async () => {
    const t = setup();
    const q = 'subscription($p: Int) { items(plus: $p) { n s } }';
    const subs = await Promise.all([t.sub(q, { p: 1 }), t.sub(q, { p: 1 }), t.sub(q, { p: 1 }), t.sub(q, { p: 10 })]);
    const first = { n: 1 };
    const second = { n: 2 };
    t.publish(first);
    t.publish(second);
    const got = await Promise.all(subs.map(async (s) => [(await s.next()).value.data.items.n, (await s.next()).value.data.items.n]));
    expect(got).toEqual([
      [2, 3],
      [2, 3],
      [2, 3],
      [11, 12],
    ]);
    // 2 items × 2 distinct operations, not 2 × 4 subscribers
    expect(t.executions()).toBe(4);
    await Promise.all(subs.map((s) => s.return!()));
  });

  it('a result with errors is not shared: each subscriber executes it', async () => {
    const t = setup();
    const q = 'subscription { items { n } }';
    const subs = await Promise.all([t.sub(q), t.sub(q)]);
    t.publish({ n: -1 });
    const results = await Promise.all(subs.map(async (s) => (await s.next()).value));
    expect(results.every((r) => (r.errors?.length ?? 0) > 0)).toBe(true);
    expect(t.executions()).toBe(2);
  });
});
