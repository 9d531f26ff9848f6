import { describe, expect, it } from 'vitest';
import { hasCode } from '../../src/model/errors.ts';
import type { EventEnvelope } from '../../src/model/event.ts';
import {
  DEFAULT_WINDOWS,
  NO_SINK,
  POISON_MARKER,
  advanceIdle,
  assignWindows,
  createKeyActorLogic,
  initialWatermark,
  isWindowExpired,
  isWindowFinal,
  observeEventTime,
  parseDuration,
  parseWindowSpec,
  parseWindowSpecs,
  touchPartition,
} from '../../src/actors/windows/index.ts';
import type { KeyActorConfig, KeyActorState, WindowResult } from '../../src/actors/windows/index.ts';

const MIN = 60_000;

function ev(t: number, extra: Partial<EventEnvelope> = {}): EventEnvelope {
  return { eventId: `e${t}`, timestamp: t, eventType: 'iot.sensor', userId: 'u1', deviceId: 'd1', payload: { value: 1 }, metadata: null, ...extra };
}

function logic(windows: string[], cfg: Partial<KeyActorConfig> = {}) {
  return createKeyActorLogic({ eventType: 'iot.sensor', specs: parseWindowSpecs(windows), valueField: 'value', ...cfg });
}

/** Feeds events with a watermark of max-so-far − ooo, like a partition would; returns state and all results. */
function run(l: ReturnType<typeof logic>, events: EventEnvelope[], ooo = 0, finalWm?: number) {
  let st: KeyActorState = l.initial('d1');
  let max = Number.NEGATIVE_INFINITY;
  const emitted: WindowResult[] = [];
  let late = 0;
  for (const e of events) {
    const wm = max === Number.NEGATIVE_INFINITY ? null : max - ooo;
    const r = l.transition(st, { type: 'event', event: e, watermark: wm });
    st = r.state;
    emitted.push(...r.results);
    if (r.lateWindows > 0) late++;
    max = Math.max(max, e.timestamp);
    const r2 = l.transition(st, { type: 'watermark', watermark: max - ooo });
    st = r2.state;
    emitted.push(...r2.results);
  }
  if (finalWm !== undefined) {
    const r = l.transition(st, { type: 'watermark', watermark: finalWm });
    st = r.state;
    emitted.push(...r.results);
  }
  return { st, emitted, late };
}

describe('window specs', () => {
  it('parses the default specs and sizes', () => {
    expect(parseWindowSpecs(DEFAULT_WINDOWS.join(',')).map((s) => [s.name, s.kind, s.size, s.slide, s.gap])).toEqual([
      ['tumbling-1m', 'tumbling', MIN, MIN, 0],
      ['tumbling-5m', 'tumbling', 5 * MIN, 5 * MIN, 0],
      ['tumbling-15m', 'tumbling', 15 * MIN, 15 * MIN, 0],
      ['sliding-5m-1m', 'sliding', 5 * MIN, MIN, 0],
      ['session-30m', 'session', 30 * MIN, 0, 30 * MIN],
    ]);
    expect([parseDuration('500ms'), parseDuration('30s'), parseDuration('1h'), parseDuration('1d')]).toEqual([500, 30_000, 3_600_000, 86_400_000]);
  });

  it.each(['tumbling', 'tumbling-0m', 'tumbling-1x', 'sliding-1m', 'sliding-1m-5m', 'session-', 'hopping-1m', 'tumbling-1m-1m', '', 'tumbling-01m'])(
    'rejects %j with UNKNOWN_WINDOW',
    (name) => {
      let err: unknown;
      try {
        parseWindowSpec(name);
      } catch (e) {
        err = e;
      }
      expect(hasCode(err, 'UNKNOWN_WINDOW')).toBe(true);
    },
  );

  it('parseWindowSpecs drops duplicates and blanks, rejects an empty list', () => {
    expect(parseWindowSpecs(' tumbling-1m, ,tumbling-1m,session-30s ').map((s) => s.name)).toEqual(['tumbling-1m', 'session-30s']);
    expect(() => parseWindowSpecs(' , ')).toThrow(/unknown window/);
  });
});

