/**
 * The PartitionHost: owns one (topic, partition) — its watermark, its KeyActors, their timers,
 * supervision, passivation and checkpoints. The runtime feeds it batches of log records, calls
 * `tick()` on a timer, checkpoints it and wires its output to the bus, the log and the sinks.
 */

import type { Clock } from '../../core/index.ts';
import type { LogRecord } from '../../log/index.ts';
import type { DeadLetterMessage, EventEnvelope, EventTypeRegistry, KeyStateView, LatePolicy, WindowQuery, WindowResult } from '../../model/index.ts';
import { checkPayloadSchema, DEFAULT_MAX_FUTURE_SKEW_MS, ErrorCode, KeyflowError, keyFor, toError } from '../../model/index.ts';
import { decodeWireRecord, type SchemaRegistry } from '../../schemas/index.ts';
import type { CheckpointWrite, PartitionCheckpoint } from '../../state/index.ts';
import { decodeRecord, type RecordBounds } from '../decode.ts';
import { ENGINE_DEFAULTS as D } from '../defaults.ts';
import { EmitBuffer } from '../key-actor/emit-buffer.ts';
import { decodeFinal } from '../key-actor/snapshot-codec.ts';
import { heldUntil } from '../key-actor/window-state.ts';
import { isRollupId, PartitionRollups } from '../rollups/rollup-state.ts';
import type { RollupPartial, RollupQuery } from '../rollups/rollup-types.ts';
import type { WindowSpec } from '../windows/spec.ts';
import { DEFAULT_WINDOWS, parseWindowSpec } from '../windows/spec.ts';
import type { WatermarkState } from '../windows/watermark.ts';
import { advanceIdle, initialWatermark, observeEventTime, touchPartition } from '../windows/watermark.ts';
import { ActorTable, type Slot, type TypeCtx } from './actor-table.ts';
import { encodePartitionState, readPartitionState } from './checkpoint-codec.ts';
import { FinalsLedger } from './finals-ledger.ts';
import type { FailureDecision, FailurePolicy, FailureStage, RetryOptions } from './supervision.ts';
import { backoffDelay, deadLetterOf, defaultFailurePolicy, partitionStopped } from './supervision.ts';
import { mergeWindows } from './window-query.ts';

/** Callbacks the runtime wires to the live bus, the log and the sinks. Called synchronously, batched. */
export interface PartitionOutput {
  /** The events of a batch that were processed (not dead-lettered), for live subscriptions. */
  onEvents?(events: { event: EventEnvelope; record: LogRecord }[]): void;
  /**
   * Changed window results: updates (final = false, the latest value of each window changed by a
   * batch or tick) and each final once (final = true; again with revision + 1 under `update`).
   */
  onResults(results: WindowResult[]): void;
  /** Records late for at least one of their windows, under the `side-output` policy. */
  onLate(records: LogRecord[]): void;
  onDeadLetter(messages: DeadLetterMessage[]): void;
}

/** Optional metrics observer; every method is called at most once per batch or tick. */
export interface PartitionMetrics {
  processed?(n: number): void;
  lateDropped?(n: number): void;
  lateSideOutput?(n: number): void;
  deadLettered?(n: number): void;
  /** Processing time from the append of the batch's last record to the end of its processing, ms. */
  processingLatency?(ms: number): void;
  activeActors?(n: number): void;
}

