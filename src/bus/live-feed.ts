/**
 * The subscriber side of the live bus on a gateway: one bus subscription per subject however many
 * GraphQL subscriptions share it, each message parsed once, and replays dropped before anything
 * reaches a subscriber.
 *
 * A partition's new owner (after a processor crash, a rebalance, a fencing) replays from its
 * checkpoint and publishes again what the old owner had already published. The feed keeps, per
 * topic-partition, the highest offset it forwarded (and per window-results subject and partition
 * the highest {@link ResultPosition}) and drops anything at or below it: each event reaches a subscriber once,
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
  /**
   * Events of `topic` not delivered before, in offset order per partition, a batch at a time;
   * with `key`, only that actor's events (and only batches that have some).
   */
  events(topic: string, listener: (events: readonly EventMessage[]) => void, key?: string): Unsubscribe;
  /**
   * Window results of `eventType` newer than any delivered before for their partition, a batch at a
   * time, with the position they were emitted at (undefined when the message had none); with
   * `key`, only that key's results (and only batches that have some); with `window`, only that
   * window spec's, and only that window's messages travel to this process.
   */
  windowResults(
    eventType: string,
    listener: (results: readonly WindowResult[], position: ResultPosition | undefined) => void,
    key?: string,
    window?: string,
  ): Unsubscribe;
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

type Listener<T> = (items: readonly T[], position: ResultPosition | undefined) => void;

interface Channel<T> {
  /** A Set: one leaving while a message is delivered (overflow) is skipped, the rest still get it. */
  readonly listeners: Set<Listener<T>>;
  /**
   * Listeners of one key, by key: a message's items are split by key once and each goes only to
   * its key's listeners — a gateway with many single-key subscriptions (dashboards of one device
   * each) does work per matching item, not per item and subscription.
   */
  readonly keyed: Map<string, Set<Listener<T>>>;
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
  const channels = new Map<string, Channel<{ key: string }>>();
  /** Highest forwarded offset by topic, indexed by partition. */
  const eventMarks = new Map<string, number[]>();
  /**
   * Highest forwarded result position by `subject \0 topic`, indexed by partition: per subject, not
   * per event type, because a gateway with subscriptions to one window and to all windows of a type
   * gets the same message on both subjects, and each must deliver it once.
   */
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

  function freshResults(subject: string, eventType: string, window: string | undefined, message: unknown): WindowResult[] | null {
    const m = parseWindowResultBatchMessage(message);
    if (m === null) return null;
    // names that differ only in characters a subject token cannot hold share a subject
    const results = m.results.filter((r) => r.eventType === eventType && (window === undefined || r.window === window));
    if (results.length === 0) return null;
    const p = m.position;
    deliveredPosition = p;
    if (p === undefined) return results;
    const key = `${subject}\u0000${p.topic}`;
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

  function listen<T extends { key: string }>(subject: string, fresh: (message: unknown) => T[] | null, listener: Listener<T>, key: string | undefined): Unsubscribe {
    let ch = channels.get(subject) as Channel<T> | undefined;
    if (ch === undefined) {
      const channel: Channel<T> = { listeners: new Set(), keyed: new Map(), off: () => undefined };
      ch = channel;
      channels.set(subject, channel as unknown as Channel<{ key: string }>);
      channel.off = bus.subscribe(subject, (message) => {
        deliveredPosition = undefined;
        const items = fresh(message);
        if (items === null) return;
        const position = deliveredPosition;
        const span = activeSpanContext();
        if (span !== undefined) for (let i = 0; i < items.length; i++) markDelivery(items[i] as object, span);
        for (const l of channel.listeners) call(l, items, position, subject);
        if (channel.keyed.size > 0) deliverKeyed(channel, items, position, subject);
      });
    }
    const channel = ch;
    // Wrapped: the same function listening twice is two listeners, removed one at a time.
    const l: Listener<T> = (items, position) => listener(items, position);
    let set = channel.listeners;
    if (key !== undefined) {
      let byKey = channel.keyed.get(key);
      if (byKey === undefined) channel.keyed.set(key, (byKey = new Set()));
      set = byKey;
    }
    set.add(l);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      set.delete(l);
      if (key !== undefined && set.size === 0 && channel.keyed.get(key) === set) channel.keyed.delete(key);
      if (channel.listeners.size === 0 && channel.keyed.size === 0 && channels.get(subject) === (channel as unknown as Channel<{ key: string }>)) {
        channels.delete(subject);
        channel.off();
      }
    };
  }

  function call<T>(l: Listener<T>, items: readonly T[], position: ResultPosition | undefined, subject: string): void {
    try {
      l(items, position);
    } catch (e) {
      onListenerError(e, subject);
    }
  }

  /** Each key's items of the message, in order, to that key's listeners (the common one-item-per-key case without a map). */
  function deliverKeyed<T extends { key: string }>(channel: Channel<T>, items: readonly T[], position: ResultPosition | undefined, subject: string): void {
    let byKey: Map<string, T[]> | undefined;
    for (let i = 0; i < items.length; i++) {
      const item = items[i]!;
      if (!channel.keyed.has(item.key)) continue;
      byKey ??= new Map();
      const list = byKey.get(item.key);
      if (list === undefined) byKey.set(item.key, [item]);
      else list.push(item);
    }
    if (byKey === undefined) return;
    for (const [key, list] of byKey) {
      const ls = channel.keyed.get(key);
      if (ls !== undefined) for (const l of ls) call(l, list, position, subject);
    }
  }

  return {
    events: (topic, listener, key) => listen(subjects.events(topic), (m) => freshEvents(topic, m), listener, key),
    windowResults: (eventType, listener, key, window) => {
      const subject = window === undefined ? subjects.allWindowResults(eventType) : subjects.windowResults(eventType, window);
      return listen(subject, (m) => freshResults(subject, eventType, window, m), listener, key);
    },
    get replaysDropped() {
      return replaysDropped;
    },
  };
}
