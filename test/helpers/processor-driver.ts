/**
 * A test driver for the processor role (`createProcessor`), without Kafka or sleeps: one in-memory
 * log, one in-memory checkpoint backing, one simulated clock, and consumer-group members the test
 * drives by hand — assign and revoke partitions, deliver batches from each member's position
 * (moved by the processor's seeks like a Kafka fetch position), crash a member (drop it without
 * a final checkpoint). Timers (checkpoint interval, ticks) fire only when the test advances the
 * clock; their async work is awaited with `settle()`.
 */
import type { ConsumerHandlers, EventLog, GroupConsumer, LogRecord, TopicPartition } from '../../src/log/port.ts';
import { tpKey } from '../../src/log/port.ts';
import { createEventTypeRegistry, encodeEnvelope, type EventTypeRegistry, type KeyStateView, type WindowResult } from '../../src/model/index.ts';
import { createSimulatedClock, type SimulatedClock } from '../../src/core/clock.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { Metrics } from '../../src/core/telemetry/metrics.ts';
import { createInProcessBus } from '../../src/bus/index.ts';
import type { Sink } from '../../src/sinks/port.ts';
import type { CheckpointStore } from '../../src/state/port.ts';
import { type Processor, type SharedHostOptions, createProcessor } from '../../src/actors/processor/processor.ts';
import { createMemoryCheckpointBacking, type MemoryCheckpointBacking } from './memory-checkpoints.ts';
import { createMemoryLog, type MemoryLog } from './memory-log.ts';

export const DRIVER_TOPIC = 'events.iot.sensors';
const EVENT_TYPE = 'iot.sensor';

export interface ProcessorDriverOptions {
  /** Partitions of the event topic. @default 4 */
  partitions?: number;
  /** The processor's checkpoint interval, ms of the simulated clock. @default 1000 */
  checkpointIntervalMs?: number;
  /** Records per delivered batch. @default 50 */
  maxBatchRecords?: number;
  host?: SharedHostOptions;
  /**
   * Batches the processor may queue per partition before `onBatch` waits (its pipelining). 0: each
   * delivery resolves once processed, so a seek it makes applies to the next delivery. @default 0
   */
  maxQueuedBatches?: number;
  /** Simulated processing time at start, epoch ms. @default 2026-01-15T10:00:00Z */
  startTime?: number;
  /** Metrics every member updates. @default none */
  metrics?: Metrics;
  /** The processor's bound on one commit's size. @default the processor's */
  maxCheckpointBytes?: number;
}

export interface SensorEvent {
  key: string;
  /** Event time, epoch ms. */
  timestamp: number;
  value: number;
}

export interface DriverMember {
  readonly name: string;
  readonly processor: Processor;
  readonly store: CheckpointStore;
  /** Seeks the processor asked for, in order. */
  readonly seeks: { tp: TopicPartition; offset: number }[];
  /** Partitions the group gave this member (not what the processor thinks it owns). */
  assigned(): TopicPartition[];
  /** The member's fetch position in a partition. */
  position(partition: number): number;
  /** The group assigns partitions of the event topic (runs onAssigned; positions from its answer). */
  assign(partitions: number[]): Promise<void>;
  /** The group revokes partitions (runs onRevoked: the processor checkpoints and releases them). */
  revoke(partitions: number[]): Promise<void>;
  /** Hands the processor these records of a partition as one batch, whatever the position. */
  deliver(partition: number, records: LogRecord[]): Promise<void>;
  /** Delivers batches from the positions of every assigned partition until all are at the log end. */
  pump(): Promise<number>;
  /** The processor's view of one key (undefined when it does not own the key's partition). */
  keyState(partition: number, key: string): Promise<KeyStateView | null | undefined>;
  /** Graceful stop: final checkpoint, leaves the group. */
  stop(): Promise<void>;
  /** Crash: the member is dropped without a final checkpoint; its timers stop. */
  crash(): Promise<void>;
}

export interface ProcessorDriver {
  readonly clock: SimulatedClock;
  readonly log: MemoryLog;
  readonly backing: MemoryCheckpointBacking;
  readonly registry: EventTypeRegistry;
  readonly topic: string;
  readonly partitions: number;
  /** Every final result any member wrote to its sink, in order. */
  readonly finals: WindowResult[];
  /** Appends sensor events (keyed, routed like the gateway); returns their log records. */
  publish(events: readonly SensorEvent[]): Promise<LogRecord[]>;
  /** A new group member with its own checkpoint-store instance on the shared backing, started. */
  member(name: string): Promise<DriverMember>;
  /** Moves the simulated clock (firing the processors' timers) and waits for the work they started. */
  advance(ms: number): Promise<void>;
  /** Lets queued async work (timer-started checkpoints, ticks) run to completion. */
  settle(): Promise<void>;
  /** Stops every member still running. */
  close(): Promise<void>;
}