export interface PartitionHostOptions {
  topic: string;
  partition: number;
  /** Event types by name (and the topic's own type by topic). */
  registry: Pick<EventTypeRegistry, 'resolve' | 'byTopic'>;
  /**
   * State of the partition's own beside the actors (the enrichment's per-key statistics), saved in
   * every checkpoint with the offset and handed back on restore (undefined: none saved).
   */
  extraState?: { encode(): unknown; restore(data: unknown): void };
  /** Schemas of Avro / Protobuf types: their raw records (Confluent wire format) are decoded with them. */
  schemas?: Pick<SchemaRegistry, 'byId' | 'versions'>;
  /** Window specs (parsed or by name). @default DEFAULT_WINDOWS */
  windows?: readonly (WindowSpec | string)[];
  /** Watermark lag behind the max event time, ms. @default 10000 */
  maxOutOfOrderMs?: number;
  /** Event time a window stays open after its end, ms. @default 0 */
  allowedLatenessMs?: number;
  /** @default 'side-output' */
  latePolicy?: LatePolicy;
  /** Processing time without records after which the watermark advances on its own, ms. @default 30000 */
  idleTimeoutMs?: number;
  /** How far an event's time may lie after its record's append time, ms; a record beyond it is dead-lettered (TIMESTAMP_OUT_OF_RANGE). @default 300000 */
  maxFutureSkewMs?: number;
  /** How long final results stay queryable behind the watermark (event time), ms. @default 86400000 */
  resultRetentionMs?: number;
  clock: Clock;
  retry?: RetryOptions;
  /** @default defaultFailurePolicy */
  failurePolicy?: FailurePolicy;
  /**
   * Processing time after which an untouched actor with no open window and no uncommitted change
   * is passivated by `passivateIdle()`, ms. Needs `loadActor`. @default 300000
   */
  passivateAfterMs?: number;
  /**
   * Actors whose due windows one batch or tick finalises; the others follow in the next rounds
   * (meanwhile their events still see the watermark, so no window accepts a late event, and
   * queries already answer those windows as final). Bounds what one watermark jump across many
   * keys adds to one checkpoint. @default 20000
   */
  maxTimersPerRound?: number;
  /** Loads an actor snapshot by actor id (the `dirty` map key of `checkpoint()`), for reactivation. */
  loadActor?: (actorId: string) => Promise<string | null>;
  /** Loads an actor's committed finals (`FinalWrite.data`) from the results store, for queries. */
  loadFinals?: (actorId: string) => Promise<string[]>;
  output: PartitionOutput;
  metrics?: PartitionMetrics;
  /** Whether `payload.__keyflowPoison === true` makes the reducer throw (test hook for supervision; off in production). @default false */
  honourPoisonMarker?: boolean;
  /** Test hook called before the reducer for each attempt; whatever it throws counts as a processing failure. */
  failureInjector?: (event: EventEnvelope, record: LogRecord, attempt: number) => void;
  /** Emit non-final updates; false emits finals only (nobody subscribed). @default true */
  emitUpdates?: boolean;
  /** Keep rollups across keys (per event type and tumbling/sliding window), checkpointed with the partition. @default true */
  rollups?: boolean;
}

export interface PartitionHost {
  readonly topic: string;
  readonly partition: number;
  /** Offset of the first record not yet reflected in the state. */
  readonly nextOffset: number;
  /** Current watermark, epoch ms; null before the first event. */
  readonly watermark: number | null;
  /** Actors in memory. */
  readonly actorCount: number;
  /**
   * Whether non-final updates are emitted (finals always are). Settable at run time: the
   * runtime turns it off while nobody subscribes, which saves most of the emission cost.
   */
  emitUpdates: boolean;
  /** Processes consecutive records of this partition; records below `nextOffset` are skipped (already counted). */
  processBatch(records: LogRecord[]): Promise<void>;
  /** Idle-watermark advance and finals due; the runtime calls it on a timer. */
  tick(): void;
  /** Dirty actor snapshots + next offset + partition state, to commit under the partition's epoch. */
  checkpoint(): CheckpointWrite;
  /** The last `checkpoint()` was committed: its actors are clean unless they changed since. */
  markCommitted(): void;
  /** Actors changed or deleted since the last committed checkpoint (what the next one writes). */
  readonly uncommittedActors: number;
  /** Finals made since the last committed checkpoint (what the next one writes). */
  readonly uncommittedFinals: number;
  /** Replaces all state with a checkpoint (null: start empty) and its actor snapshots by actor id. */
  restore(cp: PartitionCheckpoint | null, actors: ReadonlyMap<string, string>): void;
  windows(q: WindowQuery): Promise<WindowResult[]>;
  keyState(eventType: string, key: string): Promise<KeyStateView | null>;
  /** Passivates idle clean actors (their state is in the checkpoint store). Returns how many. */
  passivateIdle(): number;
  /** This partition's part of a rollup across keys (empty when rollups are off). */
  rollups(q: RollupQuery): RollupPartial[];
}


