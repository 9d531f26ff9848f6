/** Query, Mutation and Subscription of the contract. */
import { Kind, type ValueNode } from 'graphql';
import type { EventMessage } from '../../bus/index.ts';
import { LifecycleEvent } from '../../core/index.ts';
import type { EventReceipt } from '../../ingest/index.ts';
import type { EventTypeSpec, WindowResult } from '../../model/index.ts';
import { ErrorCode, KeyflowError } from '../../model/index.ts';
import { busIterator } from '../bus-iterator.ts';
import { RAW_EVENT_INPUTS, type RawEventInputs } from '../plugins/use-raw-event-inputs.ts';
import { checkLimit, deadLetters, latestEvents, requireEventTopic } from '../reads.ts';
import type { ApiServices } from '../services.ts';
import { builder } from './builder.ts';
import {
  DeadLetterRef,
  EventInputRef,
  EventReceiptRef,
  EventRef,
  type EventView,
  HealthRef,
  KeyStateRef,
  TopicRef,
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
        'Every event appended to the topic after the subscription starts, in log order per partition. key: only that actor\'s events.',
      args: { topic: t.arg.string({ required: true }), key: t.arg.string() },
      subscribe: (_r, a, ctx) => {
        requireEventTopic(ctx.services.registry, a.topic);
        const { topic } = a;
        const key = a.key ?? null;
        return busIterator<EventMessage>({
          subscribe: (push) => ctx.services.live.events(topic, push),
          filter: key === null ? undefined : (m) => m.key === key,
          maxBuffered: ctx.services.subscriptionBuffer,
          onOverflow: overflowed(ctx.services, 'events'),
        });
      },
      resolve: (item): EventView => {
        const m = raiseOrPass(item);
        return { ...m.event, key: m.key, topic: m.topic, partition: m.partition, offset: m.offset };
      },
    }),
    windowResults: t.field({
      type: WindowResultRef,
      description:
        'Window results as they change (final = false) and when they become final. finalOnly: only those.',
      args: {
        eventType: t.arg.string({ required: true }),
        key: t.arg.string(),
        window: t.arg.string(),
        finalOnly: t.arg.boolean({ defaultValue: false }),
      },
      subscribe: (_r, a, ctx) => {
        requireWindow(ctx.services, a.window, requireEventType(ctx.services, a.eventType));
        const { eventType } = a;
        const key = a.key ?? null;
        const window = a.window ?? null;
        const finalOnly = a.finalOnly ?? false;
        return busIterator<WindowResult>({
          subscribe: (push) => ctx.services.live.windowResults(eventType, push),
          filter: (w) => (key === null || w.key === key) && (window === null || w.window === window) && (!finalOnly || w.final),
          maxBuffered: ctx.services.subscriptionBuffer,
          onOverflow: overflowed(ctx.services, 'windowResults'),
        });
      },
      resolve: raiseOrPass,
    }),
  }),
});
