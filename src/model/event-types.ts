/** The event-type table (README, "Event types and topics"): which topic an event type goes to and which payload field is its value. */

export interface EventTypeSpec {
  readonly eventType: string;
  readonly topic: string;
  readonly partitions: number;
  /** Payload field aggregated as sum/avg/min/max; null when the type has none (count and distinct users only). */
  readonly valueField: string | null;
}

export interface TopicSpec {
  readonly name: string;
  readonly partitions: number;
}

export const DLQ_TOPIC = 'events.dlq';
export const LATE_TOPIC = 'events.late';
export const AGGREGATED_TOPIC = 'events.aggregated';

export const DEFAULT_EVENT_TYPES: readonly EventTypeSpec[] = [
  { eventType: 'iot.sensor', topic: 'events.iot.sensors', partitions: 12, valueField: 'value' },
  { eventType: 'clickstream', topic: 'events.clickstream', partitions: 24, valueField: null },
  { eventType: 'transaction', topic: 'events.transactions', partitions: 12, valueField: 'amount' },
];

/** Topics the platform writes besides the event topics. */
export const SYSTEM_TOPICS: readonly TopicSpec[] = [
  { name: DLQ_TOPIC, partitions: 6 },
  { name: AGGREGATED_TOPIC, partitions: 12 },
  { name: LATE_TOPIC, partitions: 6 },
];

/** Partitions of a topic created for an unknown event type when dynamic topics are enabled. */
export const DYNAMIC_TOPIC_PARTITIONS = 6;

/**
 * Looks event types up by name and by topic. With `dynamic`, an unknown type gets topic
 * `events.<eventType>` with {@link DYNAMIC_TOPIC_PARTITIONS} partitions, registered on first use.
 */
export interface EventTypeRegistry {
  /** The spec for a type, or undefined when unknown and dynamic topics are off. */
  resolve(eventType: string): EventTypeSpec | undefined;
  byTopic(topic: string): EventTypeSpec | undefined;
  all(): readonly EventTypeSpec[];
  readonly dynamic: boolean;
}

const EVENT_TYPE_NAME = /^[a-zA-Z0-9][a-zA-Z0-9._-]{0,99}$/;

export function createEventTypeRegistry(
  types: readonly EventTypeSpec[] = DEFAULT_EVENT_TYPES,
  options: { dynamic?: boolean } = {},
): EventTypeRegistry {
  const byType = new Map(types.map((t) => [t.eventType, t]));
  const byTopic = new Map(types.map((t) => [t.topic, t]));
  const dynamic = options.dynamic ?? false;
  return {
    dynamic,
    resolve(eventType) {
      const known = byType.get(eventType);
      if (known || !dynamic || !EVENT_TYPE_NAME.test(eventType)) return known;
      const spec: EventTypeSpec = {
        eventType,
        topic: `events.${eventType}`,
        partitions: DYNAMIC_TOPIC_PARTITIONS,
        valueField: 'value',
      };
      byType.set(eventType, spec);
      byTopic.set(spec.topic, spec);
      return spec;
    },
    byTopic(topic) {
      const known = byTopic.get(topic);
      if (known || !dynamic || !topic.startsWith('events.')) return known;
      return this.resolve(topic.slice('events.'.length));
    },
    all: () => [...byType.values()],
  };
}
