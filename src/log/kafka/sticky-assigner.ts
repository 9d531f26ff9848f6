/**
 * A sticky partition assigner for kafkajs (which ships only round-robin). Every member sends the
 * partitions it owns now in its join metadata (`userData`); the group leader balances every topic
 * across its subscribers and keeps each partition with its owner while that owner is still a member
 * and within its quota for the topic. A partition that stays put keeps its actors' state in memory;
 * a moved one costs a checkpoint load and a replay.
 */
import type { PartitionAssigner } from 'kafkajs';
import { AssignerProtocol } from 'kafkajs';

/** Partitions per topic, e.g. `{ 'events.iot.sensors': [0, 3, 7] }`. */
export type TopicAssignment = Record<string, number[]>;

export interface StickyMember {
  memberId: string;
  /** Topics the member subscribes to. */
  topics: readonly string[];
  /** What the member owned in the previous generation (from its userData). */
  owned: TopicAssignment;
}

/** The kafkajs protocol name; every member of a group must offer it. */
export const STICKY_PROTOCOL = 'keyflow-sticky';
const VERSION = 1;

function byId(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Per-topic working state of one assignment round. */
interface TopicPlan {
  topic: string;
  count: number;
  /** Subscribers, in memberId order. */
  subscribers: StickyMember[];
  base: number;
  /** How many subscribers get `base + 1`. */
  extra: number;
  /** Valid, de-duplicated prior ownership per subscriber, ascending. */
  kept: Map<string, number[]>;
  /** Subscribers granted `base + 1`. */
  plusOne: Set<string>;
}

/**
 * Assigns the partitions of the given topics (`partitionCounts`: topic → partition count) to the
 * members. Guarantees:
 * - every partition of a topic that has at least one subscriber goes to exactly one subscriber;
 * - per topic, the subscribers' counts differ by at most one (`⌊P/N⌋`, and `⌊P/N⌋ + 1` for
 *   `P mod N` of them) — balancing per topic, not only in total, is what spreads load when it sits
 *   on one topic;
 * - a partition whose owner is still a subscriber stays with it unless the owner holds more of that
 *   topic than its new quota; the `+1` quotas go first to owners already above `⌊P/N⌋`, so a topic
 *   moves the fewest partitions a balanced assignment allows;
 * - where that leaves a choice, the `+1` quotas go to the members with the least total, so totals
 *   stay balanced too (from scratch, with equal subscriptions: max − min ≤ 1).
 */
export function assignSticky(members: readonly StickyMember[], partitionCounts: ReadonlyMap<string, number>): Map<string, TopicAssignment> {
  const sorted = [...members].sort((a, b) => byId(a.memberId, b.memberId));
  const result = new Map<string, TopicAssignment>();
  if (sorted.length === 0) return result;

  // 1. per topic: subscribers, quotas, and what each subscriber still legitimately owns
  //    (a partition claimed twice goes to the first claimer in memberId order)
  const plans: TopicPlan[] = [];
  for (const [topic, count] of [...partitionCounts].sort((a, b) => byId(a[0], b[0]))) {
    const subscribers = sorted.filter((m) => m.topics.includes(topic));
    if (subscribers.length === 0 || count <= 0) continue;
    const claimed = new Set<number>();
    const kept = new Map<string, number[]>();
    for (const m of subscribers) {
      const mine: number[] = [];
      const owned = Object.hasOwn(m.owned, topic) ? m.owned[topic]! : [];
      for (const p of [...new Set(owned)].sort((a, b) => a - b)) {
        if (!Number.isInteger(p) || p < 0 || p >= count || claimed.has(p)) continue;
        claimed.add(p);
        mine.push(p);
      }
      kept.set(m.memberId, mine);
    }
    const base = Math.floor(count / subscribers.length);
    plans.push({ topic, count, subscribers, base, extra: count % subscribers.length, kept, plusOne: new Set() });
  }

  // 2. the `+1` quotas. Owners above `base` have first claim (each one granted saves a move). When
  //    all of them fit, they are fixed; what is left to choose goes to the least-loaded members.
  const load = new Map<string, number>(sorted.map((m) => [m.memberId, 0]));
  const overOf = (plan: TopicPlan): StickyMember[] => plan.subscribers.filter((m) => plan.kept.get(m.memberId)!.length > plan.base);
  for (const plan of plans) {
    for (const m of plan.subscribers) load.set(m.memberId, load.get(m.memberId)! + plan.base);
    const over = overOf(plan);
    if (over.length <= plan.extra) {
      for (const m of over) {
        plan.plusOne.add(m.memberId);
        load.set(m.memberId, load.get(m.memberId)! + 1);
      }
    }
  }
  const grant = (plan: TopicPlan, candidates: StickyMember[], n: number): void => {
    // stable sort: ties keep memberId order
    const chosen = [...candidates].sort((a, b) => load.get(a.memberId)! - load.get(b.memberId)!).slice(0, n);
    for (const m of chosen) {
      plan.plusOne.add(m.memberId);
      load.set(m.memberId, load.get(m.memberId)! + 1);
    }
  };
  // constrained choices (more owners above base than `+1` quotas) before free ones
  for (const plan of plans) {
    const over = overOf(plan);
    if (over.length > plan.extra) grant(plan, over, plan.extra);
  }
  for (const plan of plans) {
    const left = plan.extra - plan.plusOne.size;
    if (left > 0) grant(plan, plan.subscribers.filter((m) => !plan.plusOne.has(m.memberId)), left);
  }

  // 3. owners keep up to their quota; the released and unowned partitions fill the others up
  const out = new Map<string, Array<[string, number[]]>>(sorted.map((m) => [m.memberId, []]));
  for (const plan of plans) {
    const held = new Set<number>();
    const mine = new Map<string, number[]>();
    for (const m of plan.subscribers) {
      const quota = plan.base + (plan.plusOne.has(m.memberId) ? 1 : 0);
      const keep = plan.kept.get(m.memberId)!.slice(0, quota);
      for (const p of keep) held.add(p);
      mine.set(m.memberId, keep);
    }
    let next = 0;
    for (const m of plan.subscribers) {
      const quota = plan.base + (plan.plusOne.has(m.memberId) ? 1 : 0);
      const list = mine.get(m.memberId)!;
      while (list.length < quota) {
        while (held.has(next)) next++;
        held.add(next);
        list.push(next);
      }
      if (list.length > 0) out.get(m.memberId)!.push([plan.topic, list.sort((a, b) => a - b)]);
    }
  }

  for (const m of sorted) result.set(m.memberId, Object.fromEntries(out.get(m.memberId)!));
  return result;
}

/** Encodes what a member owns for its join metadata. */
export function encodeOwned(owned: TopicAssignment): Buffer {
  return Buffer.from(JSON.stringify(owned), 'utf8');
}

/** Decodes a member's userData; anything unreadable (another client, an old version) counts as owning nothing. */
export function decodeOwned(userData: Buffer | null | undefined): TopicAssignment {
  if (userData === null || userData === undefined || userData.length === 0) return {};
  try {
    const parsed: unknown = JSON.parse(userData.toString('utf8'));
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return {};
    // fromEntries defines own properties, so a topic named `__proto__` (legal in Kafka) survives
    const entries: Array<[string, number[]]> = [];
    for (const [topic, parts] of Object.entries(parsed as Record<string, unknown>)) {
      if (Array.isArray(parts)) entries.push([topic, parts.filter((p): p is number => typeof p === 'number')]);
    }
    return Object.fromEntries(entries);
  } catch {
    return {};
  }
}

/**
 * The kafkajs `partitionAssigners` entry. `currentAssignment` is read when the member joins, so the
 * leader learns what each member owns in the generation that is ending.
 *
 * @example
 * kafka.consumer({ groupId, partitionAssigners: [createStickyAssigner(() => owned)] })
 */
export function createStickyAssigner(currentAssignment: () => TopicAssignment): PartitionAssigner {
  return ({ cluster }) => ({
    name: STICKY_PROTOCOL,
    version: VERSION,
    async assign({ members, topics }) {
      const counts = new Map<string, number>();
      for (const topic of topics) counts.set(topic, cluster.findTopicPartitionMetadata(topic).length);
      const decoded: StickyMember[] = members.map(({ memberId, memberMetadata }) => {
        const meta = AssignerProtocol.MemberMetadata.decode(memberMetadata);
        return { memberId, topics: meta?.topics ?? topics, owned: decodeOwned(meta?.userData) };
      });
      const plan = assignSticky(decoded, counts);
      return decoded.map(({ memberId }) => ({
        memberId,
        memberAssignment: AssignerProtocol.MemberAssignment.encode({
          version: VERSION,
          assignment: plan.get(memberId) ?? {},
          userData: Buffer.alloc(0),
        }),
      }));
    },
    protocol({ topics }) {
      return {
        name: STICKY_PROTOCOL,
        metadata: AssignerProtocol.MemberMetadata.encode({ version: VERSION, topics, userData: encodeOwned(currentAssignment()) }),
      };
    },
  });
}
