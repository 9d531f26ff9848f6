/**
 * Resumable subscriptions: cursors and the `events(after:)` stream.
 *
 * An events cursor is the next offset to deliver of every partition of one topic. Every message of
 * a resumable stream carries the cursor just after it, so a client that reconnects with the last
 * cursor it got resumes exactly there: the stream first reads the log from the cursor (every event
 * the client missed, in offset order per partition), then goes on live, each event once.
 *
 * How it stays exact: the stream subscribes to the live feed first and only then reads the log up to
 * its current end, so nothing falls between the two. The live feed is used as a hint: an event at or
 * below what the stream already delivered for its partition is dropped; an event above the next
 * expected offset (records the live bus did not carry: published before the processors heard of the
 * subscription, dead-lettered records, a burst dropped for memory) makes the stream read the missing
 * range from the log first. The log is the truth; the live bus only says when to look.
 *
 * Memory stays bounded: the log is read in pages, only when the client has taken what was read; live
 * messages waiting during a catch-up are dropped past `maxBuffered` (the stream reads the log to its
 * end again instead); a client that falls `maxBuffered` items behind is ended with RATE_LIMITED,
 * like every other subscription.
 */
import type { LiveFeed, ResultPosition, Unsubscribe } from '../bus/index.ts';
import { comparePositions } from '../bus/index.ts';
import type { EventLog, LogRecord } from '../log/index.ts';
import { ErrorCode, KeyflowError, type WindowResult, windowIdentity } from '../model/index.ts';
import { type BusItem, pullBuffer } from './bus-iterator.ts';
import { toEventView } from './reads.ts';
import type { EventView } from './schema/types.ts';

const EVENTS_PREFIX = 'ev1.';
const RESULTS_PREFIX = 'wr1.';
/** Records read from the log per read call while catching up. */
const PAGE = 500;

/** Most partitions a cursor may name (larger ones are refused before anything is allocated). */
const MAX_CURSOR_PARTITIONS = 100_000;
/** Longest cursor accepted, characters. */
const MAX_CURSOR_CHARS = 1_000_000;

function b64(json: unknown): string {
  return Buffer.from(JSON.stringify(json), 'utf8').toString('base64url');
}