describe('assigners, finality, retention', () => {
  it('tumbling windows align to the epoch, start inclusive, end exclusive', () => {
    const s = parseWindowSpec('tumbling-1m');
    expect(assignWindows(s, 5 * MIN)).toEqual([{ start: 5 * MIN, end: 6 * MIN }]);
    expect(assignWindows(s, 6 * MIN - 1)).toEqual([{ start: 5 * MIN, end: 6 * MIN }]);
  });

  it('sliding windows: every [k·H, k·H+S) containing t', () => {
    const s = parseWindowSpec('sliding-5m-1m');
    expect(assignWindows(s, 10 * MIN + 5).map((w) => w.start / MIN)).toEqual([6, 7, 8, 9, 10]);
    expect(assignWindows(s, 10 * MIN).map((w) => w.start / MIN)).toEqual([6, 7, 8, 9, 10]);
  });

  it('final at watermark >= end + lateness; expired when end < watermark - retention', () => {
    expect(isWindowFinal(null, 10, 0)).toBe(false);
    expect(isWindowFinal(9, 10, 0)).toBe(false);
    expect(isWindowFinal(10, 10, 0)).toBe(true);
    expect(isWindowFinal(10, 10, 5)).toBe(false);
    expect(isWindowExpired(110, 10, 100)).toBe(false);
    expect(isWindowExpired(111, 10, 100)).toBe(true);
  });
});

describe('watermark', () => {
  it('is max event time minus out-of-orderness and never decreases', () => {
    const s = initialWatermark(0);
    expect(s.watermark).toBeNull();
    expect(observeEventTime(s, 100_000, 10_000)).toBe(90_000);
    expect(observeEventTime(s, 50_000, 10_000)).toBe(90_000);
    expect(observeEventTime(s, 120_000, 10_000)).toBe(110_000);
  });

  it('advances an idle partition by the processing time past the idle timeout, never before the first event', () => {
    const s = initialWatermark(1000);
    expect(advanceIdle(s, 1_000_000, 30_000)).toBe(false);
    observeEventTime(s, 5_000_000, 0);
    touchPartition(s, 1000);
    expect(advanceIdle(s, 31_000, 30_000)).toBe(false);
    expect(advanceIdle(s, 41_000, 30_000)).toBe(true);
    expect(s.watermark).toBe(5_010_000);
    expect(advanceIdle(s, 46_000, 30_000)).toBe(true);
    expect(s.watermark).toBe(5_015_000);
    // records again: the idle clock restarts, the watermark keeps what it gained
    touchPartition(s, 50_000);
    observeEventTime(s, 5_001_000, 0);
    expect(s.watermark).toBe(5_015_000);
    expect(advanceIdle(s, 79_000, 30_000)).toBe(false);
  });
});

