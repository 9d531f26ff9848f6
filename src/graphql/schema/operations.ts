/** Query, Mutation and Subscription of the contract. */
import { Kind, type ValueNode } from 'graphql';
import type { EventMessage } from '../../bus/index.ts';
import { LifecycleEvent } from '../../core/index.ts';
import type { EventReceipt } from '../../ingest/index.ts';
import type { EventTypeSpec, WindowResult } from '../../model/index.ts';
import { AGGREGATED_TOPIC, DLQ_TOPIC, ErrorCode, KeyflowError, LATE_TOPIC } from '../../model/index.ts';
import { busIterator } from '../bus-iterator.ts';
import { checkFirst, decodeFinal, pageNewestFirst } from '../pages.ts';
import { RAW_EVENT_INPUTS, type RawEventInputs } from '../plugins/use-raw-event-inputs.ts';
import { checkLimit, deadLetters, latestEvents, requireEventTopic, toDeadLetterView, toEventView } from '../reads.ts';
import { checkRetained, decodeEventsCursor, decodeResultsCursor, eventsCursorAt, type ResumableEventView, resumableEvents, resumableLog, resumableWindowResults } from '../resume.ts';
import type { ApiServices } from '../services.ts';
import { builder } from './builder.ts';
import {
  DeadLetterPageRef,
  DeadLetterRef,
  EventInputRef,
  EventPageRef,
  EventReceiptRef,
  EventRef,
  type EventView,
  HealthRef,
  KeyStateRef,
  TopicRef,
  WindowResultPageRef,
  WindowResultRef,
} from './types.ts';

/**
 * GraphQL args → the wire form `parseEventInput` validates: the timestamp (epoch ms from the
 * DateTime scalar) back to ISO-8601, a null eventId to absent. Ingest takes client input only in
 * that form, and validates all of it.
 */
function toIngestInput({ eventId, timestamp, ...rest }: Record<string, unknown>): Record<string, unknown> {
  return { ...rest, eventId: eventId ?? undefined, timestamp: typeof timestamp === 'number' ? new Date(timestamp).toISOString() : timestamp };
}

/** The raw list of a `[EventInput!]!` variable, when the argument is one (see use-raw-event-inputs.ts). */
function rawInputsOf(ctx: object, arg: ValueNode | undefined): readonly unknown[] | undefined {
  if (arg?.kind !== Kind.VARIABLE) return undefined;
  const raw = (ctx as { [RAW_EVENT_INPUTS]?: RawEventInputs })[RAW_EVENT_INPUTS];
  return raw?.get(arg.name.value);
}

/** Subscription items are values or, last, the error that ended the stream (see busIterator). */
function raiseOrPass<T>(item: T | KeyflowError): T {
  if (item instanceof KeyflowError) throw item;
  return item;
}

/** Counts and logs a subscription ended with RATE_LIMITED. */
function overflowed(s: ApiServices, field: string): (maxBuffered: number) => void {
  return (maxBuffered) => {
    const m = s.metrics;
    if (m && 'subscriptionsRateLimited' in m) m.subscriptionsRateLimited.inc({ field });
    s.logger.warn({ event: LifecycleEvent.subscriptionRateLimited, field, maxBuffered }, 'a subscriber read too slowly: its subscription was ended with RATE_LIMITED');
  };
}

function countIngested(s: ApiServices, receipts: readonly EventReceipt[]): void {
  const m = s.metrics;
  if (!m || !('eventsIngested' in m)) return;
  for (const r of receipts) if (r.status === 'ACCEPTED') m.eventsIngested.inc({ topic: r.topic });
}

function requireEventType(s: ApiServices, eventType: string): EventTypeSpec {
  const spec = s.registry.resolve(eventType);
  if (!spec) {
    throw new KeyflowError(
      ErrorCode.UNKNOWN_EVENT_TYPE,
      `unknown eventType '${eventType}'; known: ${s.registry
        .all()
        .map((t) => t.eventType)
        .join(', ')}`,
      { details: { eventType } },
    );
  }
  return spec;
}

function requireWindow(s: ApiServices, window: string | null | undefined, spec?: EventTypeSpec): void {
  // a registered type may keep its own windows
  const names = spec?.windows ?? s.windowNames;
  if (window != null && !names.includes(window)) {
    throw new KeyflowError(ErrorCode.UNKNOWN_WINDOW, `unknown window '${window}'; configured: ${names.join(', ')}`, {
      details: { window, windows: [...names] },
    });
  }
}

