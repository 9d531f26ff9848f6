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

/** A group: partition counts, the members, and what each owned before (possibly stale or conflicting). */
const groupArb = fc
  .record({
    counts: fc.tuple(fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 1, max: 13 })),
    memberIds: fc.uniqueArray(fc.string({ minLength: 1, maxLength: 6 }), { minLength: 1, maxLength: 7 }),
    // previous owner per partition: an index into memberIds (owner may have left: index beyond the list) or none
    owners: fc.array(fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }), { minLength: 40, maxLength: 40 }),
    // extra stale claims: partitions that no longer exist, or claimed twice
    stale: fc.array(fc.record({ member: fc.integer({ min: 0, max: 6 }), topic: fc.constantFrom(...TOPICS), partition: fc.integer({ min: 0, max: 20 }) }), {
      maxLength: 5,
    }),
  })
  .map(({ counts, memberIds, owners, stale }) => {
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
    const members: StickyMember[] = memberIds.map((memberId, k) => ({ memberId, topics: TOPICS, owned: owned[k]! }));
    return { partitionCounts, members };
  });

function flatten(a: TopicAssignment | undefined): string[] {
  const out: string[] = [];
  for (const [t, ps] of Object.entries(a ?? {})) for (const p of ps) out.push(`${t}/${p}`);
  return out;
}

/** Valid, de-duplicated prior ownership, as the assigner must interpret it (first claimer in memberId order wins). */
function validOwned(members: StickyMember[], counts: Map<string, number>): Map<string, Set<string>> {
  const seen = new Set<string>();
  const result = new Map<string, Set<string>>();
  for (const m of [...members].sort((x, y) => (x.memberId < y.memberId ? -1 : x.memberId > y.memberId ? 1 : 0))) {
    const mine = new Set<string>();
    for (const [t, ps] of Object.entries(m.owned)) {
      for (const p of ps) {
        const id = `${t}/${p}`;
        if (p >= (counts.get(t) ?? 0) || seen.has(id)) continue;
        seen.add(id);
        mine.add(id);
      }
    }
    result.set(m.memberId, mine);
  }
  return result;
}

describe('sticky partition assigner', () => {
  it('assigns every partition exactly once, balanced (max − min ≤ 1), with the fewest moves', () => {
    // Feature: keyflow, Property 18: Rebalancing data integrity (every partition has exactly one owner after a rebalance; owners keep what they can)
    fc.assert(
      fc.property(groupArb, ({ partitionCounts, members }) => {
        const plan = assignSticky(members, partitionCounts);
        const total = [...partitionCounts.values()].reduce((s, n) => s + n, 0);

        // exactly once
        const all = members.flatMap((m) => flatten(plan.get(m.memberId)));
        expect(all.length).toBe(total);
        expect(new Set(all).size).toBe(total);
        for (const id of all) {
          const [t, p] = id.split('/');
          expect(Number(p)).toBeLessThan(partitionCounts.get(t!)!);
        }

        // balanced
        const sizes = members.map((m) => flatten(plan.get(m.memberId)).length);
        expect(Math.max(...sizes) - Math.min(...sizes)).toBeLessThanOrEqual(1);

        // minimal movement: a remaining owner loses partitions only beyond its fair share, and the
        // number moved equals the least any balanced assignment needs
        const base = Math.floor(total / members.length);
        const extra = total % members.length;
        const before = validOwned(members, partitionCounts);
        let moved = 0;
        let over = 0;
        let overMembers = 0;
        for (const m of members) {
          const had = before.get(m.memberId)!;
          const now = new Set(flatten(plan.get(m.memberId)));
          const keptCount = [...had].filter((id) => now.has(id)).length;
          expect(keptCount).toBeGreaterThanOrEqual(Math.min(had.size, base));
          moved += had.size - keptCount;
          if (had.size > base) {
            over += had.size - base;
            overMembers++;
          }
        }
        expect(moved).toBe(over - Math.min(extra, overMembers));
      }),
      { numRuns: 300 },
    );
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
