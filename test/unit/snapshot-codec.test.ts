/**
 * The snapshot and stored-final encoders that write into a shared byte buffer give exactly the text
 * of the general (string) encoders, for random actor states built by the real window logic, with
 * keys and user ids of any characters; and the text decodes back to the same state.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeFinal, encodeFinal, encodeSnapshot, encodeSnapshotText } from '../../src/actors/key-actor/snapshot-codec.ts';
import type { KeyActorState, WindowResult } from '../../src/actors/windows/index.ts';
import { createKeyActorLogic, NO_SINK, parseWindowSpecs } from '../../src/actors/windows/index.ts';

const SPECS = parseWindowSpecs(['tumbling-1m', 'tumbling-5m', 'sliding-5m-1m', 'session-2m']);
const T0 = Date.UTC(2026, 0, 15, 10, 0, 0);
const idArb = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('d1', 'user-7', 'sensor-0042') },
  fc.string({ minLength: 1, maxLength: 5 }),
  fc.string({ minLength: 1, maxLength: 5, unit: 'binary' }),
  fc.constantFrom('a"b', 'a\\b', 'é', 'x\u0001', '\ud800'),
);
const valueArb = fc.oneof(fc.integer({ min: -1000, max: 1000 }), fc.double({ noNaN: true, noDefaultInfinity: true, min: -1e6, max: 1e6 }), fc.constant(1e15 + 1));
const eventsArb = fc.array(
  fc.record({ at: fc.integer({ min: 0, max: 20 * 60_000 }), value: fc.option(valueArb, { nil: undefined }), user: fc.option(idArb, { nil: null }) }),
  { minLength: 0, maxLength: 25 },
);

function stateOf(key: string, events: { at: number; value: number | undefined; user: string | null }[], policy: 'side-output' | 'update'): { st: KeyActorState; finals: WindowResult[] } {
  const logic = createKeyActorLogic({ eventType: 'iot.sensor', specs: SPECS, valueField: 'value', latePolicy: policy });
  let st = logic.initial(key);
  const finals: WindowResult[] = [];
  let max = Number.NEGATIVE_INFINITY;
  for (const e of events) {
    max = Math.max(max, T0 + e.at);
    const r = logic.transition(st, {
      type: 'event',
      event: { eventId: `e${e.at}`, timestamp: T0 + e.at, eventType: 'iot.sensor', userId: e.user, deviceId: key, payload: e.value === undefined ? {} : { value: e.value }, metadata: null },
      watermark: max - 30_000,
    });
    st = r.state;
    for (const x of r.results) if (x.final) finals.push(x);
  }
  return { st, finals };
}

describe('snapshot codec', () => {
  it('the buffer encoder writes exactly the text of the string encoder, and it restores the same state', () => {
    fc.assert(
      fc.property(idArb, eventsArb, fc.constantFrom('side-output' as const, 'update' as const), (key, events, policy) => {
        const { st } = stateOf(key, events, policy);
        const text = encodeSnapshotText(SPECS, st);
        expect(encodeSnapshot(SPECS, st)).toBe(text);
        expect(() => JSON.parse(text)).not.toThrow();
        const logic = createKeyActorLogic({ eventType: 'iot.sensor', specs: SPECS, valueField: 'value', latePolicy: policy });
        const back = logic.fromCheckpoint(text);
        expect(encodeSnapshotText(SPECS, back)).toBe(text);
        void NO_SINK;
      }),
      { numRuns: 300 },
    );
  });

  it('a stored final is the JSON text of its row and decodes to the result', () => {
    fc.assert(
      fc.property(idArb, eventsArb, (key, events) => {
        const { finals } = stateOf(key, events, 'side-output');
        // JSON has no negative zero (JSON.stringify(-0) is "0"): a min or max of -0 is stored and read as 0
        const z = (x: number | null) => (x === 0 ? 0 : x);
        for (const r of finals) {
          const f = encodeFinal(r);
          expect(JSON.parse(f.data)).toEqual([r.window, r.windowStart, r.windowEnd, r.count, r.valueCount, z(r.sum), z(r.min), z(r.max), r.distinctUsers, r.revision]);
          const sum = z(r.sum);
          expect(decodeFinal(r.eventType, r.key, f.data)).toEqual({ ...r, sum, min: z(r.min), max: z(r.max), avg: r.valueCount > 0 && sum !== null ? sum / r.valueCount : null });
        }
      }),
      { numRuns: 200 },
    );
  });
});