/**
 * @example
 * const host = createPartitionHost({ topic: 'events.iot.sensors', partition: 3, registry, clock: systemClock,
 *   output: { onResults: (r) => bus.publish(r), onLate: (r) => lateTopic.append(r), onDeadLetter: (m) => dlq.append(m) } });
 * host.restore(await store.load(topic, 3), await store.loadActors(topic, 3));
 * await host.processBatch(records);
 */
export function createPartitionHost(options: PartitionHostOptions): PartitionHost {
  return new PartitionHostImpl(options);
}

class PartitionHostImpl implements PartitionHost {
  readonly topic: string;
  readonly partition: number;
  private readonly o: PartitionHostOptions;
  private readonly ooo: number;
  private readonly policy: LatePolicy;
  private readonly idleTimeout: number;
  private readonly retention: number;
  private readonly passivateAfter: number;
  private readonly maxTimersPerRound: number;
  /** Actors the current round may still finalise (see `maxTimersPerRound`). */
  private firesLeft = 0;
  private readonly retry: Required<Omit<RetryOptions, 'sleep'>> & { sleep: (ms: number) => Promise<void> };
  private readonly failurePolicy: FailurePolicy;

  private readonly table: ActorTable;
  private readonly emit: EmitBuffer;
  private readonly finals = new FinalsLedger();
  private readonly rollupState: PartitionRollups | null;
  private wm: WatermarkState;
  private next = 0;
  private dirty = new Set<Slot>();
  private deleted = new Map<string, number>();
  private passivated = new Map<string, number>();
  private loading = new Map<string, Promise<Slot | undefined>>();
  private seq = 0;
  private cpSeq = -1;
  private busy = false;

  // per batch / tick output buffers (reused)
  private lateBuf: LogRecord[] = [];
  private dlqBuf: DeadLetterMessage[] = [];
  private lateDropped = 0;
  private decodeBuf: (EventEnvelope | Error | undefined)[] = [];
  private readonly bounds: RecordBounds<LogRecord>;

  constructor(o: PartitionHostOptions) {
    this.o = o;
    this.topic = o.topic;
    this.partition = o.partition;
    const specs = (o.windows ?? DEFAULT_WINDOWS).map((w) => (typeof w === 'string' ? parseWindowSpec(w) : w));
    this.ooo = Math.max(0, Math.floor(o.maxOutOfOrderMs ?? D.maxOutOfOrderMs));
    this.policy = o.latePolicy ?? D.latePolicy;
    this.idleTimeout = Math.max(0, o.idleTimeoutMs ?? D.idleTimeoutMs);
    this.retention = Math.max(0, Math.floor(o.resultRetentionMs ?? D.resultRetentionMs));
    this.passivateAfter = Math.max(0, o.passivateAfterMs ?? D.passivateAfterMs);
    this.maxTimersPerRound = Math.max(1, o.maxTimersPerRound ?? D.maxTimersPerRound);
    this.table = new ActorTable(o.registry, o.topic, {
      specs,
      allowedLatenessMs: Math.max(0, Math.floor(o.allowedLatenessMs ?? D.allowedLatenessMs)),
      latePolicy: this.policy,
      resultRetentionMs: this.retention,
      honourPoisonMarker: o.honourPoisonMarker ?? false,
    });
    // an event type may have its own windows: names by the state's type
    const defaultNames = specs.map((s) => s.name);
    this.emit = new EmitBuffer((eventType) => this.table.ctxFor(eventType)?.logic.specNames ?? defaultNames, o.emitUpdates ?? D.emitUpdates);
    const clock = o.clock;
    this.retry = {
      maxRetries: Math.max(0, o.retry?.maxRetries ?? D.maxRetries),
      baseDelayMs: Math.max(0, o.retry?.baseDelayMs ?? D.retryBaseDelayMs),
      maxDelayMs: Math.max(0, o.retry?.maxDelayMs ?? D.retryMaxDelayMs),
      jitter: Math.max(0, o.retry?.jitter ?? D.retryJitter),
      random: o.retry?.random ?? Math.random,
      sleep: o.retry?.sleep ?? ((ms) => clock.sleep(ms)),
    };
    this.failurePolicy = o.failurePolicy ?? defaultFailurePolicy;
    this.bounds = {
      maxFutureSkewMs: o.maxFutureSkewMs ?? DEFAULT_MAX_FUTURE_SKEW_MS,
      valueFieldOf: (t) => this.table.ctxFor(t)?.spec.valueField,
      // the registry's current version of the type's schema (a newer one accepts what the older did)
      checkPayload: (e) => checkPayloadSchema(e, o.registry.resolve(e.eventType)),
      ...(o.schemas ? { decodeRaw: this.rawDecoder(o.schemas) } : {}),
    };
    this.wm = initialWatermark(clock.now());
    this.rollupState =
      (o.rollups ?? true) ? new PartitionRollups({ allowedLatenessMs: Math.max(0, Math.floor(o.allowedLatenessMs ?? D.allowedLatenessMs)), latePolicy: this.policy, resultRetentionMs: this.retention }) : null;
  }

