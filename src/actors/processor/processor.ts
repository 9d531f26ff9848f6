/**
 * The processor role: a consumer-group member that owns partitions, runs one PartitionHost per
 * owned partition, and checkpoints actor states + offset + watermark atomically under the
 * partition's epoch. Everything a checkpoint covers (finals to sinks, dead letters, late
 * side-output) is made durable before the checkpoint is committed, so a crash at any moment
 * replays into the same results and sinks see each final at least once.
 */
import { context, isSpanContextValid, type Link, type SpanContext, SpanKind, SpanStatusCode, type Tracer } from '@opentelemetry/api';
import type { Logger } from 'pino';
import type { LiveBus, Unsubscribe } from '../../bus/index.ts';
import { publishEventBatch, publishWindowResults } from '../../bus/index.ts';
import type { Clock, LagMonitor, Metrics, PartitionPosition, Timer } from '../../core/index.ts';
import type { EventLog, GroupConsumer, LogRecord, ProduceRecord, RecordBatch, TopicPartition } from '../../log/index.ts';
import { resumeOffset, tpKey } from '../../log/index.ts';
import type { KeyStateView, WindowResult } from '../../model/index.ts';
import {
  type DeadLetterMessage,
  DLQ_TOPIC,
  decodeEnrichmentState,
  type EnrichmentState,
  type EventEnvelope,
  type EventTypeRegistry,
  encodeEnrichmentState,
  enrichEvent,
  isFenced,
  keyFor,
  needsEnrichmentState,
  LATE_TOPIC,
  PROCESSED_TOPIC,
  partitionForKey,
  SYSTEM_TOPICS,
} from '../../model/index.ts';
import { isWireValue, type SchemaRegistry } from '../../schemas/index.ts';
import type { ProcessedLake, Sink } from '../../sinks/index.ts';
import type { CheckpointStore, CheckpointWrite } from '../../state/index.ts';
import { ENGINE_DEFAULTS } from '../defaults.ts';
import { createPartitionHost, type PartitionHost } from '../partition-host/partition-host.ts';
import type { RollupPartial } from '../rollups/rollup-types.ts';
import { type LocalReader, respondToQueries, type SharedHostOptions } from './query-router.ts';

export type { LocalReader, SharedHostOptions };

import { activeSpanContext, continuing, countWindowResults, createLagMonitor, LifecycleEvent, SpanAttr } from '../../core/index.ts';

const partitionsOf = (name: string) => SYSTEM_TOPICS.find((t) => t.name === name)?.partitions ?? 1;
const DLQ_PARTITIONS = partitionsOf(DLQ_TOPIC);
/** Re-reads of one gap before it is taken as missing from the log. */
const MAX_GAP_SEEKS = 3;
const LATE_PARTITIONS = partitionsOf(LATE_TOPIC);
const PROCESSED_PARTITIONS = partitionsOf(PROCESSED_TOPIC);

/** Options of {@link createProcessor}. */
export interface ProcessorOptions {
  log: EventLog;
  checkpoints: CheckpointStore;
  bus: LiveBus;
  sinks: readonly Sink[];
  registry: EventTypeRegistry;
  /** The data lake's `processed/` partition: processed records are appended there too, before their checkpoint. */
  processedLake?: ProcessedLake;
  /** Schemas of Avro / Protobuf types (their raw records are decoded with them); absent: such records are dead-lettered. */
  schemas?: SchemaRegistry;
  /** Consumer group id. */
  groupId: string;
  /** Event topics to consume. */
  topics: string[];
  /** PartitionHost settings shared by every partition (windows, lateness, retries, …). */
  host: SharedHostOptions;
  clock: Clock;
  /** Checkpoint interval, ms. @default 1000 */
  checkpointIntervalMs: number;
  /** How often idle watermarks and due finals are checked, ms. @default 1000 */
  tickIntervalMs?: number;
  metrics?: Metrics;
  logger: Logger;
  tracer?: Tracer;
  /** Publish every consumed event on the live bus (for `events` subscriptions). @default true */
  publishEvents?: boolean;
  /** Publish window results (updates and finals) on the live bus (for `windowResults` subscriptions). @default true */
  publishResults?: boolean;
  /**
   * Records a partition may process beyond its last committed checkpoint. Past it (the checkpoint
   * store is slow or down) consumption of the partition waits, heartbeating, until a checkpoint
   * commits: memory stays bounded and nothing is skipped. @default 200000
   */
  maxUncommittedRecords?: number;
  /**
   * Bytes one checkpoint commit of a partition may carry; past it the partition commits at once
   * and consumption waits for it, so a commit stays bounded whatever the backlog.
   * @default 32 MiB
   */
  maxCheckpointBytes?: number;
  /** Batches of one partition queued behind the one being processed before `onBatch` waits. @default 4 */
  maxQueuedBatches?: number;
}

