/** Object, input and enum types of the contract. */

import type { Metrics } from '../../core/index.ts';
import type { EventReceipt } from '../../ingest/index.ts';
import type { DeadLetterMessage, EventEnvelope, KeyStateView, WindowResult } from '../../model/index.ts';
import { EVENT_ENVELOPE_FIELDS, EVENT_INPUT_FIELDS, KEY_STATE_FIELDS, WINDOW_RESULT_FIELDS } from '../../model/index.ts';
import type { ApiServices, ComponentHealth, Health } from '../services.ts';
import { builder } from './builder.ts';
import './scalars.ts';
import { exposeShapeFields, inputShapeFields } from './shape-fields.ts';

/** An event read from the log or the bus, with where it lives. */
export interface EventView extends EventEnvelope {
  key: string;
  topic: string;
  partition: number;
  offset: number;
}

export interface TopicView {
  name: string;
  eventType: string;
  partitions: number;
}

/** A dead letter as the API shows it: its attempt times as epoch ms, like every time inside. */
export interface DeadLetterView extends Omit<DeadLetterMessage, 'firstAttemptTime' | 'lastAttemptTime'> {
  id: string;
  firstAttemptTime: number;
  lastAttemptTime: number;
}

export const ReceiptStatusEnum = builder.enumType('ReceiptStatus', { values: ['ACCEPTED', 'DUPLICATE'] as const });

export const EventInputRef = builder.inputType('EventInput', {
  fields: (t) =>
    inputShapeFields(t, EVENT_INPUT_FIELDS, {
      eventId:
        'Idempotency key. When absent the server assigns one (a UUID). A second publish with an eventId seen within the dedupe horizon (default 24 h) is not appended again: it returns the first receipt with status DUPLICATE.',
      timestamp: 'Event time.',
      eventType: 'Routes the event to its topic, e.g. iot.sensor -> events.iot.sensors (see the event-type table in the README).',
    }),
});

export const EventReceiptRef = builder.objectRef<EventReceipt>('EventReceipt').implement({
  fields: (t) => ({
    status: t.field({ type: ReceiptStatusEnum, resolve: (r) => r.status }),
    eventId: t.exposeID('eventId'),
    topic: t.exposeString('topic'),
    partition: t.exposeInt('partition'),
    offset: t.string({ description: 'Log offset (an int64, as a decimal string).', resolve: (r) => String(r.offset) }),
    timestamp: t.field({ type: 'DateTime', description: "The event's own timestamp.", resolve: (r) => r.timestamp }),
  }),
});

export const EventRef = builder.objectRef<EventView>('Event').implement({
  fields: (t) => {
    const { payload, metadata, ...head } = exposeShapeFields(t, EVENT_ENVELOPE_FIELDS);
    return {
      ...head,
      key: t.exposeString('key', { description: 'The actor key: deviceId ?? userId ?? eventId. Also the partition key.' }),
      payload,
      metadata,
      topic: t.exposeString('topic'),
      partition: t.exposeInt('partition'),
      offset: t.string({ resolve: (e) => String(e.offset) }),
      cursor: t.string({
        nullable: true,
        description: 'Where a resumable stream stands just after this event (events(after:) subscriptions only): pass it as after: to resume.',
        resolve: (e) => (e as { cursor?: string }).cursor ?? null,
      }),
    };
  },
});

export const WindowResultRef = builder.objectRef<WindowResult>('WindowResult').implement({
  fields: (t) => ({
    ...exposeShapeFields(t, WINDOW_RESULT_FIELDS),
    cursor: t.string({
      nullable: true,
      description: 'Where a resumable stream stands just after this result (windowResults with after: or snapshot: only): pass it as after: to resume.',
      resolve: (r) => (r as { cursor?: string }).cursor ?? null,
    }),
  }),
});

export const KeyStateRef = builder.objectRef<KeyStateView>('KeyState').implement({
  fields: (t) => exposeShapeFields(t, KEY_STATE_FIELDS),
});

export const ComponentHealthRef = builder.objectRef<ComponentHealth>('ComponentHealth').implement({
  fields: (t) => ({
    name: t.exposeString('name', { description: 'broker, checkpoints, bus, ...' }),
    connected: t.exposeBoolean('connected'),
    detail: t.string({ nullable: true, resolve: (c) => c.detail ?? null }),
  }),
});