  /** Raw records of the topic's type when it is Avro / Protobuf (undefined for JSON types: the record is JSON then). */
  private rawDecoder(schemas: Pick<SchemaRegistry, 'byId' | 'versions'>): RecordBounds<LogRecord>['decodeRaw'] {
    return (r) => {
      const spec = this.o.registry.byTopic(this.topic);
      if (spec?.format !== 'avro' && spec?.format !== 'protobuf') return undefined;
      return decodeWireRecord(r, spec, schemas);
    };
  }

  get nextOffset(): number {
    return this.next;
  }
  get watermark(): number | null {
    return this.wm.watermark;
  }
  get actorCount(): number {
    return this.table.count;
  }
  get emitUpdates(): boolean {
    return this.emit.emitUpdates;
  }
  set emitUpdates(on: boolean) {
    this.emit.emitUpdates = on;
  }

  // ------------------------------------------------------------------ helpers

  private touch(slot: Slot): void {
    if (slot.dirtySeq === 0) this.dirty.add(slot);
    slot.dirtySeq = ++this.seq;
  }

  private insert(slot: Slot): void {
    this.table.insert(slot);
    if (this.deleted.size > 0) this.deleted.delete(slot.id);
  }

  private remove(slot: Slot): void {
    this.table.remove(slot);
    if (slot.dirtySeq !== 0) {
      this.dirty.delete(slot);
      slot.dirtySeq = 0;
    }
  }

  /** Finalises (and expires) what the watermark made due, for up to `firesLeft` actors. */
  private fireDue(): void {
    const wm = this.wm.watermark;
    if (wm === null) return;
    const heap = this.table.heap;
    while (heap.size > 0 && heap.peekTime() <= wm && this.firesLeft > 0) {
      const time = heap.peekTime();
      const slot = heap.pop();
      if (!slot.active || slot.state.nextTimer !== time) continue;
      this.firesLeft--;
      slot.ctx.logic.advance(slot.state, wm, this.emit);
      this.touch(slot);
      const nt = slot.state.nextTimer;
      if (nt === Number.POSITIVE_INFINITY) {
        // every window and every retained final expired: nothing left to keep for this key
        this.remove(slot);
        this.deleted.set(slot.id, ++this.seq);
      } else heap.push(nt, slot);
    }
  }

