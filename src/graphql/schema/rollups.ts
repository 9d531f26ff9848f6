/** Rollups across keys: the `rollups` query and the `rollups` subscription. */
import type { Rollup, RollupOrder, RollupQuery, RollupTally } from '../../actors/index.ts';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import type { ApiServices } from '../services.ts';
import { builder } from './builder.ts';

const RollupOrderEnum = builder.enumType('RollupOrder', {
  description: 'What a top-keys list is ordered by: highest first (lowest first for MIN); ties by key ascending. Keys without a value are not ranked by SUM, AVG, MAX or MIN.',
  values: ['COUNT', 'SUM', 'AVG', 'MAX', 'MIN'] as const,
});

const RollupKeyRef = builder.objectRef<RollupTally>('RollupKey').implement({
  description: "One key's aggregate within a rollup window (equal to that key's own window result).",
  fields: (t) => ({
    key: t.exposeString('key'),
    count: t.exposeInt('count'),
    valueCount: t.exposeInt('valueCount'),
    sum: t.exposeFloat('sum', { nullable: true }),
    avg: t.exposeFloat('avg', { nullable: true }),
    min: t.exposeFloat('min', { nullable: true }),
    max: t.exposeFloat('max', { nullable: true }),
  }),
});

const RollupRef = builder.objectRef<Rollup>('Rollup').implement({
  description: 'The aggregate of one window across every key of an event type (tumbling and sliding windows). Equal to the window results of all keys merged.',
  fields: (t) => ({
    eventType: t.exposeString('eventType'),
    window: t.exposeString('window'),
    windowStart: t.field({ type: 'DateTime', description: 'Inclusive.', resolve: (r) => r.windowStart }),
    windowEnd: t.field({ type: 'DateTime', description: 'Exclusive.', resolve: (r) => r.windowEnd }),
    count: t.exposeInt('count', { description: 'Events in the window, all keys.' }),
    distinctKeys: t.exposeInt('distinctKeys', { description: 'Keys with at least one event in the window.' }),
    distinctUsers: t.exposeInt('distinctUsers', { description: 'Distinct non-null userId values among the events of the window.' }),
    valueCount: t.exposeInt('valueCount', { description: 'Events whose value field held a finite number.' }),
    sum: t.exposeFloat('sum', { nullable: true, description: 'Sum, average, minimum and maximum of those values; null when valueCount is 0.' }),
    avg: t.exposeFloat('avg', { nullable: true }),
    min: t.exposeFloat('min', { nullable: true }),
    max: t.exposeFloat('max', { nullable: true }),
    final: t.exposeBoolean('final', { description: 'True once the watermark of every partition with events in the window passed windowEnd + allowed lateness.' }),
    topKeys: t.field({ type: [RollupKeyRef], description: 'The top keys by the order asked for (top, by).', resolve: (r) => r.topKeys }),
  }),
});

function readerOf(s: ApiServices) {
  if (!s.rollups) throw new KeyflowError(ErrorCode.BAD_USER_INPUT, 'rollups across keys are off on this node (KEYFLOW_ROLLUPS; off by default in distributed mode)');
  return s.rollups;
}

type RollupArgs = { eventType: string; window: string; from?: number | null; to?: number | null; top?: number | null; by?: string | null };

function queryOf(a: RollupArgs): RollupQuery {
  return { eventType: a.eventType, window: a.window, from: a.from ?? null, to: a.to ?? null, top: a.top ?? 10, by: (a.by ?? 'COUNT').toLowerCase() as RollupOrder };
}

builder.queryField('rollups', (t) =>
  t.field({
    type: [RollupRef],
    description:
      'Rollups across keys of one event type and one tumbling or sliding window spec: every retained window with events (windowStart in [from, to)), oldest first, with its top keys (top: 0..100, by: COUNT by default).',
    args: {
      eventType: t.arg.string({ required: true }),
      window: t.arg.string({ required: true }),
      from: t.arg({ type: 'DateTime' }),
      to: t.arg({ type: 'DateTime' }),
      top: t.arg.int({ defaultValue: 10 }),
      by: t.arg({ type: RollupOrderEnum, defaultValue: 'COUNT' }),
    },
    resolve: (_r, a, ctx) => readerOf(ctx.services).rollups(queryOf(a)),
  }),
);

/** Pause between two reads of a rollup subscription, ms: changes within it are sent together. */
const MIN_INTERVAL_MS = 100;

/**
 * First every current window (as `rollups` would answer), then each window again whenever it
 * changed. A change of any key's window of the spec (on the live bus) wakes the stream, which
 * then reads the rollups again; reads are coalesced, so a busy stream costs at most one read per
 * {@link MIN_INTERVAL_MS}.
 */
async function* rollupStream(s: ApiServices, q: RollupQuery): AsyncGenerator<Rollup | KeyflowError> {
  const reader = readerOf(s);
  let dirty = true;
  let wake: (() => void) | null = null;
  const unsubscribe = s.live.windowResults(
    q.eventType,
    () => {
      dirty = true;
      wake?.();
    },
    undefined,
    q.window,
  );
  const sent = new Map<number, string>();
  try {
    for (;;) {
      if (!dirty) await new Promise<void>((resolve) => (wake = resolve));
      wake = null;
      dirty = false;
      let rollups: Rollup[];
      try {
        rollups = await reader.rollups(q);
      } catch (e) {
        yield e instanceof KeyflowError ? e : new KeyflowError(ErrorCode.INTERNAL, 'rollups could not be read; the subscription ends', { cause: e });
        return;
      }
      for (const r of rollups) {
        const json = JSON.stringify(r);
        if (sent.get(r.windowStart) === json) continue;
        sent.set(r.windowStart, json);
        yield r;
      }
      await new Promise((resolve) => setTimeout(resolve, MIN_INTERVAL_MS));
    }
  } finally {
    unsubscribe();
  }
}

builder.subscriptionField('rollups', (t) =>
  t.field({
    type: RollupRef,
    description:
      'Rollups across keys, live: first each current window of the spec (windowStart in [from, to)), then a window again each time it changes (count, users, top keys, final). Arguments as in the rollups query.',
    args: {
      eventType: t.arg.string({ required: true }),
      window: t.arg.string({ required: true }),
      from: t.arg({ type: 'DateTime' }),
      to: t.arg({ type: 'DateTime' }),
      top: t.arg.int({ defaultValue: 10 }),
      by: t.arg({ type: RollupOrderEnum, defaultValue: 'COUNT' }),
    },
    subscribe: async (_r, a, ctx) => {
      const q = queryOf(a);
      // argument errors fail the subscribe itself, before any stream starts
      await readerOf(ctx.services).rollups({ ...q, from: Number.MAX_SAFE_INTEGER });
      return rollupStream(ctx.services, q);
    },
    resolve: (item) => {
      if (item instanceof KeyflowError) throw item;
      return item;
    },
  }),
);