function finalsFilter(eventType: string | null | undefined, key: string | null | undefined, window: string | null | undefined): (w: WindowResult) => boolean {
  return (w) => (eventType == null || w.eventType === eventType) && (key == null || w.key === key) && (window == null || w.window === window);
}

builder.queryType({
  fields: (t) => ({
    health: t.field({ type: HealthRef, resolve: (_r, _a, ctx) => ctx.services.health() }),
    topics: t.field({
      type: [TopicRef],
      resolve: (_r, _a, ctx) =>
        ctx.services.registry.all().map((s) => ({ name: s.topic, eventType: s.eventType, partitions: s.partitions })),
    }),
    latestEvents: t.field({
      type: [EventRef],
      description: 'The newest events of a topic, newest event time first, at most limit (1..1000).',
      args: { topic: t.arg.string({ required: true }), limit: t.arg.int({ defaultValue: 20 }) },
      resolve: (_r, a, ctx) => latestEvents(ctx.services.log, ctx.services.registry, a.topic, checkLimit(a.limit, 20)),
    }),
    windows: t.field({
      type: [WindowResultRef],
      description:
        'Window results for one actor, oldest windowStart first. window: one spec name, or all when null. finalOnly: only results that are final.',
      args: {
        eventType: t.arg.string({ required: true }),
        key: t.arg.string({ required: true }),
        window: t.arg.string(),
        from: t.arg({ type: 'DateTime' }),
        to: t.arg({ type: 'DateTime' }),
        finalOnly: t.arg.boolean({ defaultValue: false }),
      },
      resolve: (_r, a, ctx) => {
        requireWindow(ctx.services, a.window, requireEventType(ctx.services, a.eventType));
        return ctx.services.reader.windows({
          eventType: a.eventType,
          key: a.key,
          window: a.window ?? undefined,
          from: a.from ?? undefined,
          to: a.to ?? undefined,
          finalOnly: a.finalOnly ?? false,
        });
      },
    }),
    keyState: t.field({
      type: KeyStateRef,
      nullable: true,
      description: 'What the actor for this key holds now; null when no event for it was ever processed.',
      args: { eventType: t.arg.string({ required: true }), key: t.arg.string({ required: true }) },
      resolve: (_r, a, ctx) => {
        requireEventType(ctx.services, a.eventType);
        return ctx.services.reader.keyState(a.eventType, a.key);
      },
    }),
    windowNames: t.stringList({
      description: 'The configured window spec names (KEYFLOW_WINDOWS), e.g. tumbling-1m: the values windows(window:) and windowResults(window:) accept.',
      resolve: (_r, _a, ctx) => [...ctx.services.windowNames],
    }),
    latestEventsPage: t.field({
      type: EventPageRef,
      description:
        'The events of a topic (an event topic or events.late), newest appended first, first (1..1000) at a time; pass pageInfo.endCursor as after: for the next, older page.',
      args: { topic: t.arg.string({ required: true }), first: t.arg.int({ defaultValue: 20 }), after: t.arg.string() },
      resolve: (_r, a, ctx) => {
        requireEventTopic(ctx.services.registry, a.topic);
        return pageNewestFirst(ctx.services.log, a.topic, checkFirst(a.first, 20), a.after, toEventView);
      },
    }),
    deadLettersPage: t.field({
      type: DeadLetterPageRef,
      description: 'Dead letters, newest first, first (1..1000) at a time; pass pageInfo.endCursor as after: for the next page.',
      args: { first: t.arg.int({ defaultValue: 50 }), after: t.arg.string() },
      resolve: (_r, a, ctx) => pageNewestFirst(ctx.services.log, DLQ_TOPIC, checkFirst(a.first, 50), a.after, toDeadLetterView),
    }),
    finalsPage: t.field({
      type: WindowResultPageRef,
      description:
        'Final window results as the sinks wrote them to events.aggregated, newest first (a result revised under the update late policy appears once per revision). eventType / key / window: only those.',
      args: { eventType: t.arg.string(), key: t.arg.string(), window: t.arg.string(), first: t.arg.int({ defaultValue: 50 }), after: t.arg.string() },
      resolve: (_r, a, ctx) => {
        if (a.eventType != null) requireEventType(ctx.services, a.eventType);
        requireWindow(ctx.services, a.window);
        const keep = finalsFilter(a.eventType, a.key, a.window);
        return pageNewestFirst(ctx.services.log, AGGREGATED_TOPIC, checkFirst(a.first, 50), a.after, (r) => {
          const f = decodeFinal(r);
          return f !== null && keep(f) ? f : null;
        });
      },
    }),
    eventsCursor: t.string({
      description:
        "A cursor of the topic's log as it is now (fromStart: its oldest retained record instead): subscribe to events(topic, after:) with it to get everything after that point, then live.",
      args: { topic: t.arg.string({ required: true }), fromStart: t.arg.boolean({ defaultValue: false }) },
      resolve: (_r, a, ctx) => {
        requireEventTopic(ctx.services.registry, a.topic);
        return eventsCursorAt(ctx.services.log, a.topic, a.fromStart ? 'start' : 'end');
      },
    }),
    deadLetters: t.field({
      type: [DeadLetterRef],
      description: 'Newest first, at most limit (1..1000).',
      args: { limit: t.arg.int({ defaultValue: 50 }) },
      resolve: (_r, a, ctx) => deadLetters(ctx.services.log, checkLimit(a.limit, 50)),
    }),
  }),
});