  private flush(lastRecord: LogRecord | undefined, processed: number, events: { event: EventEnvelope; record: LogRecord }[] | null): void {
    const out = this.o.output;
    const m = this.o.metrics;
    if (this.emit.size > 0) {
      const results = this.emit.drain();
      for (const r of results) {
        if (!r.final) continue;
        const ctx = this.table.ctxFor(r.eventType);
        if (ctx) this.finals.add(this.table.idOf(ctx, r.key), r);
      }
      if (results.length > 0) out.onResults(results);
    }
    if (events !== null && events.length > 0) out.onEvents?.(events);
    if (this.lateBuf.length > 0) {
      const late = this.lateBuf;
      this.lateBuf = [];
      m?.lateSideOutput?.(late.length);
      out.onLate(late);
    }
    if (this.dlqBuf.length > 0) {
      const dlq = this.dlqBuf;
      this.dlqBuf = [];
      m?.deadLettered?.(dlq.length);
      out.onDeadLetter(dlq);
    }
    if (this.lateDropped > 0) {
      m?.lateDropped?.(this.lateDropped);
      this.lateDropped = 0;
    }
    if (m) {
      if (processed > 0) m.processed?.(processed);
      if (lastRecord) m.processingLatency?.(Math.max(0, this.o.clock.now() - lastRecord.appendTime));
      m.activeActors?.(this.table.count);
    }
  }

  private deadLetter(record: LogRecord, error: unknown, retries: number, firstAt: number): void {
    this.dlqBuf.push(deadLetterOf(record, error, retries, firstAt, this.o.clock.now()));
  }

  private decide(error: unknown, record: LogRecord, stage: FailureStage, attempt: number): FailureDecision {
    return this.failurePolicy({ error, record, stage, attempt, maxRetries: this.retry.maxRetries });
  }

  private async reactivate(ctx: TypeCtx, key: string): Promise<Slot | undefined> {
    const existing = ctx.actors.get(key);
    if (existing) return existing;
    const id = this.table.idOf(ctx, key);
    if (!this.passivated.has(id) || !this.o.loadActor) return undefined;
    let p = this.loading.get(id);
    if (!p) {
      const load = this.o.loadActor;
      p = (async () => {
        try {
          const data = await load(id);
          const again = ctx.actors.get(key);
          if (again) return again;
          this.passivated.delete(id);
          if (data === null) return undefined;
          const slot: Slot = { id, ctx, state: ctx.logic.fromCheckpoint(data), dirtySeq: 0, lastTouched: this.o.clock.now(), active: false };
          this.insert(slot);
          return slot;
        } finally {
          this.loading.delete(id);
        }
      })();
      this.loading.set(id, p);
    }
    return p;
  }

  // ------------------------------------------------------------------ processing

  async processBatch(records: LogRecord[]): Promise<void> {
    if (records.length === 0) return;
    if (this.busy) throw new KeyflowError(ErrorCode.INTERNAL, `processBatch on ${this.topic}/${this.partition} while another batch runs; batches of one partition must be sequential`);
    this.busy = true;
    try {
      await this.runBatch(records);
    } finally {
      this.busy = false;
    }
  }

