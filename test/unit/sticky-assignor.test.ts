import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AssignerProtocol, type Cluster } from 'kafkajs';
import {
  assignSticky,
  createStickyAssigner,
  decodeOwned,
  encodeOwned,
  STICKY_PROTOCOL,
  type StickyMember,
  type TopicAssignment,
} from '../../src/log/kafka/sticky-assigner.ts';

const TOPICS = ['a', 'b', 'c'];

/**
 * A group: partition counts, the members with their subscriptions (all topics, or some), and what
 * each owned before (possibly stale, conflicting, or for a topic it no longer subscribes to).
 */
const groupArb = fc
  .record({
    counts: fc.tuple(fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 25 }), fc.integer({ min: 1, max: 13 })),
    memberIds: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 7 }),
    // per member: subscribes to everything, or to a subset (possibly empty)
    subs: fc.array(fc.option(fc.subarray(TOPICS), { nil: undefined, freq: 3 }), { minLength: 7, maxLength: 7 }),
    // previous owner per partition: an index into memberIds (owner may have left: index beyond the list) or none
    owners: fc.array(fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }), { minLength: 51, maxLength: 51 }),
    // extra stale claims: partitions that no longer exist, or claimed twice
    stale: fc.array(fc.record({ member: fc.integer({ min: 0, max: 6 }), topic: fc.constantFrom(...TOPICS), partition: fc.integer({ min: 0, max: 30 }) }), {
      maxLength: 5,
    }),
  })
  .map(({ counts, memberIds, subs, owners, stale }) => {
    const partitionCounts = new Map(TOPICS.map((t, i) => [t, counts[i]!] as const));
    const owned = memberIds.map(() => ({}) as TopicAssignment);
    let i = 0;
    for (const t of TOPICS) {
      for (let p = 0; p < partitionCounts.get(t)!; p++) {
        const o = owners[i++ % owners.length];
        if (o !== undefined && o < memberIds.length) (owned[o]![t] ??= []).push(p);
      }
    }
    for (const s of stale) {
      if (s.member < memberIds.length) (owned[s.member]![s.topic] ??= []).push(s.partition);
    }
    const members: StickyMember[] = memberIds.map((memberId, k) => ({ memberId, topics: subs[k] ?? TOPICS, owned: owned[k]! }));
    return { partitionCounts, members };
  });

/** The same, but every member subscribes to every topic. */
const uniformGroupArb = groupArb.map(({ partitionCounts, members }) => ({
  partitionCounts,
  members: members.map((m) => ({ ...m, topics: TOPICS })),
}));

function flatten(a: TopicAssignment | undefined): string[] {
  const out: string[] = [];
  for (const [t, ps] of Object.entries(a ?? {})) for (const p of ps) out.push(`${t}/${p}`);
  return out;
}

function byMemberId(x: StickyMember, y: StickyMember): number {
  return x.memberId < y.memberId ? -1 : x.memberId > y.memberId ? 1 : 0;
}

/**
 * Valid, de-duplicated prior ownership per member and topic, as the assigner must interpret it:
 * only subscribed topics, only existing partitions, first claimer in memberId order wins.
 */
function validOwned(members: StickyMember[], counts: Map<string, number>): Map<string, Map<string, Set<number>>> {
  const seen = new Set<string>();
  const result = new Map<string, Map<string, Set<number>>>();
  for (const m of [...members].sort(byMemberId)) {
    const mine = new Map<string, Set<number>>([...counts.keys()].map((t) => [t, new Set<number>()]));
    for (const [t, ps] of Object.entries(m.owned)) {
      if (!m.topics.includes(t)) continue;
      for (const p of ps) {
        const id = `${t}/${p}`;
        if (p >= (counts.get(t) ?? 0) || seen.has(id)) continue;
        seen.add(id);
        mine.get(t)!.add(p);
      }
    }
    result.set(m.memberId, mine);
  }
  return result;
}

/**
 * Checks the guarantees of `assignSticky` for one group; throws (via expect) on a violation. Shared
 * by the properties and the concrete cases so both check the same thing.
 */
