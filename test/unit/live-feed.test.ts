/**
 * The live feed a gateway's subscriptions read: replays of a partition's new owner are dropped, so
 * a subscriber sees each event once, in offset order, without gaps, and results never go back —
 * checked against a model of owners that crash, take over from a checkpoint and linger as zombies.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { createInProcessBus, createInProcessHub } from '../../src/bus/in-process/in-process-bus.ts';
import { createLiveFeed } from '../../src/bus/live-feed.ts';
import { type EventMessage, type ResultPosition, comparePositions, publishWindowResults } from '../../src/bus/messages.ts';
import { subjects } from '../../src/bus/port.ts';
import { createRandom } from '../../src/loadgen/generator.ts';
import type { WindowResult } from '../../src/model/window-result.ts';

const TOPIC = 'events.iot.sensors';
const TYPE = 'iot.sensor';

function event(partition: number, offset: number): EventMessage {
  return {
    topic: TOPIC,
    partition,
    offset,
    key: `k${partition}`,
    event: { eventId: `e${partition}-${offset}`, eventType: TYPE, timestamp: 1_700_000_000_000 + offset, userId: null, deviceId: `k${partition}`, payload: { value: offset }, metadata: null },
  };
}

const W = 'tumbling-1m';
/** The windows each emission of the property test has: a message (subject) per window. */
const WINDOWS = ['sliding-5m-1m', 'tumbling-1m', 'tumbling-5m'];

function result(partition: number, count: number, final = false, window = W): WindowResult {
  return { eventType: TYPE, key: `k${partition}`, window, windowStart: 0, windowEnd: 60_000, count, valueCount: count, sum: count, avg: 1, min: 1, max: 1, distinctUsers: 0, final, revision: 0 };
}

/** One bus message an owner publishes: a batch of events, then the results it emitted at its end. */
interface Publish {
  partition: number;
  events: number[];
  position: ResultPosition;
}

/**
 * The messages of one partition's owners: generation k takes over at a checkpoint between the
 * previous one's checkpoint and its progress, and publishes its batches in order from there.
 */
function generations(partition: number, plan: { takeover: number; extra: number }[], batchOf: () => number): Publish[][] {
  const gens: Publish[][] = [];
  let checkpoint = 0;
  let progress = 0;
  for (let g = 0; g < plan.length; g++) {
    const step = plan[g]!;
    if (g > 0) checkpoint += Math.floor(step.takeover * (progress - checkpoint + 1)) % (progress - checkpoint + 1);
    const end = Math.max(progress, checkpoint) + step.extra;
    const stream: Publish[] = [];
    for (let from = checkpoint; from < end; ) {
      const to = Math.min(end, from + batchOf());
      const events = Array.from({ length: to - from }, (_, i) => from + i);
      stream.push({ partition, events, position: { topic: TOPIC, partition, offset: to, watermark: to * 10, part: 0 } });
      from = to;
    }
    gens.push(stream);
    progress = end;
  }
  return gens;
}

/**
 * A delivery order: messages of one owner in its order; owner k's first message only after the
 * previous owner published what k's checkpoint covers (it published before it checkpointed); the
 * rest of the old owner (a zombie) interleaves freely. Partitions interleave freely.
 */
function interleave(all: Publish[][][], rand: () => number): Publish[] {
  type Cursor = { gens: Publish[][]; pos: number[]; published: number };
  const cursors: Cursor[] = all.map((gens) => ({ gens, pos: gens.map(() => 0), published: 0 }));
  const out: Publish[] = [];
  for (;;) {
    const ready: [Cursor, number][] = [];
    for (const c of cursors) {
      for (let g = 0; g < c.gens.length; g++) {
        const stream = c.gens[g]!;
        if (c.pos[g]! >= stream.length) continue;
        // a new owner starts from a checkpoint, which covers only what some owner had published
        if (g > 0 && c.pos[g] === 0 && stream[0]!.events[0]! > c.published) continue;
        ready.push([c, g]);
      }
    }
    if (ready.length === 0) return out;
    const [c, g] = ready[Math.floor(rand() * ready.length)]!;
    const m = c.gens[g]![c.pos[g]!]!;
    out.push(m);
    c.published = Math.max(c.published, m.position.offset);
    c.pos[g]!++;
  }
}

function feedOn() {
  const bus = createInProcessBus({ hub: createInProcessHub() });
  return { bus, feed: createLiveFeed({ bus }) };
}

function publish(bus: ReturnType<typeof feedOn>['bus'], m: Publish): void {
  if (m.events.length > 0) bus.publish(subjects.events(TOPIC), { events: m.events.map((o) => event(m.partition, o)) });
  const last = m.position.offset;
  // as the processor publishes them: one message per window, parts numbered across the emission
  const { part: _, ...at } = m.position;
  publishWindowResults(bus, WINDOWS.map((w) => result(m.partition, last, false, w)), at);
}