  private async runBatch(records: LogRecord[]): Promise<void> {
    const clock = this.o.clock;
    const now = clock.now();
    const n = records.length;
    const decoded = this.decodeBuf;
    decoded.length = n;
    for (let i = 0; i < n; i++) {
      const r = records[i]!;
      if (r.offset < this.next) {
        decoded[i] = undefined;
        continue;
      }
      try {
        decoded[i] = decodeRecord(r, this.bounds);
      } catch (e) {
        decoded[i] = toError(e);
      }
    }
    if (this.passivated.size > 0 && this.o.loadActor) {
      // one await per batch, only when some key of the batch was passivated
      let loads: Promise<Slot | undefined>[] | null = null;
      for (let i = 0; i < n; i++) {
        const d = decoded[i];
        if (d === undefined || d instanceof Error) continue;
        const ctx = this.table.ctxFor(d.eventType);
        if (!ctx) continue;
        const key = keyFor(ctx.spec, d);
        if (!ctx.actors.has(key) && this.passivated.has(this.table.idOf(ctx, key))) (loads ??= []).push(this.reactivate(ctx, key));
      }
      if (loads) await Promise.all(loads);
    }
    this.emit.open();
    this.firesLeft = this.maxTimersPerRound;
    const events = this.o.output.onEvents ? ([] as { event: EventEnvelope; record: LogRecord }[]) : null;
    const injector = this.o.failureInjector;
    const sideOutput = this.policy === 'side-output';
    const heap = this.table.heap;
    const rollups = this.rollupState;
    let processed = 0;
    let last: LogRecord | undefined;
    for (let i = 0; i < n; i++) {
      const rec = records[i]!;
      if (rec.offset < this.next) continue;
      last = rec;
      const d = decoded[i];
      decoded[i] = undefined; // release the envelope
      if (d === undefined) continue;
      if (d instanceof Error) {
        if (this.decide(d, rec, 'decode', 1) === 'fail') return this.abort(rec, d, events, processed);
        this.deadLetter(rec, d, 0, clock.now());
        this.next = rec.offset + 1;
        continue;
      }
      const ctx = this.table.ctxFor(d.eventType);
      if (!ctx) {
        const err = new KeyflowError(ErrorCode.UNKNOWN_EVENT_TYPE, `event type "${d.eventType}" is not registered; the record goes to the dead-letter topic`);
        if (this.decide(err, rec, 'route', 1) === 'fail') return this.abort(rec, err, events, processed);
        this.deadLetter(rec, err, 0, clock.now());
        this.next = rec.offset + 1;
        continue;
      }
      const key = keyFor(ctx.spec, d);
      let slot = ctx.actors.get(key);
      const isNew = slot === undefined;
      if (slot === undefined) {
        slot = { id: this.table.idOf(ctx, key), ctx, state: ctx.logic.initial(key), dirtySeq: 0, lastTouched: now, active: false };
      }
      const st = slot.state;
      const timerBefore = st.nextTimer;
      let late = 0;
      let ok = true;
      let firstAt = 0;
      for (let attempt = 1; ; attempt++) {
        try {
          if (injector !== undefined) injector(d, rec, attempt);
          late = ctx.logic.applyEvent(st, d, this.wm.watermark, this.emit);
          break;
        } catch (e) {
          if (attempt === 1) firstAt = clock.now();
          const decision = this.decide(e, rec, 'process', attempt);
          if (decision === 'retry') {
            await this.retry.sleep(backoffDelay(attempt, this.retry));
            continue;
          }
          if (decision === 'fail') return this.abort(rec, e, events, processed);
          this.deadLetter(rec, e, attempt - 1, firstAt);
          ok = false;
          break;
        }
      }
      this.next = rec.offset + 1;
      if (!ok) continue;
      if (isNew) this.insert(slot);
      // a new earlier timer, or a later one: the event finalised the actor's due windows itself
      // (a round left them due), and the heap's entry for the old time is stale now
      else if (st.nextTimer !== timerBefore && st.nextTimer !== Number.POSITIVE_INFINITY) heap.push(st.nextTimer, slot);
      slot.lastTouched = now;
      this.touch(slot);
      // rollups hook: the event joins the rollup windows it joined for its key (same watermark)
      if (rollups !== null) rollups.apply(ctx.logic.config, d, key, this.wm.watermark);
      if (late > 0) {
        if (sideOutput) this.lateBuf.push(rec);
        else this.lateDropped++;
      }
      observeEventTime(this.wm, d.timestamp, this.ooo);
      if (heap.peekTime() <= this.wm.watermark! && this.firesLeft > 0) this.fireDue();
      processed++;
      if (events !== null) events.push({ event: d, record: rec });
    }
    if (last) touchPartition(this.wm, now);
    rollups?.advance(this.wm.watermark);
    this.flush(last, processed, events);
  }

  private abort(rec: LogRecord, error: unknown, events: { event: EventEnvelope; record: LogRecord }[] | null, processed: number): never {
    this.decodeBuf.length = 0;
    this.flush(rec, processed, events);
    throw partitionStopped(rec, error);
  }

