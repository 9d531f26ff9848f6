/**
 * A synchronous-feeling test driver for PartitionHosts (in the spirit of Kafka Streams'
 * TopologyTestDriver): append events to an in-memory log routed exactly as the gateway routes
 * them (registry topic + murmur2 partition of the actor key), process, advance a simulated
 * clock, checkpoint into an in-memory store, crash and restore, and read results.
 */
import type { LogRecord } from '../../src/log/port.ts';
import { actorKey, createEventTypeRegistry, encodeEnvelope, parseEventInput, partitionForKey } from '../../src/model/index.ts';
import type { DeadLetterMessage, EventEnvelope, EventInput, EventTypeRegistry } from '../../src/model/index.ts';
import { createSimulatedClock } from '../../src/core/clock.ts';
import type { SimulatedClock } from '../../src/core/clock.ts';
import type { PartitionCheckpoint } from '../../src/state/port.ts';
import { createPartitionHost } from '../../src/actors/index.ts';
import type { PartitionHost, PartitionHostOptions } from '../../src/actors/index.ts';
import type { WindowResult } from '../../src/actors/windows/index.ts';

export type DriverHostOptions = Partial<Omit<PartitionHostOptions, 'topic' | 'partition' | 'registry' | 'clock' | 'output' | 'loadActor' | 'loadFinals'>>;

export interface DriverOptions extends DriverHostOptions {
  registry?: EventTypeRegistry;
  /** Simulated processing time at start, epoch ms. @default 1_700_000_000_000 */
  startTime?: number;
  /** Records per processBatch call. @default 100 */
  batchSize?: number;
}

interface StoredPartition {
  cp: PartitionCheckpoint | null;
  actors: Map<string, string>;
  /** The results store: actor → window id → data. */
  finals: Map<string, Map<string, string>>;
  /** How many times each (actor, window id, data) row was written (finals are written once). */
  finalWrites: Map<string, number>;
}

const te = new TextEncoder();

export class PartitionDriver {
  readonly clock: SimulatedClock;
  readonly registry: EventTypeRegistry;
  /** The log: records per `topic/partition`, index = offset. */
  readonly log = new Map<string, LogRecord[]>();
  readonly hosts = new Map<string, PartitionHost>();
  /** The checkpoint store: committed state per `topic/partition`. */
  readonly store = new Map<string, StoredPartition>();
  /** Every result emitted, in order. */
  readonly emitted: WindowResult[] = [];
  readonly deadLetters: DeadLetterMessage[] = [];
  readonly late: LogRecord[] = [];
  readonly events: { event: EventEnvelope; record: LogRecord }[] = [];
  /** Keys seen per event type (for reading all windows). */
  readonly keys = new Map<string, Set<string>>();
  private readonly opts: DriverOptions;
  private epoch = 0;

  constructor(opts: DriverOptions = {}) {
    this.opts = opts;
    this.clock = createSimulatedClock(opts.startTime ?? 1_700_000_000_000);
    this.registry = opts.registry ?? createEventTypeRegistry();
  }

  /** The host of a partition, created (and restored from the store) on first use. */
  host(topic: string, partition: number): PartitionHost {
    const tp = `${topic}/${partition}`;
    let h = this.hosts.get(tp);
    if (h) return h;
    const { registry: _r, startTime: _s, batchSize: _b, ...hostOpts } = this.opts;
    h = createPartitionHost({
      ...hostOpts,
      topic,
      partition,
      registry: this.registry,
      clock: this.clock,
      retry: { baseDelayMs: 1, maxDelayMs: 2, ...(hostOpts.retry ?? {}), sleep: hostOpts.retry?.sleep ?? (async () => {}) },
      loadActor: async (id) => this.store.get(tp)?.actors.get(id) ?? null,
      loadFinals: async (id) => [...(this.store.get(tp)?.finals.get(id)?.values() ?? [])],
      output: {
        onEvents: (evs) => void this.events.push(...evs),
        onResults: (rs) => void this.emitted.push(...rs),
        onLate: (rs) => void this.late.push(...rs),
        onDeadLetter: (ms) => void this.deadLetters.push(...ms),
      },
    });
    const stored = this.store.get(tp);
    h.restore(stored?.cp ?? null, stored?.actors ?? new Map());
    this.hosts.set(tp, h);
    return h;
  }