function checkPlan(members: StickyMember[], partitionCounts: Map<string, number>, plan: Map<string, TopicAssignment>): void {
  const before = validOwned(members, partitionCounts);
  for (const t of partitionCounts.keys()) {
    const count = partitionCounts.get(t)!;
    const subscribers = members.filter((m) => m.topics.includes(t));
    const got = new Map(members.map((m) => [m.memberId, plan.get(m.memberId)?.[t] ?? []] as const));

    // exactly once: every partition of a subscribed topic has one owner, a subscriber; no strays
    const all = [...got.values()].flat();
    expect(new Set(all).size).toBe(all.length);
    for (const p of all) {
      expect(Number.isInteger(p) && p >= 0 && p < count).toBe(true);
    }
    expect(all.length).toBe(subscribers.length === 0 ? 0 : count);
    for (const m of members) if (!m.topics.includes(t)) expect(got.get(m.memberId)).toEqual([]);
    if (subscribers.length === 0) continue;

    // per-topic balance across the subscribers: max − min ≤ 1
    const sizes = subscribers.map((m) => got.get(m.memberId)!.length);
    expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);

    // stickiness: an owner keeps everything it had of the topic when that fits its new quota
    // (the number it now holds), and otherwise keeps a full quota of its own partitions
    const base = Math.floor(count / subscribers.length);
    const extra = count % subscribers.length;
    let moved = 0;
    let over = 0;
    let overMembers = 0;
    for (const m of subscribers) {
      const had = before.get(m.memberId)!.get(t)!;
      const now = got.get(m.memberId)!;
      const kept = now.filter((p) => had.has(p)).length;
      if (had.size <= now.length) expect(kept).toBe(had.size);
      expect(kept).toBe(Math.min(had.size, now.length));
      moved += had.size - kept;
      if (had.size > base) {
        over += had.size - base;
        overMembers++;
      }
    }
    // minimal movement: the `+1` quotas go to owners above base first, so exactly this many move
    expect(moved).toBe(over - Math.min(extra, overMembers));
  }
}

function totals(members: StickyMember[], plan: Map<string, TopicAssignment>): number[] {
  return members.map((m) => flatten(plan.get(m.memberId)).length);
}