export const HealthRef = builder.objectRef<Health>('Health').implement({
  fields: (t) => ({
    status: t.exposeString('status', { description: 'ok or degraded' }),
    mode: t.exposeString('mode', { description: 'embedded or distributed' }),
    uptimeSeconds: t.exposeFloat('uptimeSeconds'),
    components: t.field({ type: [ComponentHealthRef], resolve: (h) => h.components }),
  }),
});

export const TopicRef = builder.objectRef<TopicView>('Topic').implement({
  fields: (t) => ({
    name: t.exposeString('name'),
    eventType: t.exposeString('eventType'),
    partitions: t.exposeInt('partitions'),
    appendedTotal: t.float({
      description: 'Records ever appended to the topic (the sum of its partitions\' end offsets); a client derives the ingest rate from two readings.',
      resolve: async (topic, _a, ctx) => (await ctx.services.log.endOffsets(topic.name)).reduce((a, b) => a + b, 0),
    }),
    processedTotal: t.float({
      nullable: true,
      description: "Events of the topic this node's processor has processed since it started (keyflow_events_processed_total); null on a node without a processor.",
      resolve: (topic, _a, ctx) => metricSum(ctx.services.metrics, 'eventsProcessed', topic.name),
    }),
    consumerLag: t.float({
      nullable: true,
      description: "Records appended but not yet processed, summed over the topic's partitions this node owns (keyflow_consumer_lag_records, sampled every 5 s); null when it owns none.",
      resolve: (topic, _a, ctx) => metricSum(ctx.services.metrics, 'consumerLag', topic.name),
    }),
  }),
});

/** The sum of a metric's series for a topic, or null when the node has none for it. */
async function metricSum(metrics: ApiServices['metrics'], name: 'eventsProcessed' | 'consumerLag', topic: string): Promise<number | null> {
  if (!metrics || !(name in metrics)) return null;
  const m = (metrics as Metrics)[name];
  const { values } = await m.get();
  let sum = 0;
  let any = false;
  for (const v of values) {
    if (v.labels.topic !== topic) continue;
    sum += v.value;
    any = true;
  }
  return any ? sum : null;
}

export const DeadLetterRef = builder.objectRef<DeadLetterView>('DeadLetter').implement({
  fields: (t) => ({
    id: t.exposeID('id'),
    errorType: t.exposeString('errorType'),
    errorMessage: t.exposeString('errorMessage'),
    retryCount: t.exposeInt('retryCount'),
    firstAttemptTime: t.field({ type: 'DateTime', resolve: (d) => d.firstAttemptTime }),
    lastAttemptTime: t.field({ type: 'DateTime', resolve: (d) => d.lastAttemptTime }),
    sourceTopic: t.exposeString('sourceTopic'),
    sourcePartition: t.exposeInt('sourcePartition'),
    sourceOffset: t.exposeString('sourceOffset'),
    originalMessage: t.exposeString('originalMessage', {
      description: "The original record's value, as text (base64 when it was not valid UTF-8).",
    }),
  }),
});

export interface PageView<T> {
  nodes: T[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
}

export const PageInfoRef = builder.objectRef<PageView<unknown>['pageInfo']>('PageInfo').implement({
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage', { description: 'Older records remain below this page.' }),
    endCursor: t.string({ nullable: true, description: 'Pass as after: for the next (older) page.', resolve: (p) => p.endCursor }),
  }),
});

export const EventPageRef = builder.objectRef<PageView<EventView>>('EventPage').implement({
  fields: (t) => ({
    nodes: t.field({ type: [EventRef], resolve: (p) => p.nodes }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (p) => p.pageInfo }),
  }),
});

export const DeadLetterPageRef = builder.objectRef<PageView<DeadLetterView>>('DeadLetterPage').implement({
  fields: (t) => ({
    nodes: t.field({ type: [DeadLetterRef], resolve: (p) => p.nodes }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (p) => p.pageInfo }),
  }),
});

export const WindowResultPageRef = builder.objectRef<PageView<WindowResult>>('WindowResultPage').implement({
  fields: (t) => ({
    nodes: t.field({ type: [WindowResultRef], resolve: (p) => p.nodes }),
    pageInfo: t.field({ type: PageInfoRef, resolve: (p) => p.pageInfo }),
  }),
});