  tick(): void {
    if (this.busy) return;
    const now = this.o.clock.now();
    this.firesLeft = this.maxTimersPerRound;
    if (advanceIdle(this.wm, now, this.idleTimeout)) {
      // whole milliseconds keep window arithmetic exact
      this.wm.watermark = Math.floor(this.wm.watermark!);
      this.emit.open();
      if (this.table.heap.peekTime() <= this.wm.watermark) this.fireDue();
      this.rollupState?.advance(this.wm.watermark);
      this.flush(undefined, 0, null);
    } else if (this.wm.watermark !== null && this.table.heap.peekTime() <= this.wm.watermark) {
      // windows left due by earlier rounds (more actors than one round finalises)
      this.emit.open();
      this.fireDue();
      this.flush(undefined, 0, null);
    }
  }

  // ------------------------------------------------------------------ checkpoints

  checkpoint(): CheckpointWrite {
    const dirty = new Map<string, string>();
    for (const slot of this.dirty) dirty.set(slot.id, slot.ctx.logic.toCheckpoint(slot.state));
    this.cpSeq = this.seq;
    const rollupsDeleted = this.rollupState?.checkpoint(dirty) ?? [];
    const write: CheckpointWrite = { nextOffset: this.next, partitionState: encodePartitionState(this.wm, this.o.extraState?.encode()), dirty };
    if (this.deleted.size > 0 || rollupsDeleted.length > 0) write.deleted = [...this.deleted.keys(), ...rollupsDeleted];
    if (this.finals.size > 0) write.finals = this.finals.take();
    if (this.wm.watermark !== null) write.retainFinalsFrom = this.wm.watermark - this.retention;
    return write;
  }

  get uncommittedActors(): number {
    return this.dirty.size + this.deleted.size;
  }

  get uncommittedFinals(): number {
    return this.finals.size;
  }

  markCommitted(): void {
    const upTo = this.cpSeq;
    if (upTo < 0) return;
    for (const slot of this.dirty) {
      if (slot.dirtySeq <= upTo) {
        slot.dirtySeq = 0;
        this.dirty.delete(slot);
      }
    }
    for (const [id, s] of this.deleted) if (s <= upTo) this.deleted.delete(id);
    this.finals.committed();
    this.rollupState?.markCommitted();
    this.cpSeq = -1;
  }

  restore(cp: PartitionCheckpoint | null, actors: ReadonlyMap<string, string>): void {
    const now = this.o.clock.now();
    this.table.clear();
    this.dirty.clear();
    this.deleted.clear();
    this.passivated.clear();
    this.finals.clear();
    this.cpSeq = -1;
    this.wm = initialWatermark(now);
    this.next = cp?.nextOffset ?? 0;
    if (cp) {
      const ps = readPartitionState(cp.partitionState, `${this.topic}/${this.partition}`);
      this.wm.watermark = ps.watermark;
      this.wm.maxEventTime = ps.maxEventTime;
      this.o.extraState?.restore(ps.extra);
    } else {
      this.o.extraState?.restore(undefined);
    }
    const rollupEntries: [string, string][] = [];
    for (const [id, data] of actors) {
      if (isRollupId(id)) {
        rollupEntries.push([id, data]);
        continue;
      }
      const { eventType, key } = this.table.split(id);
      const ctx = eventType === undefined ? undefined : this.table.ctxFor(eventType);
      if (!ctx) continue;
      const state = ctx.logic.fromCheckpoint(data);
      if (state.key !== key) continue;
      this.insert({ id, ctx, state, dirtySeq: 0, lastTouched: now, active: false });
    }
    if (this.rollupState) {
      this.rollupState.restore(rollupEntries, (t) => this.table.ctxFor(t)?.logic.config);
      this.rollupState.advance(this.wm.watermark);
    } else {
      // rollups turned off: their windows leave the store with the next checkpoint
      for (const [id] of rollupEntries) this.deleted.set(id, ++this.seq);
    }
    // A snapshot is consistent with its watermark, but finalise anything due to be safe.
    this.emit.open();
    if (this.wm.watermark !== null && this.table.heap.peekTime() <= this.wm.watermark) {
      this.firesLeft = Number.POSITIVE_INFINITY;
      this.fireDue();
      this.flush(undefined, 0, null);
    }
  }

  // ------------------------------------------------------------------ queries

