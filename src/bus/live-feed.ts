/**
 * The subscriber side of the live bus on a gateway: one bus subscription per subject however many
 * GraphQL subscriptions share it, each message parsed once, and replays dropped before anything
 * reaches a subscriber.
 *
 * A partition's new owner (after a processor crash, a rebalance, a fencing) replays from its
 * checkpoint and publishes again what the old owner had already published. The feed keeps, per
 * topic-partition, the highest offset it forwarded (and per event type and partition the highest
 * {@link ResultPosition}) and drops anything at or below it: each event reaches a subscriber once,
 * in offset order per partition, and a window result never goes back to an older value. The marks
 * are kept for the life of the gateway (a few numbers per partition), also while nobody
 * subscribes, so a subscription that starts during a replay does not see the replay either; a
 * gateway that starts late simply starts from the first message it gets.
 *
 * While tracing, each item delivered is marked with the bus's `bus deliver` span (`markDelivery`
 * in core/telemetry), so the span of its send to a subscriber continues the event's trace.
 */
import { activeSpanContext, markDelivery } from '../core/index.ts';
import type { WindowResult } from '../model/index.ts';
import { comparePositions, type EventMessage, parseEventBatch, parseWindowResultBatchMessage, type ResultPosition } from './messages.ts';
import type { LiveBus, Unsubscribe } from './port.ts';
import { subjects } from './port.ts';

export interface LiveFeed {
  /** Events of `topic` not delivered before, in offset order per partition, a batch at a time. */
  events(topic: string, listener: (events: readonly EventMessage[]) => void): Unsubscribe;
  /**
   * Window results of `eventType` newer than any delivered before for their partition, a batch at a
   * time, with the position they were emitted at (undefined when the message had none).
   */
  windowResults(eventType: string, listener: (results: readonly WindowResult[], position: ResultPosition | undefined) => void): Unsubscribe;
  /** Items dropped as replays so far (events and results). */
  readonly replaysDropped: number;
}

export interface LiveFeedOptions {
  bus: LiveBus;
  /** Told when a listener throws (the others still get the message). @default ignores it */
  onListenerError?: (error: unknown, subject: string) => void;
  /** Told how many items of a message were dropped as replays (for a metric). @default ignores it */
  onReplaysDropped?: (stream: 'events' | 'results', count: number) => void;
}

interface Channel<T> {
  /** A Set: one leaving while a message is delivered (overflow) is skipped, the rest still get it. */
  readonly listeners: Set<(items: readonly T[], position: ResultPosition | undefined) => void>;
  off: Unsubscribe;
}

/**
 * @example
 * const feed = createLiveFeed({ bus });
 * const off = feed.events('events.iot.sensors', (events) => events.forEach((e) => console.log(e.offset)));
 */
export function createLiveFeed(options: LiveFeedOptions): LiveFeed {
  const { bus } = options;
  const onListenerError = options.onListenerError ?? (() => undefined);
  const onReplaysDropped = options.onReplaysDropped ?? (() => undefined);
  const channels = new Map<string, Channel<unknown>>();
  /** Highest forwarded offset by topic, indexed by partition. */
  const eventMarks = new Map<string, number[]>();
  /** Highest forwarded result position by `eventType \0 topic`, indexed by partition. */
  const resultMarks = new Map<string, ResultPosition[]>();
  let replaysDropped = 0;
  /** The position of the result message being delivered (set by freshResults, read by its listeners). */
  let deliveredPosition: ResultPosition | undefined;

  function freshEvents(topic: string, message: unknown): EventMessage[] | null {
    const events = parseEventBatch(message);
    if (events === null || events.length === 0) return null;
    let marks = eventMarks.get(topic);
    if (marks === undefined) eventMarks.set(topic, (marks = []));
    const out: EventMessage[] = [];
    let dropped = 0;
    for (let i = 0; i < events.length; i++) {
      const e = events[i]!;
      if (e.topic !== topic) continue;
      const mark = marks[e.partition];
      if (mark !== undefined && e.offset <= mark) {
        dropped++;
        continue;
      }
      marks[e.partition] = e.offset;
      out.push(e);
    }
    if (dropped > 0) {
      replaysDropped += dropped;
      onReplaysDropped('events', dropped);
    }
    return out.length > 0 ? out : null;
  }

  function freshResults(eventType: string, message: unknown): WindowResult[] | null {
    const m = parseWindowResultBatchMessage(message);
    if (m === null) return null;
    const results = m.results.filter((r) => r.eventType === eventType);
    if (results.length === 0) return null;
    const p = m.position;
    deliveredPosition = p;
    if (p === undefined) return results;
    const key = `${eventType}\u0000${p.topic}`;
    let marks = resultMarks.get(key);
    if (marks === undefined) resultMarks.set(key, (marks = []));
    const mark = marks[p.partition];
    if (mark !== undefined && comparePositions(p, mark) <= 0) {
      replaysDropped += results.length;
      onReplaysDropped('results', results.length);
      return null;
    }
    marks[p.partition] = p;
    return results;
  }

  function listen<T>(subject: string, fresh: (message: unknown) => T[] | null, listener: (items: readonly T[], position: ResultPosition | undefined) => void): Unsubscribe {
    let ch = channels.get(subject) as Channel<T> | undefined;
    if (ch === undefined) {
      const channel: Channel<T> = { listeners: new Set(), off: () => undefined };
      ch = channel;
      channels.set(subject, channel as Channel<unknown>);
      channel.off = bus.subscribe(subject, (message) => {
        deliveredPosition = undefined;
        const items = fresh(message);
        if (items === null) return;
        const position = deliveredPosition;
        const span = activeSpanContext();
        if (span !== undefined) for (let i = 0; i < items.length; i++) markDelivery(items[i] as object, span);
        for (const l of channel.listeners) {
          try {
            l(items, position);
          } catch (e) {
            onListenerError(e, subject);
          }
        }
      });
    }
    const channel = ch;
    // Wrapped: the same function listening twice is two listeners, removed one at a time.
    const l = (items: readonly T[], position: ResultPosition | undefined) => listener(items, position);
    channel.listeners.add(l);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      channel.listeners.delete(l);
      if (channel.listeners.size === 0 && channels.get(subject) === channel) {
        channels.delete(subject);
        channel.off();
      }
    };
  }

  return {
    events: (topic, listener) => listen(subjects.events(topic), (m) => freshEvents(topic, m), listener),
    windowResults: (eventType, listener) => listen(subjects.windowResults(eventType), (m) => freshResults(eventType, m), listener),
    get replaysDropped() {
      return replaysDropped;
    },
  };
}