function unb64(s: string): unknown {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) return undefined;
  try {
    return JSON.parse(Buffer.from(s, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
}

function invalid(message: string, details: Record<string, unknown>): KeyflowError {
  return new KeyflowError(ErrorCode.INVALID_CURSOR, message, { details });
}

const isOffset = (n: unknown): n is number => typeof n === 'number' && Number.isSafeInteger(n) && n >= 0;

/** The cursor of a topic at these next offsets (index = partition). */
export function encodeEventsCursor(topic: string, next: readonly number[]): string {
  return EVENTS_PREFIX + b64({ t: topic, o: next });
}

/** The next offsets of an events cursor; INVALID_CURSOR when it is not one of `topic`. */
export function decodeEventsCursor(cursor: string, topic: string): number[] {
  if (cursor.length > MAX_CURSOR_CHARS || !cursor.startsWith(EVENTS_PREFIX)) throw invalid('not an events cursor', { argument: 'after' });
  const v = unb64(cursor.slice(EVENTS_PREFIX.length)) as { t?: unknown; o?: unknown } | undefined;
  if (typeof v !== 'object' || v === null || typeof v.t !== 'string' || !Array.isArray(v.o) || v.o.length > MAX_CURSOR_PARTITIONS || !v.o.every(isOffset)) {
    throw invalid('malformed events cursor', { argument: 'after' });
  }
  if (v.t !== topic) throw invalid(`the cursor is of topic '${v.t}', not '${topic}'`, { argument: 'after', cursorTopic: v.t.slice(0, 200), topic });
  return v.o as number[];
}

/** A window-results cursor: the last result position seen per partition of the event type's topic. */
export type ResultsCursor = (Omit<ResultPosition, 'topic'> | null)[];

export function encodeResultsCursor(eventType: string, topic: string, at: ResultsCursor): string {
  return RESULTS_PREFIX + b64({ e: eventType, t: topic, p: at.map((p) => (p === null ? null : [p.offset, p.watermark, p.part])) });
}

export function decodeResultsCursor(cursor: string, eventType: string): { topic: string; at: ResultsCursor } {
  if (cursor.length > MAX_CURSOR_CHARS || !cursor.startsWith(RESULTS_PREFIX)) throw invalid('not a window-results cursor', { argument: 'after' });
  const v = unb64(cursor.slice(RESULTS_PREFIX.length)) as { e?: unknown; t?: unknown; p?: unknown } | undefined;
  if (typeof v !== 'object' || v === null || typeof v.e !== 'string' || typeof v.t !== 'string' || !Array.isArray(v.p) || v.p.length > MAX_CURSOR_PARTITIONS) {
    throw invalid('malformed window-results cursor', { argument: 'after' });
  }
  if (v.e !== eventType) throw invalid(`the cursor is of event type '${v.e}', not '${eventType}'`, { argument: 'after', eventType });
  const at: ResultsCursor = [];
  for (let partition = 0; partition < v.p.length; partition++) {
    const p = v.p[partition] as unknown;
    if (p === null) {
      at.push(null);
      continue;
    }
    if (!Array.isArray(p) || p.length !== 3 || !isOffset(p[0]) || !(p[1] === null || Number.isFinite(p[1])) || !isOffset(p[2])) {
      throw invalid('malformed window-results cursor', { argument: 'after' });
    }
    at.push({ partition, offset: p[0], watermark: p[1] as number | null, part: p[2] });
  }
  return { topic: v.t, at };
}

/** The cursor at the log's current end (resume from now) or start (everything retained). */
export async function eventsCursorAt(log: EventLog, topic: string, where: 'end' | 'start'): Promise<string> {
  const offsets = (await log.partitions(topic)) === undefined ? [] : where === 'end' ? await log.endOffsets(topic) : await log.beginOffsets(topic);
  return encodeEventsCursor(topic, offsets);
}

/** An event of a resumable stream: the event and the cursor just after it. */
export interface ResumableEventView extends EventView {
  cursor: string;
}

/**
 * Checks that the log still holds everything after `from`: CURSOR_EXPIRED naming the first partition
 * whose retained records begin above the cursor.
 */
export async function checkRetained(log: EventLog, topic: string, from: readonly number[]): Promise<number> {
  const partitions = (await log.partitions(topic)) ?? 0;
  if (from.length > partitions) throw invalid(`the cursor names ${from.length} partitions; topic '${topic}' has ${partitions}`, { argument: 'after', topic });
  const [begin, end] = await Promise.all([log.beginOffsets(topic), log.endOffsets(topic)]);
  for (let p = 0; p < partitions; p++) {
    const at = from[p] ?? 0;
    const first = begin[p] ?? 0;
    // ahead of the log: not a cursor this log issued (its events would be skipped silently)
    if (at > (end[p] ?? 0)) throw invalid(`the cursor is ahead of partition ${p} of '${topic}' (offset ${at}, the log ends at ${end[p] ?? 0})`, { argument: 'after', topic, partition: p });
    if (at < first) {
      throw new KeyflowError(ErrorCode.CURSOR_EXPIRED, `the log no longer holds partition ${p} of '${topic}' from offset ${at}: it starts at ${first} (retention); subscribe again without after, or from eventsCursor`, {
        details: { topic, partition: p, cursorOffset: at, firstRetainedOffset: first },
      });
    }
  }
  return partitions;
}

/** A hint that a record is in the log: from the live bus, with its decoded item. */
export interface LogHint<T> {
  partition: number;
  offset: number;
  item: T;
}

export interface ResumableLogOptions<T> {
  log: EventLog;
  topic: string;
  /** Next offset per partition to deliver (a decoded cursor). */
  from: readonly number[];
  /** The item a record stands for; null: not one (skipped, its offset still passed). */
  decode: (r: LogRecord) => T | null;
  /** Keeps only matching items (the cursor still moves past the others). */
  filter?: (item: T) => boolean;
  /**
   * Live hints, in offset order per partition; without them the stream looks at the log's end
   * every `pollMs`.
   */
  hints?: (push: (hints: readonly LogHint<T>[]) => void) => Unsubscribe;
  /** @default 250 */
  pollMs?: number;
  /** @default 10_000 */
  maxBuffered?: number;
  onOverflow?: (maxBuffered: number) => void;
  /** Told when reading the log fails (the stream ends with BROKER_UNAVAILABLE). */
  onError?: (error: unknown) => void;
}

/** An item of a resumable stream and the cursor just after it. */
export type WithCursor<T> = T & { cursor: string };

/**
 * A topic read from a cursor: catch-up from the log, then live (hinted by the bus, or polled), each
 * record once in offset order per partition, each item with its cursor. Call {@link checkRetained}
 * first (it throws the client's error before the subscription starts).
 */
export function resumableLog<T extends object>(options: ResumableLogOptions<T>, partitions: number): AsyncIterableIterator<BusItem<WithCursor<T>>> {
  const { log, topic, decode, filter } = options;
  const maxBuffered = Math.max(1, options.maxBuffered ?? 10_000);
  const pollMs = Math.max(10, options.pollMs ?? 250);
  const next: number[] = Array.from({ length: partitions }, (_, p) => options.from[p] ?? 0);

  /** The pump waits here while the client has a page unread. */
  let drained: (() => void) | null = null;
  let done = false;
  const q = pullBuffer<BusItem<WithCursor<T>>>(finish, () => {
    const d = drained;
    drained = null;
    d?.();
  });
  const out = q.items;

  /** Live hints not yet looked at; dropped past maxBuffered (`lossy`: the log is read to its end instead). */
  let pending: LogHint<T>[] = [];
  let lossy = false;
  let wake: (() => void) | null = null;
  const poke = () => {
    const w = wake;
    wake = null;
    w?.();
  };

  const off: Unsubscribe =
    options.hints?.((hints) => {
      if (done) return;
      if (pending.length + hints.length > maxBuffered) {
        pending = [];
        lossy = true;
      } else {
        for (let i = 0; i < hints.length; i++) pending.push(hints[i]!);
      }
      poke();
    }) ?? (() => undefined);
  const poll = options.hints
    ? undefined
    : setInterval(() => {
        lossy = true;
        poke();
      }, pollMs);
  poll?.unref?.();

  const emit = q.push;

  function deliver(item: T): void {
    if (done) return;
    if (filter && !filter(item)) return;
    if (out.length >= maxBuffered) {
      out.push(new KeyflowError(ErrorCode.RATE_LIMITED, `the subscription fell more than ${maxBuffered} messages behind and was ended; resume with the last cursor`, { details: { maxBuffered } }));
      finish();
      options.onOverflow?.(maxBuffered);
      return;
    }
    emit({ ...item, cursor: encodeEventsCursor(topic, next) });
  }

  function take(r: LogRecord): void {
    next[r.partition] = r.offset + 1;
    const item = decode(r);
    if (item) deliver(item);
  }

  /** Waits until the client has taken what is buffered (so catch-up reads page by page). */
  async function roomForPage(): Promise<void> {
    while (!done && out.length > 0) await new Promise<void>((r) => (drained = r));
  }

  /** Delivers the log's records of `partition` from next[partition] up to (not including) `until`. */
  async function readUpTo(partition: number, until: number): Promise<void> {
    while (!done && next[partition]! < until) {
      await roomForPage();
      const from = next[partition]!;
      const records = await log.read(topic, partition, from, Math.min(PAGE, maxBuffered, until - from));
      if (done) return;
      let progressed = false;
      for (const r of records) {
        if (r.offset >= until) break;
        if (r.offset < next[partition]!) continue;
        take(r);
        progressed = true;
      }
      // Offsets the log skips (lost ranges, transaction markers): nothing more to read below `until`.
      if (!progressed) next[partition] = until;
    }
  }

  async function catchUp(): Promise<void> {
    const end = await log.endOffsets(topic);
    for (let p = 0; p < partitions && !done; p++) await readUpTo(p, end[p] ?? 0);
  }

  async function pump(): Promise<void> {
    await catchUp();
    while (!done) {
      if (lossy) {
        lossy = false;
        pending = [];
        await catchUp();
        continue;
      }
      if (pending.length === 0) {
        await new Promise<void>((r) => (wake = r));
        continue;
      }
      const batch = pending;
      pending = [];
      for (let i = 0; i < batch.length && !done && !lossy; i++) {
        const h = batch[i]!;
        const p = h.partition;
        if (p >= partitions || h.offset < next[p]!) continue; // delivered already (from the log)
        if (h.offset > next[p]!) await readUpTo(p, h.offset); // the bus skipped some: the log has them
        if (done || h.offset < next[p]!) continue;
        next[p] = h.offset + 1;
        deliver(h.item);
      }
    }
  }

  function finish(): void {
    if (done) return;
    done = true;
    off();
    if (poll) clearInterval(poll);
    pending = [];
    poke();
    drained?.();
    q.end();
  }

  pump().catch((e: unknown) => {
    if (done) return;
    options.onError?.(e);
    emit(e instanceof KeyflowError ? e : new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, 'reading the log for the subscription failed; resume with the last cursor', { retriable: true, cause: e }));
    finish();
  });

  return q.iterator;
}

export interface ResumableEventsOptions {
  log: EventLog;
  /** The gateway's live feed; absent for a topic the bus does not carry (events.late): the log is polled. */
  live?: LiveFeed;
  topic: string;
  /** Next offset per partition to deliver (a decoded cursor). */
  from: readonly number[];
  /** Only this actor's events. */
  key?: string | null;
  /** @default 10_000 */
  maxBuffered?: number;
  onOverflow?: (maxBuffered: number) => void;
  onError?: (error: unknown) => void;
}

/** The stream of `events(topic, key, after)`: {@link resumableLog} over the topic's events, hinted by the live feed. */
export function resumableEvents<Other = never>(options: ResumableEventsOptions, partitions: number): AsyncIterableIterator<BusItem<ResumableEventView | Other>> {
  const key = options.key ?? null;
  const { live, topic } = options;
  return resumableLog<EventView>(
    {
      log: options.log,
      topic,
      from: options.from,
      decode: toEventView,
      filter: key === null ? undefined : (e) => e.key === key,
      hints: live
        ? (push) =>
            live.events(topic, (events) =>
              push(events.map((m) => ({ partition: m.partition, offset: m.offset, item: { ...m.event, key: m.key, topic: m.topic, partition: m.partition, offset: m.offset } }))),
            )
        : undefined,
      maxBuffered: options.maxBuffered,
      onOverflow: options.onOverflow,
      onError: options.onError,
    },
    partitions,
  );
}

/** A window result of a resumable stream, with the cursor just after it. */
export interface ResumableWindowResult extends WindowResult {
  cursor: string;
}

/** Whether `a` is a newer value of the same window than `b` (revision, then final, then count). */
export function newerResult(a: WindowResult, b: WindowResult): boolean {
  if (a.revision !== b.revision) return a.revision > b.revision;
  if (a.final !== b.final) return a.final;
  return a.count > b.count;
}

/** -1/0/1: a result position against a cursor's entry for its partition (null: nothing seen). */
export function comparedToCursor(p: ResultPosition, seen: Omit<ResultPosition, 'topic'> | null | undefined): number {
  if (seen == null) return 1;
  return comparePositions(p, { ...seen, topic: p.topic });
}

export interface ResumableResultsOptions {
  live: LiveFeed;
  eventType: string;
  /** The event type's topic (result positions are positions in its partitions). */
  topic: string;
  /** Positions already seen (a decoded cursor); results at or below them are not sent again. */
  from: ResultsCursor;
  /** Keeps only matching results. */
  filter: (r: WindowResult) => boolean;
  /** The key `filter` keeps, if one: only its results reach this stream. */
  key?: string;
  /** The window spec `filter` keeps, if one: only its results are received (see `LiveFeed.windowResults`). */
  window?: string;
  /** When given, its results are sent first (the current values), and live results not newer than them are dropped. */
  snapshot?: () => Promise<WindowResult[]>;
  /** @default 10_000 */
  maxBuffered?: number;
  onOverflow?: (maxBuffered: number) => void;
  onError?: (error: unknown) => void;
}

/**
 * The stream of `windowResults(…, after, snapshot)`: optionally the current values first, then live
 * results whose position is above the cursor, each with the cursor just after it. The live feed is
 * subscribed before the snapshot is read, and a live result that is not newer than the snapshot's
 * value of its window (revision, final, count) is dropped, so the client never goes back to an older value.
 */
export function resumableWindowResults(options: ResumableResultsOptions): AsyncIterableIterator<BusItem<ResumableWindowResult>> {
  const { eventType, topic, filter } = options;
  const maxBuffered = Math.max(1, options.maxBuffered ?? 10_000);
  const at: ResultsCursor = [...options.from];
  const latest = new Map<string, WindowResult>();
  let done = false;
  const q = pullBuffer<BusItem<ResumableWindowResult>>(finish);
  const out = q.items;
  /** Live batches that arrived while the snapshot was being read. */
  let held: { results: readonly WindowResult[]; position: ResultPosition | undefined }[] | null = options.snapshot ? [] : null;

  const cursor = () => encodeResultsCursor(eventType, topic, at);

  function emit(item: BusItem<ResumableWindowResult>): void {
    if (done) return;
    if (out.length >= maxBuffered && !(item instanceof KeyflowError)) {
      out.push(new KeyflowError(ErrorCode.RATE_LIMITED, `the subscription fell more than ${maxBuffered} messages behind and was ended; resume with the last cursor`, { details: { maxBuffered } }));
      finish();
      options.onOverflow?.(maxBuffered);
      return;
    }
    q.push(item);
  }

  function onLive(results: readonly WindowResult[], position: ResultPosition | undefined): void {
    if (position !== undefined) {
      if (position.topic !== topic || comparedToCursor(position, at[position.partition]) <= 0) return;
      while (at.length < position.partition) at.push(null);
      at[position.partition] = { partition: position.partition, offset: position.offset, watermark: position.watermark, part: position.part };
    }
    let c: string | undefined;
    for (let i = 0; i < results.length && !done; i++) {
      const r = results[i]!;
      if (!filter(r)) continue;
      if (latest.size > 0) {
        const id = windowIdentity(r);
        const known = latest.get(id);
        if (known !== undefined) {
          if (!newerResult(r, known)) continue;
          latest.set(id, r);
        }
      }
      c ??= cursor();
      emit({ ...r, cursor: c });
    }
  }

  const off = options.live.windowResults(
    eventType,
    (results, position) => {
      if (done) return;
      if (held !== null) {
        if (held.length >= maxBuffered) {
          emit(new KeyflowError(ErrorCode.RATE_LIMITED, 'too many window results arrived while the snapshot was read; subscribe again', { details: { maxBuffered } }));
          finish();
          return;
        }
        held.push({ results, position });
        return;
      }
      onLive(results, position);
    },
    options.key,
    options.window,
  );

  if (options.snapshot) {
    options
      .snapshot()
      .then((snapshot) => {
        if (done) return;
        const c = cursor();
        for (const r of snapshot) {
          if (!filter(r)) continue;
          latest.set(windowIdentity(r), r);
          emit({ ...r, cursor: c });
        }
        const h = held ?? [];
        held = null;
        for (const b of h) onLive(b.results, b.position);
      })
      .catch((e: unknown) => {
        options.onError?.(e);
        emit(e instanceof KeyflowError ? e : new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, 'reading the current window values failed; subscribe again', { retriable: true, cause: e }));
        finish();
      });
  }

  function finish(): void {
    if (done) return;
    done = true;
    off();
    held = null;
    q.end();
  }

  return q.iterator;
}