describe('KeyActor reducer', () => {
  it('aggregates count, values, min/max/avg and distinct users; null aggregates without values', () => {
    const l = logic(['tumbling-1m']);
    const { st } = run(l, [
      ev(1000, { payload: { value: 4 } }),
      ev(2000, { payload: { value: 'x' } }),
      ev(3000, { payload: { value: -2 }, userId: 'u2' }),
      ev(4000, { payload: {}, userId: null }),
    ]);
    const [r] = l.results(st);
    expect(r).toMatchObject({ count: 4, valueCount: 2, sum: 2, avg: 1, min: -2, max: 4, distinctUsers: 2, final: false, revision: 0 });
    const noValue = createKeyActorLogic({ eventType: 'clickstream', specs: parseWindowSpecs('tumbling-1m'), valueField: null });
    const r2 = noValue.transition(noValue.initial('k'), { type: 'event', event: ev(1), watermark: null }).results[0];
    expect(r2).toMatchObject({ count: 1, valueCount: 0, sum: null, avg: null, min: null, max: null, distinctUsers: 1 });
  });

  it('transition is pure: the input state is unchanged', () => {
    const l = logic(DEFAULT_WINDOWS as string[]);
    const s0 = l.initial('d1');
    const before = l.toCheckpoint(s0);
    const r = l.transition(s0, { type: 'event', event: ev(1000), watermark: null });
    expect(l.toCheckpoint(s0)).toBe(before);
    expect(r.results).toHaveLength(1 + 1 + 1 + 5 + 1);
  });

  it('session windows merge when they overlap and stay apart when they only touch', () => {
    const l = logic(['session-10s']);
    const { st } = run(l, [ev(0), ev(5000), ev(15_000), ev(25_000), ev(40_000), ev(35_000)], 100_000);
    expect(l.results(st).map((r) => [r.windowStart, r.windowEnd, r.count])).toEqual([
      [0, 15_000, 2],
      [15_000, 25_000, 1],
      [25_000, 35_000, 1],
      [35_000, 50_000, 2],
    ]);
    // an event bridging two sessions merges them into one
    const { st: st2, emitted } = run(l, [ev(0), ev(15_000), ev(8_000)], 100_000);
    expect(l.results(st2).map((r) => [r.windowStart, r.windowEnd, r.count])).toEqual([[0, 25_000, 3]]);
    // the merged-away session is not emitted again after the merge
    expect(emitted.at(-1)).toMatchObject({ windowStart: 0, windowEnd: 25_000, count: 3 });
  });

  it('emits a final once when the watermark passes end + lateness, and evicts it from the hot state', () => {
    const l = logic(['tumbling-1m'], { allowedLatenessMs: 5000 });
    const { st, emitted } = run(l, [ev(1000), ev(64_000), ev(66_000)]);
    const finals = emitted.filter((r) => r.final);
    expect(finals).toHaveLength(1);
    expect(finals[0]).toMatchObject({ windowStart: 0, count: 1, revision: 0 });
    // only the open window is held; the final's end is remembered for the actor's retention
    expect(l.results(st).map((r) => [r.windowStart, r.final])).toEqual([[60_000, false]]);
    expect(st.finalUntil).toBe(60_000);
    expect(st.openWindows).toBe(1);
    // under update the final stays held (a late event may still revise it), its user set kept
    const u = logic(['tumbling-1m'], { allowedLatenessMs: 5000, latePolicy: 'update' });
    const held = run(u, [ev(1000), ev(64_000), ev(66_000)]).st;
    expect(u.results(held).map((r) => [r.windowStart, r.final, r.distinctUsers])).toEqual([
      [0, true, 1],
      [60_000, false, 1],
    ]);
    expect(held.u).toEqual(['u1', 'u1']);
  });

  it('late events: drop and side-output reject them, update re-emits the final with revision + 1', () => {
    const events = [ev(1000), ev(70_000), ev(2000), ev(3000)];
    for (const latePolicy of ['drop', 'side-output'] as const) {
      const l = logic(['tumbling-1m'], { latePolicy });
      const { st, late, emitted } = run(l, events);
      expect(late).toBe(2);
      expect(emitted.filter((r) => r.windowStart === 0 && r.final).map((r) => [r.count, r.revision])).toEqual([[1, 0]]);
      expect(l.results(st).map((r) => r.windowStart)).toEqual([60_000]);
    }
    const l = logic(['tumbling-1m'], { latePolicy: 'update' });
    const { st, emitted, late } = run(l, events);
    expect(late).toBe(0);
    expect(l.results(st)[0]).toMatchObject({ windowStart: 0, count: 3, final: true, revision: 2 });
    expect(emitted.filter((r) => r.windowStart === 0 && r.final).map((r) => [r.count, r.revision])).toEqual([
      [1, 0],
      [2, 1],
      [3, 2],
    ]);
  });

  it('sessions under update: a late event grows a final session (revision + 1) and can reopen it by bridging to an open one', () => {
    const l = logic(['session-10s'], { latePolicy: 'update' });
    const step = (events: EventEnvelope[]) => run(l, events, 0);
    const base = [ev(0), ev(30_000)];
    const shape = (st: KeyActorState) => l.results(st).map((r) => [r.windowStart, r.windowEnd, r.count, r.final, r.revision]);
    expect(shape(step([...base, ev(5000)]).st)).toEqual([
      [0, 15_000, 2, true, 1],
      [30_000, 40_000, 1, false, 0],
    ]);
    expect(shape(step([...base, ev(5000), ev(25_000), ev(12_000)]).st)).toEqual([
      [0, 22_000, 3, true, 2],
      [25_000, 40_000, 2, false, 0],
    ]);
    const bridged = step([...base, ev(5000), ev(25_000), ev(12_000), ev(21_000)]);
    expect(shape(bridged.st)).toEqual([[0, 40_000, 6, false, 3]]);
    expect(bridged.st.openWindows).toBe(1);
    const closed = l.transition(bridged.st, { type: 'watermark', watermark: 50_000 });
    expect(closed.results.map((r) => [r.windowStart, r.windowEnd, r.count, r.final, r.revision])).toEqual([[0, 40_000, 6, true, 3]]);
    expect(closed.state.openWindows).toBe(0);
    // under drop the same late event is rejected and the final session stays as it was
    const dropped = run(logic(['session-10s'], { latePolicy: 'drop' }), [...base, ev(5000)], 0);
    expect(dropped.late).toBe(1);
    expect(shape(dropped.st)).toEqual([[30_000, 40_000, 1, false, 0]]);
    // the final session left the hot state; its extent is kept so an overlapping event stays late
    expect(dropped.st.tails).toEqual([0, 10_000]);
    expect(dropped.emitted.filter((r) => r.final).map((r) => [r.windowStart, r.windowEnd, r.count])).toEqual([[0, 10_000, 1]]);
  });

  it('drops results once windowEnd < watermark - retention, and treats their late events as dropped', () => {
    const l = logic(['tumbling-1m'], { resultRetentionMs: 2 * MIN, latePolicy: 'update' });
    const { st } = run(l, [ev(1000), ev(3 * MIN - 1)]);
    expect(l.results(st).map((r) => r.windowStart)).toEqual([0, 2 * MIN]);
    const later = run(l, [ev(1000), ev(3 * MIN + 2), ev(2000)]);
    expect(later.late).toBe(1);
    expect(l.results(later.st).map((r) => r.windowStart)).toEqual([3 * MIN]);
  });

  it('the poison marker throws before any mutation, and only when the test hook is on (off by default)', () => {
    const l = logic(DEFAULT_WINDOWS as string[], { honourPoisonMarker: true });
    const st = run(l, [ev(1000), ev(2000)]).st;
    const snap = l.toCheckpoint(st);
    expect(() => l.applyEvent(st, ev(3000, { payload: { [POISON_MARKER]: true, value: 5 } }), 1000, NO_SINK)).toThrow(/poison/);
    expect(l.toCheckpoint(st)).toBe(snap);
    const off = logic(['tumbling-1m']);
    expect(off.transition(off.initial('d1'), { type: 'event', event: ev(1, { payload: { [POISON_MARKER]: true } }), watermark: null }).results).toHaveLength(1);
  });

  it('round-trips through toCheckpoint / fromCheckpoint, including user sets, finals and revisions', () => {
    const l = logic(DEFAULT_WINDOWS as string[], { latePolicy: 'update' });
    const { st } = run(l, [ev(1000), ev(2000, { userId: 'u2' }), ev(3000, { userId: 'u3' }), ev(90_000), ev(4000)], 0);
    const restored = l.fromCheckpoint(l.toCheckpoint(st));
    expect(l.results(restored)).toEqual(l.results(st));
    expect(restored.openWindows).toBe(st.openWindows);
    expect(restored.nextTimer).toBeLessThanOrEqual(st.nextTimer);
    // continuing after restore equals continuing without it
    const next = ev(5000, { userId: 'u4' });
    const a = l.transition(st, { type: 'event', event: next, watermark: 80_000 }).state;
    const b = l.transition(restored, { type: 'event', event: next, watermark: 80_000 }).state;
    expect(l.results(b)).toEqual(l.results(a));
    expect(() => l.fromCheckpoint('{nope')).toThrow(/not JSON/);
  });
});
