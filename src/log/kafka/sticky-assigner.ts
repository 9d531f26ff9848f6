/**
 * A sticky partition assigner for kafkajs (which ships only round-robin). Every member sends the
 * partitions it owns now in its join metadata (`userData`); the group leader keeps each partition
 * with its owner while that owner is still a member and balances only the rest. A partition that
 * stays put keeps its actors' state in memory; a moved one costs a checkpoint load and a replay.
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

function tpId(topic: string, partition: number): string {
  return `${topic}\u0000${partition}`;
}

/**
 * Assigns the partitions of the given topics (`partitionCounts`: topic → partition count) to the
 * members. Guarantees, when all members subscribe to the same topics: every partition goes to
 * exactly one member; member sizes differ by at most one; a partition whose owner is still a member
 * stays with it unless the owner holds more than its fair share (`⌊P/N⌋`, or one more for the
 * `P mod N` members that already hold the most) — which is the fewest moves a balanced
 * assignment allows. With different subscriptions, each partition goes only to subscribers.
 */
export function assignSticky(members: readonly StickyMember[], partitionCounts: ReadonlyMap<string, number>): Map<string, TopicAssignment> {
  const sorted = [...members].sort((a, b) => (a.memberId < b.memberId ? -1 : a.memberId > b.memberId ? 1 : 0));
  const result = new Map<string, TopicAssignment>();
  if (sorted.length === 0) return result;

  const all: Array<[string, number]> = [];
  for (const [topic, count] of [...partitionCounts].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0))) {
    if (!sorted.some((m) => m.topics.includes(topic))) continue;
    for (let p = 0; p < count; p++) all.push([topic, p]);
  }
  const total = all.length;
  const base = Math.floor(total / sorted.length);
  const extra = total % sorted.length;

  // 1. what each member still legitimately owns; a partition claimed twice goes to the first claimer
  const claimed = new Set<string>();
  const kept = new Map<string, Array<[string, number]>>();
  for (const m of sorted) {
    const mine: Array<[string, number]> = [];
    for (const topic of Object.keys(m.owned).sort()) {
      const count = partitionCounts.get(topic);
      if (count === undefined || !m.topics.includes(topic)) continue;
      for (const p of [...(m.owned[topic] ?? [])].sort((a, b) => a - b)) {
        if (!Number.isInteger(p) || p < 0 || p >= count) continue;
        const id = tpId(topic, p);
        if (claimed.has(id)) continue;
        claimed.add(id);
        mine.push([topic, p]);
      }
    }
    kept.set(m.memberId, mine);
  }

  // 2. caps: the `extra` members keeping the most may hold base + 1, the others base; the excess is released
  const byKept = [...sorted].sort((a, b) => kept.get(b.memberId)!.length - kept.get(a.memberId)!.length);
  for (let i = 0; i < byKept.length; i++) {
    const m = byKept[i]!;
    const cap = i < extra ? base + 1 : base;
    const mine = kept.get(m.memberId)!;
    while (mine.length > cap) {
      const [topic, p] = mine.pop()!;
      claimed.delete(tpId(topic, p));
    }
  }

  // 3. the rest, one at a time, to the least loaded subscriber
  const counts = new Map<string, number>();
  for (const m of sorted) counts.set(m.memberId, kept.get(m.memberId)!.length);
  for (const [topic, p] of all) {
    if (claimed.has(tpId(topic, p))) continue;
    let best: StickyMember | undefined;
    for (const m of sorted) {
      if (!m.topics.includes(topic)) continue;
      if (best === undefined || counts.get(m.memberId)! < counts.get(best.memberId)!) best = m;
    }
    if (best === undefined) continue;
    kept.get(best.memberId)!.push([topic, p]);
    counts.set(best.memberId, counts.get(best.memberId)! + 1);
  }

  for (const m of sorted) {
    const assignment: TopicAssignment = {};
    for (const [topic, p] of kept.get(m.memberId)!) (assignment[topic] ??= []).push(p);
    for (const topic of Object.keys(assignment)) assignment[topic]!.sort((a, b) => a - b);
    result.set(m.memberId, assignment);
  }
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
    const owned: TopicAssignment = {};
    for (const [topic, parts] of Object.entries(parsed as Record<string, unknown>)) {
      if (Array.isArray(parts)) owned[topic] = parts.filter((p): p is number => typeof p === 'number');
    }
    return owned;
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
