/**
 * Window queries for the API. A query goes to the partition's owner: this node when it owns the
 * partition, else the owner over the live bus (request/reply). While ownership is moving (no
 * owner answers in time), it is answered from the latest checkpoint, flagged `fromCheckpoint`
 * in the log, instead of failing.
 */
import type { Logger } from 'pino';
import type { LiveBus, Unsubscribe } from '../../bus/index.ts';
import { subjects } from '../../bus/index.ts';
import type { Clock } from '../../core/index.ts';
import type { EventTypeRegistry, KeyStateView, WindowQuery, WindowReader, WindowResult } from '../../model/index.ts';
import { ErrorCode, hasCode, KeyflowError, partitionForKey } from '../../model/index.ts';
import type { CheckpointStore } from '../../state/index.ts';
import type { PartitionHostOptions } from '../partition-host/partition-host.ts';
import { actorIdFor, createPartitionHost } from '../partition-host/partition-host.ts';
import type { RollupPartial, RollupQuery } from '../rollups/rollup-types.ts';

/** A query for a partition's owner, sent over the live bus. */
export type QueryRequest = { op: 'windows'; q: WindowQuery } | { op: 'keyState'; eventType: string; key: string } | { op: 'rollups'; q: RollupQuery };
type QueryReply = { ok: true; value: unknown } | { ok: false; code: string; message: string };

/** PartitionHost settings shared by every partition of a processor (windows, lateness, retries, …). */
export type SharedHostOptions = Omit<PartitionHostOptions, 'topic' | 'partition' | 'output' | 'loadActor' | 'loadFinals' | 'clock' | 'registry' | 'metrics' | 'schemas' | 'extraState'>;

/** Reads window state of the partitions this node owns; answers `null` for others. */
export interface LocalReader {
  owns(topic: string, partition: number): boolean;
  windows(topic: string, partition: number, q: WindowQuery): Promise<WindowResult[] | null>;
  keyState(topic: string, partition: number, eventType: string, key: string): Promise<KeyStateView | null | undefined>;
  /** The partition's rollup partials; null when not owned. */
  rollups(topic: string, partition: number, q: RollupQuery): Promise<RollupPartial[] | null>;
}

export interface WindowReaderOptions {
  registry: EventTypeRegistry;
  /** The local processor's partitions, when this node runs one. */
  local?: LocalReader | undefined;
  bus: LiveBus;
  checkpoints: CheckpointStore;
  /** Window settings, to rebuild an actor from its checkpoint. */
  host: SharedHostOptions;
  clock: Clock;
  /** How long to wait for the owner, ms. @default 2000 */
  timeoutMs?: number;
  logger: Logger;
}

export function createWindowReader(options: WindowReaderOptions): WindowReader {
  const { registry, local, bus, checkpoints, logger } = options;
  const timeoutMs = options.timeoutMs ?? 2000;

  function locate(eventType: string, key: string): { topic: string; partition: number } {
    const spec = registry.resolve(eventType);
    if (!spec) throw new KeyflowError(ErrorCode.UNKNOWN_EVENT_TYPE, `unknown event type "${eventType}"`);
    return { topic: spec.topic, partition: partitionForKey(key, spec.partitions) };
  }

  /** Rebuilds the key's actor from the last checkpoint and asks it. */
  async function fromCheckpoint<T>(
    topic: string,
    partition: number,
    eventType: string,
    key: string,
    ask: (h: ReturnType<typeof createPartitionHost>) => Promise<T>,
  ): Promise<T> {
    const id = actorIdFor(registry, topic, eventType, key);
    const [cp, snapshot] = await Promise.all([checkpoints.load(topic, partition), checkpoints.loadActor(topic, partition, id)]);
    const host = checkpointHost(options, topic, partition);
    host.restore(cp, snapshot === null ? new Map() : new Map([[id, snapshot]]));
    logger.debug({ topic, partition, key }, 'query answered from the latest checkpoint (owner not reachable)');
    return ask(host);
  }

  const remote = <T>(topic: string, partition: number, request: QueryRequest) => askOwner<T>(bus, topic, partition, request, timeoutMs);

  return {
    async windows(q) {
      const { topic, partition } = locate(q.eventType, q.key);
      if (local?.owns(topic, partition)) {
        const r = await local.windows(topic, partition, q);
        if (r) return r;
      }
      const answer = await remote<WindowResult[]>(topic, partition, { op: 'windows', q });
      if (answer) return answer.value;
      return fromCheckpoint(topic, partition, q.eventType, q.key, (h) => h.windows(q));
    },
    async keyState(eventType, key) {
      const { topic, partition } = locate(eventType, key);
      if (local?.owns(topic, partition)) {
        const r = await local.keyState(topic, partition, eventType, key);
        if (r !== undefined) return r;
      }
      const answer = await remote<KeyStateView | null>(topic, partition, { op: 'keyState', eventType, key });
      if (answer) return answer.value;
      return fromCheckpoint(topic, partition, eventType, key, (h) => h.keyState(eventType, key));
    },
  };
}

/**
 * Asks the owner of a partition over the bus. Null when no owner answers in time or the one that
 * answered no longer owns it (ownership is moving): the caller falls back to the checkpoint.
 */
export async function askOwner<T>(bus: LiveBus, topic: string, partition: number, request: QueryRequest, timeoutMs: number): Promise<{ value: T } | null> {
  try {
    const reply = (await bus.request(subjects.query(topic, partition), request, timeoutMs)) as QueryReply;
    if (reply.ok) return { value: reply.value as T };
    if (reply.code === ErrorCode.NOT_OWNER) return null;
    throw new KeyflowError(reply.code as ErrorCode, reply.message);
  } catch (e) {
    if (hasCode(e, ErrorCode.TIMEOUT)) return null;
    throw e;
  }
}

/** A PartitionHost that only answers queries from a checkpoint (it emits nothing). */
export function checkpointHost(
  o: { host: SharedHostOptions; registry: EventTypeRegistry; clock: Clock; checkpoints: CheckpointStore },
  topic: string,
  partition: number,
  extra: Partial<PartitionHostOptions> = {},
): ReturnType<typeof createPartitionHost> {
  return createPartitionHost({
    ...o.host,
    ...extra,
    topic,
    partition,
    registry: o.registry,
    clock: o.clock,
    loadFinals: (actor) => o.checkpoints.loadFinals(topic, partition, actor),
    output: { onResults() {}, onLate() {}, onDeadLetter() {} },
  });
}

/** Answers queries for one owned partition on the bus; the processor registers it on assignment. */
export function respondToQueries(bus: LiveBus, local: LocalReader, topic: string, partition: number): Unsubscribe {
  return bus.respond(subjects.query(topic, partition), async (request): Promise<QueryReply> => {
    const r = request as QueryRequest;
    try {
      if (r.op === 'windows') {
        const value = await local.windows(topic, partition, r.q);
        return value ? { ok: true, value } : { ok: false, code: ErrorCode.NOT_OWNER, message: 'partition moved' };
      }
      if (r.op === 'rollups') {
        const value = await local.rollups(topic, partition, r.q);
        return value ? { ok: true, value } : { ok: false, code: ErrorCode.NOT_OWNER, message: 'partition moved' };
      }
      const value = await local.keyState(topic, partition, r.eventType, r.key);
      return value === undefined ? { ok: false, code: ErrorCode.NOT_OWNER, message: 'partition moved' } : { ok: true, value };
    } catch (e) {
      return { ok: false, code: e instanceof KeyflowError ? e.code : ErrorCode.INTERNAL, message: e instanceof Error ? e.message : String(e) };
    }
  });
}