describe('live feed', () => {
  it('property: across crashes, takeovers from checkpoints and zombies, each event once, in offset order, no gaps; results only move forward', () => {
    const plan = fc.array(fc.record({ takeover: fc.double({ min: 0, max: 1, noNaN: true }), extra: fc.integer({ min: 0, max: 25 }) }), { minLength: 1, maxLength: 5 });
    fc.assert(
      fc.property(fc.array(plan, { minLength: 1, maxLength: 3 }), fc.integer({ min: 1, max: 2 ** 30 }), fc.integer({ min: 0, max: 60 }), (plans, seed, lateAt) => {
        const rand = createRandom(seed);
        const batchOf = () => 1 + Math.floor(rand() * 6);
        const order = interleave(plans.map((p, partition) => generations(partition, p, batchOf)), rand);
        const { bus, feed } = feedOn();
        const seen: EventMessage[] = [];
        type Seen = { partition: number; window: string; count: number };
        const seenOf = (rs: readonly WindowResult[]) => rs.map((r) => ({ partition: Number(r.key.slice(1)), window: r.window, count: r.count }));
        const results: Seen[] = [];
        const oneWindow: Seen[] = [];
        const lateWindow: Seen[] = [];
        feed.events(TOPIC, (events) => seen.push(...events));
        feed.windowResults(TYPE, (rs) => results.push(...seenOf(rs)));
        // the same gateway also has a subscription to one window: its own subject, the same messages again
        feed.windowResults(TYPE, (rs) => oneWindow.push(...seenOf(rs)), undefined, 'tumbling-5m');
        // a subscription that starts late (mid-replay, possibly) also gets a clean stream from there on
        const late: EventMessage[] = [];
        order.forEach((m, i) => {
          if (i === lateAt) {
            feed.events(TOPIC, (events) => late.push(...events));
            feed.windowResults(TYPE, (rs) => lateWindow.push(...seenOf(rs)), undefined, 'sliding-5m-1m');
          }
          publish(bus, m);
        });
        for (let p = 0; p < plans.length; p++) {
          const published = new Set(order.filter((m) => m.partition === p).flatMap((m) => m.events));
          const max = published.size === 0 ? -1 : Math.max(...published);
          // every offset the owners published, once, in order: 0..max with no gap
          expect(seen.filter((e) => e.partition === p).map((e) => e.offset)).toEqual(Array.from({ length: max + 1 }, (_, i) => i));
          const lateOffsets = late.filter((e) => e.partition === p).map((e) => e.offset);
          for (let i = 1; i < lateOffsets.length; i++) expect(lateOffsets[i]).toBe(lateOffsets[i - 1]! + 1);
          // every window's results once each, only ever newer, up to the last
          for (const w of WINDOWS) {
            const counts = results.filter((r) => r.partition === p && r.window === w).map((r) => r.count);
            for (let i = 1; i < counts.length; i++) expect(counts[i]).toBeGreaterThan(counts[i - 1]!);
            expect(counts.at(-1) ?? 0).toBe(max + 1);
            if (w === 'tumbling-5m') expect(oneWindow.filter((r) => r.partition === p).map((r) => r.count)).toEqual(counts);
          }
          const lateCounts = lateWindow.filter((r) => r.partition === p).map((r) => r.count);
          for (let i = 1; i < lateCounts.length; i++) expect(lateCounts[i]).toBeGreaterThan(lateCounts[i - 1]!);
        }
        expect(new Set(oneWindow.map((r) => r.window))).toEqual(new Set(oneWindow.length > 0 ? ['tumbling-5m'] : []));
        expect(new Set(lateWindow.map((r) => r.window))).toEqual(new Set(lateWindow.length > 0 ? ['sliding-5m-1m'] : []));
      }),
      { numRuns: 200 },
    );
  });

  it('a tick at the same offset (higher watermark) and the parts of a split emission pass; a replay of either does not', () => {
    const { bus, feed } = feedOn();
    const got: number[] = [];
    feed.windowResults(TYPE, (rs) => got.push(...rs.map((r) => r.count)));
    const at = (offset: number, watermark: number | null, part: number, count: number) =>
      bus.publish(subjects.windowResults(TYPE, W), { results: [result(0, count)], position: { topic: TOPIC, partition: 0, offset, watermark, part } });
    at(10, null, 0, 1); // before the first event time
    at(10, 100, 0, 2); // the batch ending at 10
    at(10, 100, 1, 3); // its second part
    at(10, 150, 0, 4); // a tick: watermark moved, no record
    at(10, 100, 0, 90); // a new owner restoring at the checkpoint of 10: a replay
    at(8, 200, 0, 91); // a replay of an earlier batch
    at(11, 160, 0, 5);
    expect(got).toEqual([1, 2, 3, 4, 5]);
    expect(comparePositions({ topic: TOPIC, partition: 0, offset: 3, watermark: null, part: 0 }, { topic: TOPIC, partition: 0, offset: 3, watermark: 0, part: 0 })).toBe(-1);
    expect(feed.replaysDropped).toBe(2);
  });

  it('results without a position (an older publisher) pass as they come; other event types and topics are not delivered', () => {
    const { bus, feed } = feedOn();
    const got: number[] = [];
    const events: number[] = [];
    feed.windowResults(TYPE, (rs) => got.push(...rs.map((r) => r.count)));
    feed.events(TOPIC, (es) => events.push(...es.map((e) => e.offset)));
    bus.publish(subjects.windowResults(TYPE, W), { results: [result(0, 5), { ...result(0, 6), eventType: 'clickstream' }] });
    bus.publish(subjects.windowResults(TYPE, W), { results: [result(0, 4)] });
    bus.publish(subjects.events(TOPIC), { events: [event(0, 1), { ...event(0, 2), topic: 'events.clickstream' }] });
    expect(got).toEqual([5, 4]);
    expect(events).toEqual([1]);
  });

  it('one bus subscription per subject, however many listeners; the last to leave ends it, and the marks survive it', () => {
    const hub = createInProcessHub();
    const bus = createInProcessBus({ hub });
    const feed = createLiveFeed({ bus });
    const subject = subjects.events(TOPIC);
    const a: number[] = [];
    const b: number[] = [];
    const offA = feed.events(TOPIC, (es) => a.push(...es.map((e) => e.offset)));
    const offB = feed.events(TOPIC, (es) => b.push(...es.map((e) => e.offset)));
    expect(hub.exact.get(subject)).toHaveLength(1);
    bus.publish(subject, { events: [event(0, 0), event(0, 1)] });
    expect([a, b]).toEqual([
      [0, 1],
      [0, 1],
    ]);
    offA();
    offA();
    expect(hub.exact.get(subject)).toHaveLength(1);
    offB();
    expect(hub.exact.has(subject)).toBe(false);
    expect(bus.wants(subject)).toBe(false);
    const c: number[] = [];
    feed.events(TOPIC, (es) => c.push(...es.map((e) => e.offset)));
    bus.publish(subject, { events: [event(0, 1), event(0, 2)] });
    expect(c).toEqual([2]);
  });

  it("a single-key listener gets only its key's items, in order, once per message that has some; the others still get every item", () => {
    const hub = createInProcessHub();
    const bus = createInProcessBus({ hub });
    const feed = createLiveFeed({ bus });
    const subject = subjects.events(TOPIC);
    const keyed = (p: number, offset: number, key: string) => ({ ...event(p, offset), key });
    const all: string[] = [];
    const a: string[][] = [];
    const a2: string[][] = [];
    const b: string[][] = [];
    const offAll = feed.events(TOPIC, (es) => all.push(...es.map((e) => `${e.key}@${e.offset}`)));
    const offA = feed.events(TOPIC, (es) => a.push(es.map((e) => `${e.key}@${e.offset}`)), 'a');
    const offA2 = feed.events(TOPIC, (es) => a2.push(es.map((e) => `${e.key}@${e.offset}`)), 'a');
    const offB = feed.events(TOPIC, (es) => b.push(es.map((e) => `${e.key}@${e.offset}`)), 'b');
    expect(hub.exact.get(subject)).toHaveLength(1);
    bus.publish(subject, { events: [keyed(0, 0, 'a'), keyed(0, 1, 'b'), keyed(0, 2, 'a'), keyed(0, 3, 'c')] });
    bus.publish(subject, { events: [keyed(0, 4, 'c')] });
    bus.publish(subject, { events: [keyed(0, 5, 'b'), keyed(0, 3, 'a')] }); // a replay of offset 3 is dropped for every listener
    expect(all).toEqual(['a@0', 'b@1', 'a@2', 'c@3', 'c@4', 'b@5']);
    expect(a).toEqual([['a@0', 'a@2']]);
    expect(a2).toEqual(a);
    expect(b).toEqual([['b@1'], ['b@5']]);
    // results too, with the message's position
    const positions: (number | undefined)[] = [];
    const offR = feed.windowResults(TYPE, (rs, p) => positions.push(...rs.map(() => p?.offset)), 'k1');
    bus.publish(subjects.windowResults(TYPE, W), { results: [result(0, 1), result(1, 2), result(1, 3)], position: { topic: TOPIC, partition: 1, offset: 9, watermark: null, part: 0 } });
    expect(positions).toEqual([9, 9]);
    offAll();
    offA();
    offB();
    bus.publish(subject, { events: [keyed(0, 6, 'a'), keyed(0, 7, 'b')] });
    expect(a2).toEqual([['a@0', 'a@2'], ['a@6']]);
    expect(b).toHaveLength(2);
    offA2();
    expect(hub.exact.has(subject)).toBe(false);
    offR();
    expect(bus.wants(subjects.windowResults(TYPE, W))).toBe(false);
  });

  it('a listener that throws does not keep the message from the others', () => {
    const { bus, feed } = feedOn();
    const errors: unknown[] = [];
    const feed2 = createLiveFeed({ bus, onListenerError: (e) => errors.push(e) });
    const got: number[] = [];
    feed2.events(TOPIC, () => {
      throw new Error('listener failure (expected in this test)');
    });
    feed2.events(TOPIC, (es) => got.push(...es.map((e) => e.offset)));
    bus.publish(subjects.events(TOPIC), { events: [event(0, 7)] });
    expect(got).toEqual([7]);
    expect(errors).toHaveLength(1);
    void feed;
  });
});