describe('sticky partition assigner', () => {
  it('assigns every partition exactly once, balanced per topic (max − min ≤ 1), moving the fewest', () => {
    // Feature: keyflow, Property 18: Rebalancing data integrity (every partition has exactly one owner after a rebalance; each topic is balanced across its subscribers; owners keep what fits their quota)
    fc.assert(
      fc.property(groupArb, ({ partitionCounts, members }) => {
        checkPlan(members, partitionCounts, assignSticky(members, partitionCounts));
      }),
      { numRuns: 500 },
    );
  });

  it('from scratch with equal subscriptions, per-member totals are balanced too (the +1s are spread)', () => {
    // Feature: keyflow, Property 18: Rebalancing data integrity (a fresh group gets per-topic and total balance: max − min ≤ 1)
    fc.assert(
      fc.property(uniformGroupArb, ({ partitionCounts, members }) => {
        const fresh = members.map((m) => ({ ...m, owned: {} }));
        const plan = assignSticky(fresh, partitionCounts);
        checkPlan(fresh, partitionCounts, plan);
        const sizes = totals(fresh, plan);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);
      }),
      { numRuns: 200 },
    );
  });

  it('the three event topics (12/24/12) over two processors: 6/12/6 each, whatever they owned before', () => {
    const counts = new Map([
      ['events.iot.sensors', 12],
      ['events.clickstream', 24],
      ['events.transactions', 12],
    ]);
    const topics = [...counts.keys()];
    const range = (n: number) => Array.from({ length: n }, (_, i) => i);
    const expectSplit = (plan: Map<string, TopicAssignment>) => {
      for (const id of ['p1', 'p2']) {
        const a = plan.get(id)!;
        expect(a['events.iot.sensors']).toHaveLength(6);
        expect(a['events.clickstream']).toHaveLength(12);
        expect(a['events.transactions']).toHaveLength(6);
      }
    };

    const fresh: StickyMember[] = [
      { memberId: 'p1', topics, owned: {} },
      { memberId: 'p2', topics, owned: {} },
    ];
    const freshPlan = assignSticky(fresh, counts);
    expectSplit(freshPlan);
    checkPlan(fresh, counts, freshPlan);

    // the split a total-count balancer produced (24 + 24, one topic each side): p1 keeps its 12
    // clickstream halves, p2 keeps 6 sensors and 6 transactions, and only the 24 others move
    const skewed: StickyMember[] = [
      { memberId: 'p1', topics, owned: { 'events.clickstream': range(24) } },
      { memberId: 'p2', topics, owned: { 'events.iot.sensors': range(12), 'events.transactions': range(12) } },
    ];
    const plan = assignSticky(skewed, counts);
    expectSplit(plan);
    checkPlan(skewed, counts, plan);
    const moved = ['p1', 'p2'].reduce((n, id) => n + flatten(plan.get(id)).filter((x) => !flatten(skewed.find((m) => m.memberId === id)!.owned).includes(x)).length, 0);
    expect(moved).toBe(24);

    // a second processor joining a single one that owns everything takes half of each topic
    const solo = assignSticky([{ memberId: 'p1', topics, owned: {} }], counts);
    const joined = assignSticky(
      [
        { memberId: 'p1', topics, owned: solo.get('p1')! },
        { memberId: 'p2', topics, owned: {} },
      ],
      counts,
    );
    expectSplit(joined);
  });

  it('is stable: assigning again from its own result moves nothing', () => {
    // Feature: keyflow, Property 18: Rebalancing data integrity (a rebalance with the same members keeps every partition in place)
    fc.assert(
      fc.property(groupArb, ({ partitionCounts, members }) => {
        const first = assignSticky(members, partitionCounts);
        const again = assignSticky(
          members.map((m) => ({ ...m, owned: first.get(m.memberId) ?? {} })),
          partitionCounts,
        );
        for (const m of members) expect(again.get(m.memberId)).toEqual(first.get(m.memberId));
      }),
      { numRuns: 100 },
    );
  });

  it('a joining member takes only what balance requires; a leaving member’s partitions are spread', () => {
    const counts = new Map([['t', 12]]);
    const two = assignSticky(
      [
        { memberId: 'm1', topics: ['t'], owned: {} },
        { memberId: 'm2', topics: ['t'], owned: {} },
      ],
      counts,
    );
    expect(flatten(two.get('m1')).length).toBe(6);
    const three = assignSticky(
      [
        { memberId: 'm1', topics: ['t'], owned: two.get('m1')! },
        { memberId: 'm2', topics: ['t'], owned: two.get('m2')! },
        { memberId: 'm3', topics: ['t'], owned: {} },
      ],
      counts,
    );
    for (const id of ['m1', 'm2', 'm3']) expect(flatten(three.get(id)).length).toBe(4);
    for (const id of ['m1', 'm2']) {
      const kept = flatten(three.get(id)).filter((x) => flatten(two.get(id)).includes(x));
      expect(kept.length).toBe(4);
    }
    const afterLeave = assignSticky(
      [
        { memberId: 'm1', topics: ['t'], owned: three.get('m1')! },
        { memberId: 'm3', topics: ['t'], owned: three.get('m3')! },
      ],
      counts,
    );
    for (const id of ['m1', 'm3']) {
      expect(flatten(afterLeave.get(id)).length).toBe(6);
      expect(flatten(afterLeave.get(id))).toEqual(expect.arrayContaining(flatten(three.get(id))));
    }
  });

  it('only gives a topic’s partitions to members subscribed to it', () => {
    const plan = assignSticky(
      [
        { memberId: 'x', topics: ['a'], owned: { b: [0] } },
        { memberId: 'y', topics: ['a', 'b'], owned: {} },
      ],
      new Map([
        ['a', 2],
        ['b', 3],
      ]),
    );
    expect(plan.get('x')!.b).toBeUndefined();
    expect(plan.get('y')!.b).toEqual([0, 1, 2]);
  });

  it('round-trips ownership through userData and ignores garbage', () => {
    fc.assert(
      fc.property(fc.dictionary(fc.string({ minLength: 1 }), fc.array(fc.nat({ max: 1000 }))), (owned) => {
        expect(decodeOwned(encodeOwned(owned))).toEqual(owned);
      }),
      { numRuns: 100 },
    );
    // `__proto__` is a legal Kafka topic name; it must stay an ordinary key
    const proto = decodeOwned(Buffer.from('{"__proto__":[1,2],"a":[3]}'));
    expect(Object.keys(proto).sort()).toEqual(['__proto__', 'a']);
    const plan = assignSticky([{ memberId: 'm', topics: ['__proto__', 'toString'], owned: proto }], new Map([['__proto__', 2], ['toString', 1]]));
    expect(Object.keys(plan.get('m')!).sort()).toEqual(['__proto__', 'toString']);
    expect(decodeOwned(Buffer.from('not json'))).toEqual({});
    expect(decodeOwned(Buffer.from('[1,2]'))).toEqual({});
    expect(decodeOwned(null)).toEqual({});
  });

  it('works as a kafkajs partition assigner: protocol carries ownership, assign decodes it', async () => {
    let mine: TopicAssignment = { t: [1, 2] };
    const cluster = { findTopicPartitionMetadata: () => [0, 1, 2, 3].map((partitionId) => ({ partitionId, leader: 1 })) } as unknown as Cluster;
    const assigner = createStickyAssigner(() => mine)({ cluster, groupId: 'g', logger: undefined as never });
    expect(assigner.name).toBe(STICKY_PROTOCOL);
    const metaA = assigner.protocol({ topics: ['t'] }).metadata;
    mine = { t: [0] };
    const metaB = assigner.protocol({ topics: ['t'] }).metadata;
    const result = await assigner.assign({
      members: [
        { memberId: 'A', memberMetadata: metaA },
        { memberId: 'B', memberMetadata: metaB },
      ],
      topics: ['t'],
    });
    const decoded = Object.fromEntries(result.map((r) => [r.memberId, AssignerProtocol.MemberAssignment.decode(r.memberAssignment)?.assignment]));
    expect(decoded.A).toEqual({ t: [1, 2] });
    expect(decoded.B!.t).toEqual([0, 3]);
  });
});