  /** Appends a raw record (any bytes) to a partition, stamped `appendTime` (default: the clock's now); returns it. */
  appendRaw(topic: string, partition: number, key: string | null, value: Uint8Array | string, appendTime: number = this.clock.now()): LogRecord {
    const tp = `${topic}/${partition}`;
    let recs = this.log.get(tp);
    if (!recs) this.log.set(tp, (recs = []));
    const rec: LogRecord = {
      topic,
      partition,
      offset: recs.length,
      key,
      value: typeof value === 'string' ? te.encode(value) : value,
      headers: { 'content-type': 'application/json' },
      appendTime,
    };
    recs.push(rec);
    return rec;
  }

  /**
   * Validates and appends an event the way the gateway does; returns its record. The record is
   * stamped no earlier than its event time: the driver compresses hours of event time into little
   * processing time, and stands for a log the events were published to live, as the gateway
   * (which refuses events too far ahead of their append time) would have let them in.
   */
  append(input: EventInput): LogRecord {
    const ev = parseEventInput(input, () => `gen-${Math.random().toString(36).slice(2)}`);
    const spec = this.registry.resolve(ev.eventType);
    if (!spec) throw new Error(`unknown event type ${ev.eventType}`);
    const key = actorKey(ev);
    let ks = this.keys.get(ev.eventType);
    if (!ks) this.keys.set(ev.eventType, (ks = new Set()));
    ks.add(key);
    return this.appendRaw(spec.topic, partitionForKey(key, spec.partitions), key, encodeEnvelope(ev), Math.max(this.clock.now(), ev.timestamp));
  }

  /** Processes every record not yet reflected in its partition's host, in batches. */
  async process(): Promise<void> {
    const size = this.opts.batchSize ?? 100;
    for (const [tp, recs] of this.log) {
      const [topic, p] = splitTp(tp);
      const h = this.host(topic, p);
      while (h.nextOffset < recs.length) {
        await h.processBatch(recs.slice(h.nextOffset, h.nextOffset + size));
      }
    }
  }

  /** Appends and processes. */
  async feed(inputs: readonly EventInput[]): Promise<LogRecord[]> {
    const recs = inputs.map((i) => this.append(i));
    await this.process();
    return recs;
  }

  /** Advances processing time and ticks every host (idle watermark advance, finals). */
  advance(ms: number): void {
    this.clock.advance(ms);
    for (const h of this.hosts.values()) h.tick();
  }

  /** Commits every host's checkpoint into the in-memory store. */
  checkpoint(): void {
    for (const [tp, h] of this.hosts) {
      const w = h.checkpoint();
      let s = this.store.get(tp);
      if (!s) this.store.set(tp, (s = { cp: null, actors: new Map(), finals: new Map(), finalWrites: new Map() }));
      for (const [id, data] of w.dirty) s.actors.set(id, data);
      for (const f of w.finals ?? []) {
        let m = s.finals.get(f.actor);
        if (!m) s.finals.set(f.actor, (m = new Map()));
        m.set(f.id, f.data);
        const row = `${f.actor}|${f.id}|${f.data}`;
        s.finalWrites.set(row, (s.finalWrites.get(row) ?? 0) + 1);
      }
      for (const id of w.deleted ?? []) {
        s.actors.delete(id);
        s.finals.delete(id);
      }
      s.cp = { nextOffset: w.nextOffset, partitionState: w.partitionState, epoch: ++this.epoch };
      h.markCommitted();
    }
  }

  /** Loses every host (in-memory state); the next use restores from the store. */
  crash(): void {
    this.hosts.clear();
  }

  /** Every window result the hosts hold now, for every key seen. */
  async held(): Promise<WindowResult[]> {
    const out: WindowResult[] = [];
    for (const [eventType, keys] of this.keys) {
      const spec = this.registry.resolve(eventType)!;
      for (const key of keys) {
        const h = this.host(spec.topic, partitionForKey(key, spec.partitions));
        out.push(...(await h.windows({ eventType, key })));
      }
    }
    return out;
  }

  /** The last emitted final per window (what an upserting sink holds). */
  sinkView(): WindowResult[] {
    const m = new Map<string, WindowResult>();
    for (const r of this.emitted) {
      if (!r.final) continue;
      m.set(`${r.eventType}|${r.key}|${r.window}|${r.windowStart}`, r);
    }
    return [...m.values()];
  }
}

function splitTp(tp: string): [string, number] {
  const i = tp.lastIndexOf('/');
  return [tp.slice(0, i), Number(tp.slice(i + 1))];
}

export function createPartitionDriver(opts: DriverOptions = {}): PartitionDriver {
  return new PartitionDriver(opts);
}