export interface Processor {
  start(): Promise<void>;
  /** Finishes in-flight batches, checkpoints every owned partition, leaves the group. */
  stop(): Promise<void>;
  /** Reads window state of the partitions this node owns; answers `null` for others. */
  readonly local: LocalReader;
  owned(): TopicPartition[];
  /** Runs one checkpoint round now (tests, shutdown). */
  checkpointAll(): Promise<void>;
  /**
   * Consumes these topics too, while running (a newly registered event type): the group member
   * leaves and rejoins with the larger subscription, checkpointing what it owned first (one
   * rebalance). Topics already consumed are ignored.
   */
  addTopics(topics: readonly string[]): Promise<void>;
  /** The topics consumed now. */
  topics(): string[];
}


interface Owned {
  readonly tp: TopicPartition;
  readonly host: PartitionHost;
  readonly epoch: number;
  /** Serialises batches, ticks and checkpoints of this partition. */
  chain: Promise<void>;
  pendingFinals: WindowResult[];
  /**
   * The spans of the batches that emitted `pendingFinals` (one entry per batch, not per final;
   * only while tracing): the sink write continues their traces.
   */
  pendingFinalSpans: SpanContext[];
  pendingDeadLetters: ProduceRecord[];
  pendingLate: ProduceRecord[];
  /** Processed (enriched) records of types with enrichment rules, for `events.processed`. */
  pendingProcessed: ProduceRecord[];
  committedOffset: number;
  /** Processing time of the last commit (or of the assignment). */
  committedAt: number;
  fenced: boolean;
  /** Next offset at which a gap was last seen, and how many times it was re-read (see onBatch). */
  gapAt: number;
  gapSeeks: number;
  /** Stops answering bus queries for this partition. */
  unrespond?: Unsubscribe;
  /** The checkpoint in flight (one at a time per partition; its I/O runs beside the processing). */
  committing: Promise<void> | null;
  /** Batches enqueued and not yet processed. */
  queued: number;
  /** The last processing error of a batch that was not awaited; thrown to the consumer by the next batch. */
  error: unknown;
  /** Consecutive failed commits (for the log line). */
  failures: number;
  /** Commits that landed since the assignment. */
  commits: number;
  /** Bytes per dirty actor and per final in this partition's last commit (estimates the next one). */
  bytesPerActor: number;
  bytesPerFinal: number;
  /** Consumption is held back by the uncommitted-records bound. */
  throttled: boolean;
  /** Bumped by every seek this processor makes: batches queued before it are dropped (re-read). */
  seekGen: number;
}

/** What one checkpoint commits: taken between batches, written while processing goes on. */
interface CommitJob {
  write: CheckpointWrite;
  finals: WindowResult[];
  finalSpans: SpanContext[];
  dead: ProduceRecord[];
  late: ProduceRecord[];
  processed: ProduceRecord[];
}

/** Characters of a checkpoint write: in all, of its actor snapshots and of its finals. */
function checkpointBytes(w: CheckpointWrite): { total: number; actors: number; finals: number } {
  let actors = 0;
  let finals = 0;
  for (const [k, v] of w.dirty) actors += k.length + v.length;
  if (w.finals) for (const f of w.finals) finals += f.actor.length + f.id.length + f.data.length;
  let total = w.partitionState.length + actors + finals;
  if (w.deleted) for (const k of w.deleted) total += k.length;
  return { total, actors, finals };
}