builder.mutationType({
  fields: (t) => ({
    publishEvent: t.field({
      type: EventReceiptRef,
      args: { input: t.arg({ type: EventInputRef, required: true }) },
      resolve: async (_r, a, ctx) => {
        const receipt = await ctx.services.ingest.publish(toIngestInput(a.input));
        countIngested(ctx.services, [receipt]);
        return receipt;
      },
    }),
    publishEvents: t.field({
      type: [EventReceiptRef],
      description: 'All or nothing: when any input is invalid, none is published and the error names every invalid index.',
      args: { inputs: t.arg({ type: [EventInputRef], required: true }) },
      resolve: async (_r, a, ctx, info) => {
        // A `[EventInput!]!` variable arrives as sent (use-raw-event-inputs.ts); ingest validates it.
        const raw = rawInputsOf(ctx, info.fieldNodes[0]?.arguments?.find((x) => x.name.value === 'inputs')?.value);
        const receipts = await ctx.services.ingest.publishBatch(raw ?? a.inputs.map(toIngestInput));
        countIngested(ctx.services, receipts);
        return receipts;
      },
    }),
  }),
});

builder.subscriptionType({
  fields: (t) => ({
    events: t.field({
      type: EventRef,
      description:
        'Every event appended to the topic after the subscription starts, in log order per partition. key: only that actor\'s events. after: a cursor (an earlier message\'s cursor, or eventsCursor): first every event after it that the log holds, then live, each exactly once, each message with its cursor (CURSOR_EXPIRED when the log no longer holds the events after it).',
      args: { topic: t.arg.string({ required: true }), key: t.arg.string(), after: t.arg.string() },
      subscribe: async (_r, a, ctx) => {
        requireEventTopic(ctx.services.registry, a.topic);
        const { topic } = a;
        const key = a.key ?? null;
        // events.late has no live bus: its stream reads the log (from its end when there is no cursor)
        const after = a.after ?? (topic === LATE_TOPIC ? await eventsCursorAt(ctx.services.log, topic, 'end') : null);
        if (after != null) {
          const s = ctx.services;
          const from = decodeEventsCursor(after, topic);
          const partitions = await checkRetained(s.log, topic, from);
          return resumableEvents<EventMessage>(
            {
              log: s.log,
              live: topic === LATE_TOPIC ? undefined : s.live,
              topic,
              from,
              key,
              maxBuffered: s.subscriptionBuffer,
              onOverflow: overflowed(s, 'events'),
              onError: (e) => s.logger.warn({ err: e, topic }, 'a resumable events subscription could not read the log'),
            },
            partitions,
          );
        }
        return busIterator<EventMessage>({
          // one actor's events only reach its subscriptions (the feed splits each batch by key once)
          subscribe: (push) => ctx.services.live.events(topic, push, key ?? undefined),
          maxBuffered: ctx.services.subscriptionBuffer,
          onOverflow: overflowed(ctx.services, 'events'),
        });
      },
      resolve: (item): EventView => {
        const m = raiseOrPass(item) as EventMessage | ResumableEventView;
        // a resumable stream's items are views already (with their cursor)
        if ('cursor' in m) return m;
        return { ...m.event, key: m.key, topic: m.topic, partition: m.partition, offset: m.offset };
      },
    }),
    finals: t.field({
      type: WindowResultRef,
      description:
        'Final window results as the sinks write them to events.aggregated (a result revised under the update late policy comes once per revision), read from the log: from its end, or after: a cursor of an earlier message (resumes exactly like events(after:)). Each message carries its cursor.',
      args: { eventType: t.arg.string(), key: t.arg.string(), window: t.arg.string(), after: t.arg.string() },
      subscribe: async (_r, a, ctx) => {
        if (a.eventType != null) requireEventType(ctx.services, a.eventType);
        requireWindow(ctx.services, a.window);
        const s = ctx.services;
        const from = decodeEventsCursor(a.after ?? (await eventsCursorAt(s.log, AGGREGATED_TOPIC, 'end')), AGGREGATED_TOPIC);
        const partitions = await checkRetained(s.log, AGGREGATED_TOPIC, from);
        return resumableLog<WindowResult>(
          {
            log: s.log,
            topic: AGGREGATED_TOPIC,
            from,
            decode: decodeFinal,
            filter: finalsFilter(a.eventType, a.key, a.window),
            maxBuffered: s.subscriptionBuffer,
            onOverflow: overflowed(s, 'finals'),
            onError: (e: unknown) => s.logger.warn({ err: e }, 'a finals subscription could not read the log'),
          },
          partitions,
        );
      },
      resolve: (item) => raiseOrPass(item as WindowResult | KeyflowError),
    }),
    windowResults: t.field({
      type: WindowResultRef,
      description:
        'Window results as they change (final = false) and when they become final. finalOnly: only those. snapshot (needs key): first the current value of each of the key\'s windows, then live, never going back to an older value. after: a cursor of an earlier message: results at or before it are not sent again. With snapshot or after, every message carries its cursor.',
      args: {
        eventType: t.arg.string({ required: true }),
        key: t.arg.string(),
        window: t.arg.string(),
        finalOnly: t.arg.boolean({ defaultValue: false }),
        snapshot: t.arg.boolean({ defaultValue: false }),
        after: t.arg.string(),
      },
      subscribe: (_r, a, ctx) => {
        const spec = requireEventType(ctx.services, a.eventType);
        requireWindow(ctx.services, a.window, spec);
        const { eventType } = a;
        const key = a.key ?? null;
        const window = a.window ?? null;
        const finalOnly = a.finalOnly ?? false;
        const filter = (w: WindowResult) => (key === null || w.key === key) && (window === null || w.window === window) && (!finalOnly || w.final);
        if (a.snapshot && key === null) {
          throw new KeyflowError(ErrorCode.BAD_USER_INPUT, 'snapshot needs a key', { details: { argument: 'snapshot' } });
        }
        if (a.snapshot || a.after != null) {
          const s = ctx.services;
          const from = a.after == null ? [] : decodeResultsCursor(a.after, eventType).at;
          return resumableWindowResults({
            live: s.live,
            eventType,
            topic: spec.topic,
            from,
            filter,
            key: key ?? undefined,
            window: window ?? undefined,
            snapshot: a.snapshot && key !== null ? () => s.reader.windows({ eventType, key, window: window ?? undefined, finalOnly }) : undefined,
            maxBuffered: s.subscriptionBuffer,
            onOverflow: overflowed(s, 'windowResults'),
            onError: (e) => s.logger.warn({ err: e, eventType }, 'a windowResults snapshot could not be read'),
          });
        }
        return busIterator<WindowResult>({
          // one key's results only reach its subscriptions (the feed splits each batch by key once),
          // and only the window's messages reach this gateway
          subscribe: (push) => ctx.services.live.windowResults(eventType, push, key ?? undefined, window ?? undefined),
          filter: finalOnly ? (w) => w.final : undefined,
          maxBuffered: ctx.services.subscriptionBuffer,
          onOverflow: overflowed(ctx.services, 'windowResults'),
        });
      },
      resolve: raiseOrPass,
    }),
  }),
});