/** Enough macrotask turns for chained promise work (store, sink, commit) to finish; no wall-clock wait. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

export async function createProcessorDriver(options: ProcessorDriverOptions = {}): Promise<ProcessorDriver> {
  const partitions = options.partitions ?? 4;
  const maxBatch = options.maxBatchRecords ?? 50;
  const clock = createSimulatedClock(options.startTime ?? Date.parse('2026-01-15T10:00:00.000Z'));
  // Records are stamped no earlier than the event times of their append: the driver compresses
  // hours of event time into little processing time, standing for a log published to live.
  let appendFloor = Number.NEGATIVE_INFINITY;
  const log = createMemoryLog(() => Math.max(clock.now(), appendFloor));
  await log.ensureTopics([{ name: DRIVER_TOPIC, partitions }]);
  const backing = createMemoryCheckpointBacking();
  const registry = createEventTypeRegistry();
  const finals: WindowResult[] = [];
  const members: DriverMember[] = [];
  let sequence = 0;

  const sink: Sink = {
    name: 'driver-sink',
    async start() {},
    async close() {},
    async write(results) {
      for (const r of results) finals.push({ ...r });
    },
    async healthy() {
      return { connected: true };
    },
  };

  async function member(name: string): Promise<DriverMember> {
    const store = backing.open();
    await store.start();
    const positions = new Map<number, number>();
    const seeks: { tp: TopicPartition; offset: number }[] = [];
    let handlers: ConsumerHandlers | undefined;
    let stopped = false;
    // The log as this member sees it: a consumer the driver moves by hand.
    const memberLog: EventLog = {
      ...log,
      consumer(consumerOptions): GroupConsumer {
        handlers = consumerOptions.handlers;
        return {
          start: async () => {},
          stop: async () => {
            stopped = true;
          },
          commit: async () => {},
          seek: (tp, offset) => {
            seeks.push({ tp, offset });
            if (positions.has(tp.partition)) positions.set(tp.partition, offset);
          },
        };
      },
    };
    const processor = createProcessor({
      log: memberLog,
      checkpoints: store,
      bus: createInProcessBus(),
      sinks: [sink],
      registry,
      groupId: 'driver',
      topics: [DRIVER_TOPIC],
      host: options.host ?? {},
      clock,
      checkpointIntervalMs: options.checkpointIntervalMs ?? 1000,
      maxQueuedBatches: options.maxQueuedBatches ?? 0,
      logger: silentLogger(),
      publishEvents: false,
      metrics: options.metrics,
      ...(options.maxCheckpointBytes !== undefined ? { maxCheckpointBytes: options.maxCheckpointBytes } : {}),
    });
    await processor.start();
    const group = () => {
      if (!handlers || stopped) throw new Error(`member ${name} is not in the group`);
      return handlers;
    };
    const tps = (ps: number[]) => ps.map((partition) => ({ topic: DRIVER_TOPIC, partition }));

    async function deliver(partition: number, records: LogRecord[]): Promise<void> {
      const end = (await log.endOffsets(DRIVER_TOPIC))[partition] ?? 0;
      await group().onBatch({ topic: DRIVER_TOPIC, partition, records, highWatermark: end, heartbeat: async () => {} });
    }

    const m: DriverMember = {
      name,
      processor,
      store,
      seeks,
      assigned: () => tps([...positions.keys()].sort((a, b) => a - b)),
      position: (partition) => positions.get(partition) ?? -1,
      async assign(ps) {
        const offsets = await group().onAssigned(tps(ps));
        for (const p of ps) positions.set(p, offsets?.get(tpKey(DRIVER_TOPIC, p)) ?? 0);
      },
      async revoke(ps) {
        await group().onRevoked(tps(ps));
        for (const p of ps) positions.delete(p);
      },
      deliver,
      async pump() {
        let delivered = 0;
        for (let progress = true; progress; ) {
          progress = false;
          for (const [p, from] of positions) {
            const records = await log.read(DRIVER_TOPIC, p, from, maxBatch);
            if (records.length === 0) continue;
            // Like a fetch: the position moves past the batch unless the processor seeks meanwhile.
            positions.set(p, from + records.length);
            await deliver(p, records);
            delivered += records.length;
            progress = true;
            if (seeks.length > 1000) throw new Error(`member ${name} keeps seeking (partition ${p})`);
          }
        }
        return delivered;
      },
      keyState: (partition, key) => processor.local.keyState(DRIVER_TOPIC, partition, EVENT_TYPE, key),
      async stop() {
        if (stopped) return;
        await processor.stop();
        positions.clear();
        await store.close();
      },
      async crash() {
        // No onRevoked and nothing committed any more: the store is closed first, so the stop below
        // (which only ends the member's timers here) cannot land a final checkpoint.
        await store.close();
        await processor.stop();
        stopped = true;
        positions.clear();
      },
    };
    members.push(m);
    return m;
  }

  return {
    clock,
    log,
    backing,
    registry,
    topic: DRIVER_TOPIC,
    partitions,
    finals,
    async publish(events) {
      const records = events.map((e) => ({
        key: e.key,
        value: encodeEnvelope({
          eventId: `drv-${++sequence}`,
          timestamp: e.timestamp,
          eventType: EVENT_TYPE,
          userId: null,
          deviceId: e.key,
          payload: { value: e.value },
          metadata: null,
        }),
      }));
      appendFloor = events.reduce((m, e) => Math.max(m, e.timestamp), Number.NEGATIVE_INFINITY);
      const receipts = await log.append(DRIVER_TOPIC, records).finally(() => {
        appendFloor = Number.NEGATIVE_INFINITY;
      });
      const out: LogRecord[] = [];
      for (const r of receipts) out.push(...(await log.read(DRIVER_TOPIC, r.partition, r.offset, 1)));
      return out;
    },
    member,
    async advance(ms) {
      clock.advance(ms);
      await settle();
    },
    settle,
    async close() {
      for (const m of members) await m.stop().catch(() => undefined);
    },
  };
}