  private async slotFor(eventType: string, key: string): Promise<Slot | undefined> {
    const ctx = this.table.ctxFor(eventType);
    if (!ctx) return undefined;
    const slot = ctx.actors.get(key) ?? (await this.reactivate(ctx, key));
    if (slot) slot.lastTouched = this.o.clock.now();
    return slot;
  }

  /** Open windows (and finals still held) of the actor, its uncommitted finals, and its stored finals: one row per window. */
  async windows(q: WindowQuery): Promise<WindowResult[]> {
    if (q.window !== undefined && q.window !== null) parseWindowSpec(q.window);
    const slot = await this.slotFor(q.eventType, q.key);
    if (!slot) return [];
    // the event type's own windows, when it has some
    if (q.window && !slot.ctx.logic.specNames.includes(q.window)) return [];
    const stored = this.o.loadFinals ? await this.o.loadFinals(slot.id) : [];
    const st = slot.state;
    const held = slot.ctx.logic.results(st);
    const wm = this.wm.watermark;
    if (wm !== null && st.nextTimer <= wm) {
      // due but not finalised yet (more actors were due than a round finalises): already final
      const lateness = slot.ctx.logic.config.allowedLatenessMs;
      for (const r of held) if (r.windowEnd + lateness <= wm) r.final = true;
    }
    return mergeWindows(q, {
      stored: stored.map((data) => decodeFinal(st.eventType, st.key, data)),
      uncommitted: this.finals.of(slot.id, st.eventType, st.key),
      held,
      oldestEnd: this.wm.watermark === null ? Number.NEGATIVE_INFINITY : this.wm.watermark - this.retention,
    });
  }

  /** Open windows of an actor as of the watermark (its due windows may wait for the next round). */
  private openWindowsOf(slot: Slot): number {
    const st = slot.state;
    const wm = this.wm.watermark;
    if (wm === null || st.nextTimer > wm) return st.openWindows;
    const lateness = slot.ctx.logic.config.allowedLatenessMs;
    let open = 0;
    for (const r of slot.ctx.logic.results(st)) if (!r.final && r.windowEnd + lateness > wm) open++;
    return open;
  }

  async keyState(eventType: string, key: string): Promise<KeyStateView | null> {
    const slot = await this.slotFor(eventType, key);
    if (!slot) return null;
    const st = slot.state;
    return {
      eventType: st.eventType,
      key: st.key,
      topic: this.topic,
      partition: this.partition,
      watermark: this.wm.watermark,
      lastEventTime: st.lastEventTime,
      eventsProcessed: st.eventsProcessed,
      openWindows: this.openWindowsOf(slot),
    };
  }

  rollups(q: RollupQuery): RollupPartial[] {
    return this.rollupState?.partials(q, this.wm.watermark) ?? [];
  }

  passivateIdle(): number {
    // mid-batch (awaiting a retry or a load) the batch may hold a slot it is about to change
    if (!this.o.loadActor || this.busy) return 0;
    const now = this.o.clock.now();
    const wm = this.wm.watermark;
    // passivated actors whose every result expired are gone for good
    if (wm !== null) {
      for (const [id, expiresAt] of this.passivated) {
        if (expiresAt <= wm) {
          this.passivated.delete(id);
          this.deleted.set(id, ++this.seq);
        }
      }
    }
    let n = 0;
    for (const ctx of this.table.contexts()) {
      for (const slot of ctx.actors.values()) {
        const st = slot.state;
        if (slot.dirtySeq !== 0 || st.openWindows > 0 || now - slot.lastTouched < this.passivateAfter) continue;
        if (this.loading.has(slot.id)) continue;
        const expiresAt = Math.max(st.finalUntil, heldUntil(st)) + this.retention + 1;
        this.remove(slot);
        this.passivated.set(slot.id, expiresAt);
        n++;
      }
    }
    if (n > 0) this.o.metrics?.activeActors?.(this.table.count);
    return n;
  }
}


export type { PartitionStateView } from './checkpoint-codec.ts';
export { actorIdFor, readPartitionState } from './checkpoint-codec.ts';