export function createProcessor(options: ProcessorOptions): Processor {
  const { log, checkpoints, bus, sinks, logger, metrics, clock } = options;
  const owned = new Map<string, Owned>();
  /**
   * Partitions fenced away from this node while its consumer may still hold them: a later group
   * generation can leave them here ("kept", so no onAssigned), and their batches must then take the
   * partition back from its checkpoint instead of being skipped.
   */
  const lost = new Set<string>();
  const publishEvents = options.publishEvents ?? true;
  const publishResults = options.publishResults ?? true;
  /** Longest an owned partition goes without a (fenced) commit, even when idle, ms. */
  const fenceProbeMs = Math.max(5000, options.checkpointIntervalMs * 5);
  const maxUncommitted = Math.max(1, options.maxUncommittedRecords ?? ENGINE_DEFAULTS.maxUncommittedRecords);
  const maxCheckpointBytes = Math.max(1, options.maxCheckpointBytes ?? ENGINE_DEFAULTS.maxCheckpointBytes);
  const maxQueued = Math.max(0, options.maxQueuedBatches ?? ENGINE_DEFAULTS.maxQueuedBatches);
  const tracer = options.tracer;
  let consumer: GroupConsumer | undefined;
  let timers: Timer[] = [];
  let stopping = false;
  let lag: LagMonitor | undefined;
  let topics = [...options.topics];
  /** Serialises subscription changes. */
  let subscriptionChain: Promise<void> = Promise.resolve();

  function* ownedPositions(): Iterable<PartitionPosition> {
    for (const o of owned.values()) yield { topic: o.tp.topic, partition: o.tp.partition, nextOffset: o.host.nextOffset, watermark: o.host.watermark };
  }

  function enqueue(o: Owned, work: () => Promise<void> | void): Promise<void> {
    const next = o.chain.then(work);
    o.chain = next.catch(() => {});
    return next;
  }

  function makeHost(tp: TopicPartition, ref: { owned?: Owned; enrich: EnrichmentState }): PartitionHost {
    const { topic, partition } = tp;
    const host: PartitionHost = createPartitionHost({
      ...options.host,
      topic,
      partition,
      clock,
      registry: options.registry,
      ...(options.schemas ? { schemas: options.schemas } : {}),
      // the z-score rules' per-key statistics, checkpointed with the offset: a replay enriches the same
      extraState: {
        encode: () => (ref.enrich.size > 0 ? encodeEnrichmentState(ref.enrich) : undefined),
        restore: (data) => {
          ref.enrich = decodeEnrichmentState(data);
        },
      },
      metrics: metrics
        ? {
            processed: (n) => metrics.eventsProcessed.inc({ topic }, n),
            lateDropped: (n) => metrics.eventsLate.inc({ topic, policy: 'drop' }, n),
            lateSideOutput: (n) => metrics.eventsLate.inc({ topic, policy: 'side-output' }, n),
            processingLatency: (ms) => metrics.processingLatency.observe({ topic }, ms / 1000),
          }
        : undefined,
      loadActor: (id: string) => checkpoints.loadActor(topic, partition, id),
      loadFinals: (id: string) => checkpoints.loadFinals(topic, partition, id),
      output: {
        onEvents:
          publishEvents || enriches(topic)
            ? (events: { event: EventEnvelope; record: LogRecord }[]) => {
                if (publishEvents) publishEventBatch(bus, topic, events);
                if (ref.owned) collectProcessed(ref.owned, events, ref.enrich);
              }
            : undefined,
        onResults(results: WindowResult[]) {
          const o = ref.owned;
          // One bus message per event type per batch (not one per result): publishing was most of the work.
          // with the partition's position, so subscribers drop what a new owner replays
          if (publishResults) publishWindowResults(bus, results, { topic, partition, offset: host.nextOffset, watermark: host.watermark });
          // finals wait for the sinks until the checkpoint that covers them (none kept when there is no sink)
          if (o && sinks.length > 0) {
            const before = o.pendingFinals.length;
            for (const r of results) if (r.final) o.pendingFinals.push(r);
            if (tracer && o.pendingFinals.length > before) {
              const span = activeSpanContext();
              if (span && o.pendingFinalSpans.at(-1) !== span) o.pendingFinalSpans.push(span);
            }
          }
          if (metrics) countWindowResults(metrics.windowResultsEmitted, results);
        },
        onLate(records: LogRecord[]) {
          const o = ref.owned;
          if (!o) return;
          for (const r of records) o.pendingLate.push({ key: r.key, value: r.value, headers: r.headers, partition: r.partition % LATE_PARTITIONS });
        },
        onDeadLetter(messages: DeadLetterMessage[]) {
          const o = ref.owned;
          if (!o) return;
          for (const m of messages) {
            // Keyed by source partition so one partition's dead letters stay in order.
            o.pendingDeadLetters.push({ key: m.originalKey, value: JSON.stringify(m), partition: m.sourcePartition % DLQ_PARTITIONS });
            metrics?.eventsDeadLettered.inc({ topic, error_type: m.errorType });
            logger.warn({ event: LifecycleEvent.recordDeadLettered, topic, partition, offset: m.sourceOffset, errorType: m.errorType }, 'record dead-lettered');
          }
        },
      },
    });
    return host;
  }

  /** Whether the topic's event type declares enrichment rules (decided when a partition is assigned). */
  function enriches(topic: string): boolean {
    return (options.registry.byTopic(topic)?.enrichment?.length ?? 0) > 0;
  }

  /** The processed records of a batch's events whose type has enrichment rules; written before the checkpoint that covers them. */
  function collectProcessed(o: Owned, events: { event: EventEnvelope; record: LogRecord }[], state: EnrichmentState): void {
    for (const { event, record } of events) {
      const spec = options.registry.resolve(event.eventType);
      if (!spec?.enrichment || spec.enrichment.length === 0) continue;
      const keyed = needsEnrichmentState(spec.enrichment) ? { key: keyFor(spec, event), state } : undefined;
      const processed = enrichEvent(event, spec.enrichment, record, spec.version ?? 0, keyed);
      o.pendingProcessed.push({ key: record.key, value: JSON.stringify(processed), partition: record.partition % PROCESSED_PARTITIONS });
    }
  }

  async function assign(tp: TopicPartition): Promise<number> {
    const { topic, partition } = tp;
    lost.delete(tpKey(topic, partition));
    const epoch = await checkpoints.acquire(topic, partition);
    const cp = await checkpoints.load(topic, partition);
    const actors = cp ? await checkpoints.loadActors(topic, partition) : new Map<string, string>();
    const ref: { owned?: Owned; enrich: EnrichmentState } = { enrich: new Map() };
    const host = makeHost(tp, ref);
    host.restore(cp, actors);
    const begin = await resumeOffset(log, topic, partition, cp?.nextOffset, { logger, metrics });
    const o: Owned = {
      tp,
      host,
      epoch,
      chain: Promise.resolve(),
      pendingFinals: [],
      pendingFinalSpans: [],
      pendingDeadLetters: [],
      pendingLate: [],
      pendingProcessed: [],
      committedOffset: begin,
      committedAt: clock.now(),
      fenced: false,
      gapAt: -1,
      gapSeeks: 0,
      committing: null,
      queued: 0,
      error: undefined,
      failures: 0,
      throttled: false,
      seekGen: 0,
      commits: 0,
      // until the first commit measures them
      bytesPerActor: 2048,
      bytesPerFinal: 96,
    };
    ref.owned = o;
    owned.set(tpKey(topic, partition), o);
    o.unrespond = respondToQueries(bus, local, topic, partition);
    metrics?.partitionsOwned.inc({ topic });
    logger.debug({ event: LifecycleEvent.partitionAssigned, topic, partition, epoch, nextOffset: begin, actors: actors.size }, 'partition assigned');
    return begin;
  }

  /**
   * Checkpoints a partition: takes the host's changes between two batches, then makes everything
   * it emitted durable and commits under the epoch while later batches go on (changes they make
   * stay dirty for the next round). One checkpoint per partition at a time.
   */
  function checkpoint(o: Owned): Promise<void> {
    if (o.committing) return o.committing;
    const run = (async () => {
      let job: CommitJob | null = null;
      await enqueue(o, () => {
        job = prepare(o);
      });
      if (job) await commitJob(o, job);
    })();
    o.committing = run;
    void run.finally(() => {
      if (o.committing === run) o.committing = null;
    });
    return run;
  }

  function prepare(o: Owned): CommitJob | null {
    if (o.fenced) return null;
    const write = o.host.checkpoint();
    const nothingNew =
      write.nextOffset === o.committedOffset && write.dirty.size === 0 && (write.deleted?.length ?? 0) === 0 && (write.finals?.length ?? 0) === 0 && o.pendingFinals.length === 0;
    // An idle partition still commits now and then: the commit is what finds out that another node
    // took the partition over (a stale owner would otherwise keep answering queries and emitting
    // finals from state that misses the new owner's records).
    if (nothingNew && clock.now() - o.committedAt < fenceProbeMs) return null;
    return { write, finals: o.pendingFinals, finalSpans: o.pendingFinalSpans, dead: o.pendingDeadLetters, late: o.pendingLate, processed: o.pendingProcessed };
  }

  async function commitJob(o: Owned, job: CommitJob): Promise<void> {
    const { topic, partition } = o.tp;
    const { write, finals, finalSpans, dead, late, processed } = job;
    const started = performance.now();
    try {
      if (dead.length > 0) await log.append(DLQ_TOPIC, dead, { sync: true });
      if (late.length > 0) await log.append(LATE_TOPIC, late, { sync: true });
      if (processed.length > 0) {
        await log.append(PROCESSED_TOPIC, processed, { sync: true });
        await options.processedLake?.write(processed.map((p) => p.value as string));
      }
      if (finals.length > 0) {
        const writeAll = async () => {
          for (const sink of sinks) await sink.write(finals);
        };
        // in the traces of the batches that emitted the finals (their span as parent, or links to each)
        if (finalSpans.length > 0) await context.with(continuing(finalSpans), writeAll);
        else await writeAll();
      }
      // the checkpoint must never cover log records that are not on the disk yet
      await log.flush(topic, partition, write.nextOffset);
      await checkpoints.commit(topic, partition, o.epoch, write);
    } catch (error) {
      if (isFenced(error)) {
        o.fenced = true;
        o.unrespond?.();
        owned.delete(tpKey(topic, partition));
        lost.add(tpKey(topic, partition));
        metrics?.partitionsOwned.dec({ topic });
        metrics?.checkpointFailures.inc({ reason: 'fenced' });
        logger.warn({ event: LifecycleEvent.partitionFenced, topic, partition, epoch: o.epoch }, 'checkpoint fenced: another node owns this partition now; stopped processing it');
        return;
      }
      // Nothing is lost: the pending outputs stay queued and the dirty states stay dirty; the next round tries again.
      o.failures++;
      metrics?.checkpointFailures.inc({ reason: 'error' });
      logger.error(
        { event: LifecycleEvent.checkpointFailed, topic, partition, failures: o.failures, uncommitted: o.host.nextOffset - o.committedOffset, err: error },
        'checkpoint failed; retrying next interval',
      );
      return;
    }
    o.pendingFinals = o.pendingFinals === finals ? [] : o.pendingFinals.slice(finals.length);
    o.pendingFinalSpans = o.pendingFinalSpans === finalSpans ? [] : o.pendingFinalSpans.slice(finalSpans.length);
    o.pendingDeadLetters = o.pendingDeadLetters === dead ? [] : o.pendingDeadLetters.slice(dead.length);
    o.pendingLate = o.pendingLate === late ? [] : o.pendingLate.slice(late.length);
    o.pendingProcessed = o.pendingProcessed === processed ? [] : o.pendingProcessed.slice(processed.length);
    o.host.markCommitted();
    if (o.failures > 0) logger.info({ topic, partition, after: o.failures }, 'checkpoint committed again after failures');
    o.failures = 0;
    o.committedOffset = write.nextOffset;
    o.committedAt = clock.now();
    o.commits++;
    metrics?.checkpointDuration.observe({ store: checkpoints.kind }, (performance.now() - started) / 1000);
    const size = checkpointBytes(write);
    metrics?.checkpointBytes.observe({ store: checkpoints.kind }, size.total);
    if (write.dirty.size > 0) o.bytesPerActor = size.actors / write.dirty.size;
    if (write.finals && write.finals.length > 0) o.bytesPerFinal = size.finals / write.finals.length;
    metrics?.checkpointBacklog.set({ topic, partition: String(partition) }, Math.max(0, o.host.nextOffset - o.committedOffset));
    logger.debug(
      { event: LifecycleEvent.checkpointCommitted, topic, partition, nextOffset: write.nextOffset, dirty: write.dirty.size, finals: write.finals?.length ?? 0 },
      'checkpoint committed',
    );
    const passivated = o.host.passivateIdle();
    if (passivated > 0) logger.debug({ event: LifecycleEvent.actorPassivated, topic, partition, count: passivated }, 'actors passivated');
    metrics?.activeActors.set({ topic }, sumActors(topic));
    try {
      await consumer?.commit(o.tp, write.nextOffset);
    } catch (error) {
      logger.warn({ topic, partition, err: error }, 'could not commit the group offset (lag monitoring only)');
    }
  }

  /**
   * Holds consumption of a partition back while it is more than `maxUncommitted` records past its
   * last committed checkpoint (the checkpoint store is slow or down), heartbeating so the group
   * keeps the member; resumes by itself once a checkpoint commits.
   */
  async function throttle(o: Owned, batch: RecordBatch): Promise<void> {
    const { topic, partition } = o.tp;
    let rounds = 0;
    while (!stopping && !o.fenced && owned.get(tpKey(topic, partition)) === o && overBound(o)) {
      // A commit that only grew large (a busy partition) is taken at once and lands: no warning.
      // Past one round the checkpoint store is slow or down.
      if (!o.throttled && rounds++ > 0) {
        o.throttled = true;
        logger.warn(
          {
            event: LifecycleEvent.checkpointBackpressure,
            topic,
            partition,
            uncommitted: o.host.nextOffset - o.committedOffset,
            bound: maxUncommitted,
            commitBytes: Math.round(pendingBytes(o)),
            boundBytes: maxCheckpointBytes,
          },
          'too much past the last committed checkpoint: consumption of this partition waits until a checkpoint commits',
        );
      }
      metrics?.checkpointBacklog.set({ topic, partition: String(partition) }, o.host.nextOffset - o.committedOffset);
      const pause = clock.sleep(Math.max(50, options.checkpointIntervalMs));
      const commitsBefore = o.commits;
      await Promise.race([checkpoint(o), pause]);
      // not committed (the store failed or is slow): the next try after the interval, not in a tight loop
      if (overBound(o) && o.commits === commitsBefore) await pause;
      await batch.heartbeat();
    }
    if (o.throttled) {
      o.throttled = false;
      logger.info({ event: LifecycleEvent.checkpointBackpressure, topic, partition }, 'checkpoint backlog below the bound again: consumption resumes');
    }
  }

  /** Estimated size of the partition's next commit: what changed since its last one. */
  function pendingBytes(o: Owned): number {
    return o.host.uncommittedActors * o.bytesPerActor + o.host.uncommittedFinals * o.bytesPerFinal;
  }

  /** More records past the last commit than allowed, or a next commit larger than allowed. */
  function overBound(o: Owned): boolean {
    return o.host.nextOffset - o.committedOffset > maxUncommitted || pendingBytes(o) > maxCheckpointBytes;
  }

  function sumActors(topic: string): number {
    let n = 0;
    for (const o of owned.values()) if (o.tp.topic === topic) n += o.host.actorCount;
    return n;
  }

  async function checkpointAll(): Promise<void> {
    await Promise.all([...owned.values()].map((o) => checkpoint(o)));
  }

  async function release(tp: TopicPartition, commit: boolean): Promise<void> {
    const k = tpKey(tp.topic, tp.partition);
    lost.delete(k);
    const o = owned.get(k);
    if (!o) return;
    if (o.committing) await o.committing.catch(() => undefined);
    if (commit) await checkpoint(o);
    else await o.chain;
    o.unrespond?.();
    if (owned.get(k) === o) {
      owned.delete(k);
      metrics?.partitionsOwned.dec({ topic: tp.topic });
    }
    logger.debug({ event: LifecycleEvent.partitionRevoked, topic: tp.topic, partition: tp.partition }, 'partition released');
  }

  async function onBatch(batch: RecordBatch): Promise<void> {
    const k = tpKey(batch.topic, batch.partition);
    const o = owned.get(k);
    if (!o && lost.has(k)) {
      // The group still gives this member the partition it was fenced from: own it again (new epoch,
      // state from the checkpoint) and re-read from the checkpoint's offset; this batch is dropped.
      lost.delete(k);
      const tp = { topic: batch.topic, partition: batch.partition };
      const begin = await assign(tp);
      logger.info({ event: LifecycleEvent.partitionAssigned, topic: tp.topic, partition: tp.partition, nextOffset: begin }, 'fenced partition still assigned here: taken back from its checkpoint');
      consumer?.seek(tp, begin);
      return;
    }
    if (!o || o.fenced || batch.records.length === 0) return;
    if (o.error !== undefined) {
      // a batch that was not awaited failed: hand the failure to the consumer now
      const error = o.error;
      o.error = undefined;
      throw error;
    }
    if (overBound(o)) await throttle(o, batch);
    // Pipelined: the batch is queued behind the partition's current work and the consumer goes on
    // fetching (and other partitions processing) meanwhile; in order per partition, bounded.
    const seekGen = o.seekGen;
    o.queued++;
    const done = enqueue(o, async () => {
      try {
        // fetched before a seek of this partition: the seek re-reads it
        if (seekGen === o.seekGen) await processQueued(o, batch);
      } finally {
        o.queued--;
      }
    });
    done.catch((error: unknown) => {
      o.error ??= error;
    });
    if (o.queued > maxQueued) await o.chain;
  }

  /**
   * Reads the schema store before a batch of an Avro / Protobuf topic names a schema id this node
   * has not seen yet (registered on another node a moment ago), so only an id nobody registered is
   * dead-lettered as UNKNOWN_SCHEMA.
   */
  async function knowSchemasOf(topic: string, records: readonly LogRecord[]): Promise<void> {
    const schemas = options.schemas;
    const format = options.registry.byTopic(topic)?.format;
    if (!schemas || (format !== 'avro' && format !== 'protobuf')) return;
    for (const r of records) {
      if (!isWireValue(r.value)) continue;
      const v = r.value;
      const id = ((v[1]! << 24) | (v[2]! << 16) | (v[3]! << 8) | v[4]!) >>> 0;
      if (schemas.byId(id) === undefined) {
        await schemas.refresh();
        return;
      }
    }
  }

  async function processQueued(o: Owned, batch: RecordBatch): Promise<void> {
    {
      const first = batch.records[0]!;
      // A batch may overlap what the checkpoint already covers (redelivery after a seek): skip those records.
      const from = o.host.nextOffset;
      if (first.offset > from) {
        // Records between the state's next offset and this batch were never processed here (a seek
        // that did not take during a rebalance, a stale fetch): processing on would lose them, so
        // read them again. A gap that persists is really missing from the log (retention, a damaged
        // embedded record): after a few tries it is logged and skipped.
        if (o.gapAt !== from || o.gapSeeks < MAX_GAP_SEEKS) {
          o.gapSeeks = o.gapAt === from ? o.gapSeeks + 1 : 1;
          o.gapAt = from;
          logger.warn({ topic: batch.topic, partition: batch.partition, expected: from, got: first.offset }, 'batch starts past the next offset; reading the gap again');
          o.seekGen++;
          consumer?.seek(o.tp, from);
          return;
        }
        logger.error({ topic: batch.topic, partition: batch.partition, from, to: first.offset }, 'offsets missing from the log; skipping them');
      }
      o.gapAt = -1;
      const records = first.offset < from ? batch.records.filter((r) => r.offset >= from) : batch.records;
      if (records.length === 0) return;
      await knowSchemasOf(batch.topic, records);
      if (tracer) {
        // One span per batch (never per record), linked to the producer's trace of its first record.
        const link = linkOf(records[0]!.headers.traceparent);
        await tracer.startActiveSpan(
          `process ${batch.topic}`,
          {
            kind: SpanKind.CONSUMER,
            links: link ? [link] : [],
            attributes: { [SpanAttr.topic]: batch.topic, [SpanAttr.partition]: batch.partition, [SpanAttr.batchSize]: records.length, [SpanAttr.offset]: records[0]!.offset },
          },
          async (span) => {
            try {
              await o.host.processBatch(records);
            } catch (e) {
              span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
              throw e;
            } finally {
              span.end();
            }
          },
        );
      } else {
        await o.host.processBatch(records);
      }
    }
  }

  const local: LocalReader = {
      owns: (topic, partition) => owned.has(tpKey(topic, partition)),
      async windows(topic, partition, q) {
        const o = owned.get(tpKey(topic, partition));
        if (!o) return null;
        let out: WindowResult[] = [];
        await enqueue(o, async () => {
          out = await o.host.windows(q);
        });
        return out;
      },
      async keyState(topic, partition, eventType, key) {
        const o = owned.get(tpKey(topic, partition));
        if (!o) return undefined;
        let out: KeyStateView | null = null;
        await enqueue(o, async () => {
          out = await o.host.keyState(eventType, key);
        });
        return out;
      },
      async rollups(topic, partition, q) {
        const o = owned.get(tpKey(topic, partition));
        if (!o) return null;
        let out: RollupPartial[] = [];
        await enqueue(o, async () => {
          out = o.host.rollups(q);
        });
        return out;
      },
    };

  return {
    local,
    owned: () => [...owned.values()].map((o) => o.tp),
    checkpointAll,
    topics: () => [...topics],
    addTopics(more) {
      const run = subscriptionChain.then(async () => {
        const fresh = more.filter((t) => !topics.includes(t));
        if (fresh.length === 0) return;
        topics = [...topics, ...fresh];
        if (!consumer || stopping) return; // start() subscribes to them
        // kafkajs (and the embedded group) take a subscription only when joining: rejoin with the new list
        await consumer.stop();
        await Promise.all([...owned.values()].map((o) => release(o.tp, true)));
        if (stopping) return;
        consumer = createConsumer();
        await consumer.start();
        logger.info({ event: LifecycleEvent.partitionAssigned, added: fresh, topics }, `now consuming ${fresh.join(', ')} too`);
      });
      subscriptionChain = run.catch(() => undefined);
      return run;
    },
    async start() {
      consumer = createConsumer();
      await consumer.start();
      lag = metrics && createLagMonitor({ consumerLag: metrics.consumerLag, watermarkLag: metrics.watermarkLag, endOffsets: (t) => log.endOffsets(t), positions: ownedPositions, clock });
      lag?.start();
      timers = [
        clock.every(options.checkpointIntervalMs, () => {
          if (!stopping) void checkpointAll();
        }),
        clock.every(options.tickIntervalMs ?? 1000, () => {
          if (stopping) return;
          for (const o of owned.values()) void enqueue(o, () => o.host.tick());
        }),
      ];
    },
    async stop() {
      stopping = true;
      for (const t of timers) t.cancel();
      lag?.stop();
      await subscriptionChain;
      await consumer?.stop();
      await Promise.all([...owned.values()].map((o) => release(o.tp, true)));
    },
  };

  function createConsumer(): GroupConsumer {
    return log.consumer({
      groupId: options.groupId,
      topics,
      handlers: {
        async onAssigned(tps) {
          const offsets = new Map<string, number | undefined>();
          for (const tp of tps) offsets.set(tpKey(tp.topic, tp.partition), await assign(tp));
          logger.info({ event: LifecycleEvent.partitionAssigned, partitions: summarize(tps) }, `assigned ${tps.length} partitions`);
          metrics?.rebalances.inc({ event: 'assigned' });
          return offsets;
        },
        async onRevoked(tps) {
          await Promise.all(tps.map((tp) => release(tp, true)));
          logger.info({ event: LifecycleEvent.partitionRevoked, partitions: summarize(tps) }, `released ${tps.length} partitions`);
          metrics?.rebalances.inc({ event: 'revoked' });
        },
        onBatch,
      },
    });
  }
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** A span link to the W3C traceparent a producer put on the record, when it has a valid one. */
function linkOf(traceparent: string | undefined): Link | undefined {
  const m = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!m) return undefined;
  const context = { traceId: m[1]!, spanId: m[2]!, traceFlags: Number.parseInt(m[3]!, 16), isRemote: true };
  return isSpanContextValid(context) ? { context } : undefined;
}

/** `{ topic: [partitions…] }`, for one log line per assignment instead of one per partition. */
function summarize(tps: TopicPartition[]): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const tp of tps) (out[tp.topic] ??= []).push(tp.partition);
  return out;
}

/** The partition of an actor key within its event type's topic. */
export function partitionOf(registry: EventTypeRegistry, eventType: string, key: string): { topic: string; partition: number } | undefined {
  const spec = registry.resolve(eventType);
  return spec ? { topic: spec.topic, partition: partitionForKey(key, spec.partitions) } : undefined;
}
