/** Object, input and enum types of the contract. */
import type { DeadLetterMessage } from '../../model/index.ts';
import type { KeyStateView, WindowResult } from '../../model/index.ts';
import type { EventReceipt } from '../../ingest/index.ts';
import type { ComponentHealth, Health } from '../services.ts';
import { builder } from './builder.ts';
import './scalars.ts';

/** An event read from the log or the bus, with where it lives. */
export interface EventView {
  eventId: string;
  /** Event time, epoch ms. */
  timestamp: number;
  eventType: string;
  userId: string | null;
  deviceId: string | null;
  payload: Record<string, unknown>;
  metadata: Record<string, unknown> | null;
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

export interface DeadLetterView extends DeadLetterMessage {
  id: string;
}

export const ReceiptStatusEnum = builder.enumType('ReceiptStatus', { values: ['ACCEPTED', 'DUPLICATE'] as const });

export const EventInputRef = builder.inputType('EventInput', {
  fields: (t) => ({
    eventId: t.id({
      description:
        'Idempotency key. When absent the server assigns one (a UUID). A second publish with an eventId seen within the dedupe horizon (default 24 h) is not appended again: it returns the first receipt with status DUPLICATE.',
    }),
    timestamp: t.field({ type: 'DateTime', required: true, description: 'Event time.' }),
    eventType: t.string({
      required: true,
      description:
        'Routes the event to its topic, e.g. iot.sensor -> events.iot.sensors (see the event-type table in DESIGN.md).',
    }),
    userId: t.string(),
    deviceId: t.string(),
    payload: t.field({ type: 'JSON', required: true }),
    metadata: t.field({ type: 'JSON' }),
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
  fields: (t) => ({
    eventId: t.exposeID('eventId'),
    timestamp: t.field({ type: 'DateTime', resolve: (e) => e.timestamp }),
    eventType: t.exposeString('eventType'),
    userId: t.exposeString('userId', { nullable: true }),
    deviceId: t.exposeString('deviceId', { nullable: true }),
    key: t.exposeString('key', { description: 'The actor key: deviceId ?? userId ?? eventId. Also the partition key.' }),
    payload: t.field({ type: 'JSON', resolve: (e) => e.payload }),
    metadata: t.field({ type: 'JSON', nullable: true, resolve: (e) => e.metadata }),
    topic: t.exposeString('topic'),
    partition: t.exposeInt('partition'),
    offset: t.string({ resolve: (e) => String(e.offset) }),
  }),
});

export const WindowResultRef = builder.objectRef<WindowResult>('WindowResult').implement({
  fields: (t) => ({
    eventType: t.exposeString('eventType'),
    key: t.exposeString('key'),
    window: t.exposeString('window', { description: 'Window spec name, e.g. tumbling-1m, sliding-5m-1m, session-30m.' }),
    windowStart: t.field({ type: 'DateTime', description: 'Inclusive.', resolve: (w) => w.windowStart }),
    windowEnd: t.field({ type: 'DateTime', description: 'Exclusive.', resolve: (w) => w.windowEnd }),
    count: t.exposeInt('count', { description: 'Events in the window.' }),
    valueCount: t.exposeInt('valueCount', {
      description: 'Events in the window whose value field held a finite number.',
    }),
    sum: t.exposeFloat('sum', {
      nullable: true,
      description: 'Sum, average, minimum and maximum of those values; null when valueCount is 0. avg = sum / valueCount.',
    }),
    avg: t.exposeFloat('avg', { nullable: true }),
    min: t.exposeFloat('min', { nullable: true }),
    max: t.exposeFloat('max', { nullable: true }),
    distinctUsers: t.exposeInt('distinctUsers', { description: "Distinct non-null userId values among the window's events." }),
    final: t.exposeBoolean('final', {
      description:
        'True once the watermark has passed windowEnd + allowed lateness: the result will not change again (except under the UPDATE late policy, which raises revision).',
    }),
    revision: t.exposeInt('revision', {
      description: '0 for the first emitted result of this window, +1 each time a changed result is emitted after it became final.',
    }),
  }),
});

export const KeyStateRef = builder.objectRef<KeyStateView>('KeyState').implement({
  fields: (t) => ({
    eventType: t.exposeString('eventType'),
    key: t.exposeString('key'),
    topic: t.exposeString('topic'),
    partition: t.exposeInt('partition'),
    watermark: t.field({
      type: 'DateTime',
      nullable: true,
      description: "The partition's current watermark, null before the first event.",
      resolve: (k) => k.watermark,
    }),
    lastEventTime: t.field({ type: 'DateTime', nullable: true, resolve: (k) => k.lastEventTime }),
    eventsProcessed: t.exposeInt('eventsProcessed'),
    openWindows: t.exposeInt('openWindows'),
  }),
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
  }),
});

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
