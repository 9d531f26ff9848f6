/**
 * A Kafka consumer-group member for the event log: a kafkajs consumer with the sticky assigner,
 * `eachBatch` without auto-resolve or auto-commit. kafkajs has no rebalance listener, so membership
 * changes are taken from its GROUP_JOIN event (emitted synchronously after SyncGroup, before the
 * next fetch):
 *
 * - newly assigned partitions are paused at once, `onAssigned` runs, each is seeked to the offset
 *   it returned (or left at the committed offset), then resumed;
 * - partitions this member no longer has get `onRevoked`, after the new assignment is known (after
 *   SyncGroup), not before JoinGroup: kafkajs cannot await anything there, and with the eager
 *   protocol only the leader's SyncGroup says what moves. What does hold: once this member learns
 *   of the rebalance (a heartbeat fails; one runs after every delivered chunk) it delivers no
 *   further chunk, kafkajs waits for an `onBatch` in progress before it rejoins, and a revoked
 *   partition is never fetched again — so `onRevoked` runs after the partition's last `onBatch`
 *   finished, and none follows it. The new owner may already have run
 *   `onAssigned` and started, so a checkpoint written in `onRevoked` can race with it: exactly-once
 *   rests on the checkpoint store's epoch fence (README, "Architecture"), which rejects the old owner's write;
 * - membership work runs one change at a time in the order kafkajs reported it (revocations of a
 *   change before its assignments); a failing `onAssigned` is retried with backoff while the
 *   partitions stay paused;
 * - partitions kept across the rebalance continue where this member was (kafkajs would rewind
 *   them to the committed offset: it rebuilds its offset state on every sync);
 * - if the kafkajs consumer crashes and restarts, everything it had is revoked first, then
 *   assigned again, because its in-memory positions are gone.
 */
import type { Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import { type RetryPolicy, retry } from '../../core/index.ts';
import { toError } from '../../model/index.ts';
import type { ConsumerOptions, GroupConsumer, LogRecord, RecordBatch, TopicPartition } from '../port.ts';
import { tpKey } from '../port.ts';
import { isRebalanceError, unavailable } from './errors.ts';
import { stderrLogger } from './logger.ts';
import type { KafkaLogOptions } from './options.ts';
import { type FetchedMessage, toLogRecord } from './records.ts';
import { createStickyAssigner, type TopicAssignment } from './sticky-assigner.ts';

/** onAssigned may fail for any reason (the handler's, not Kafka's): retry it while the partitions are ours, 100 ms doubling to 5 s. */
const ASSIGN_RETRY: RetryPolicy = { attempts: Number.POSITIVE_INFINITY, baseDelayMs: 100, maxDelayMs: 5000, retryIf: () => true };
/** The partitions were revoked (or the member stopped) before onAssigned succeeded. */
const GONE = Symbol('gone');

function list(assignment: TopicAssignment): TopicPartition[] {
  const out: TopicPartition[] = [];
  for (const topic of Object.keys(assignment)) for (const partition of assignment[topic] ?? []) out.push({ topic, partition });
  return out;
}

function byTopic(tps: TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const m = new Map<string, number[]>();
  for (const tp of tps) {
    const arr = m.get(tp.topic);
    if (arr === undefined) m.set(tp.topic, [tp.partition]);
    else arr.push(tp.partition);
  }
  return [...m].map(([topic, partitions]) => ({ topic, partitions }));
}

export function createGroupConsumer(kafka: Kafka, opts: ConsumerOptions, logOptions: KafkaLogOptions): GroupConsumer {
  const { handlers } = opts;
  const maxBatch = Math.max(1, opts.maxBatchRecords ?? 500);
  /** What this member owns as far as the handlers know; read by the sticky assigner at join. */
  let owned: TopicAssignment = {};
  /** Next offset to deliver per partition, for partitions kept across a rebalance. */
  const position = new Map<string, number>();
  /** Bumped by seek(): a chunk loop that sees it change stops delivering the old batch. */
  const seekEpoch = new Map<string, number>();
  /** Partitions whose onAssigned has not finished: their batches are not delivered. */
  const pending = new Set<string>();
  let membership: Promise<void> = Promise.resolve();
  let running = false;
  let stopping = false;

  const consumer: Consumer = kafka.consumer({
    groupId: opts.groupId,
    partitionAssigners: [createStickyAssigner(() => owned)],
    sessionTimeout: logOptions.sessionTimeoutMs,
    heartbeatInterval: logOptions.heartbeatIntervalMs ?? 3000,
    rebalanceTimeout: logOptions.rebalanceTimeoutMs ?? 60_000,
    maxWaitTimeInMs: logOptions.maxWaitTimeMs ?? 500,
    allowAutoTopicCreation: false,
  });

  function fail(what: string, e: unknown): void {
    if (logOptions.logLevel === 'nothing') return;
    const err = toError(e);
    (logOptions.logger ?? stderrLogger).error({ component: 'keyflow-kafka', groupId: opts.groupId, err: { message: err.message, stack: err.stack } }, `${what} failed`);
  }

  /** Runs membership work one change at a time, in the order kafkajs reported the changes. */
  function enqueue(work: () => Promise<void>): void {
    membership = membership.then(work).catch((e: unknown) => fail('rebalance handling', e));
  }

  function revokeAll(): void {
    const all = list(owned);
    owned = {};
    for (const tp of all) {
      const k = tpKey(tp.topic, tp.partition);
      position.delete(k);
      pending.delete(k);
    }
    if (all.length > 0) enqueue(() => handlers.onRevoked(all));
  }

  consumer.on(consumer.events.GROUP_JOIN, (event) => {
    // Runs synchronously inside kafkajs's joinAndSync, before it fetches for the new generation:
    // whatever is paused or seeked here is in force for the first fetch.
    if (stopping) return; // "not called after stop()": a join racing with stop() changes nothing
    const next = list(event.payload.memberAssignment as TopicAssignment);
    const nextKeys = new Set(next.map((tp) => tpKey(tp.topic, tp.partition)));
    const before = list(owned);
    const beforeKeys = new Set(before.map((tp) => tpKey(tp.topic, tp.partition)));
    const revoked = before.filter((tp) => !nextKeys.has(tpKey(tp.topic, tp.partition)));
    const added = next.filter((tp) => !beforeKeys.has(tpKey(tp.topic, tp.partition)));
    const kept = next.filter((tp) => beforeKeys.has(tpKey(tp.topic, tp.partition)));
    owned = event.payload.memberAssignment as TopicAssignment;

    for (const tp of kept) {
      const at = position.get(tpKey(tp.topic, tp.partition));
      if (at !== undefined) consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(at) });
    }
    for (const tp of revoked) {
      const k = tpKey(tp.topic, tp.partition);
      position.delete(k);
      pending.delete(k);
    }
    for (const tp of added) pending.add(tpKey(tp.topic, tp.partition));
    if (added.length > 0) consumer.pause(byTopic(added));

    if (revoked.length > 0) enqueue(() => handlers.onRevoked(revoked));
    if (added.length > 0) {
      enqueue(async () => {
        // A failing onAssigned (checkpoint store down) is retried with backoff while the partitions
        // are still ours: they stay paused meanwhile, so nothing is processed from a wrong offset.
        let todo = added;
        const starts = await retry(
          async () => {
            todo = todo.filter((tp) => pending.has(tpKey(tp.topic, tp.partition)));
            if (todo.length === 0 || !running) return GONE;
            return handlers.onAssigned(todo);
          },
          { ...ASSIGN_RETRY, onRetry: (e, attempt) => fail(`onAssigned (attempt ${attempt})`, e) },
        );
        if (starts === GONE) return;
        const stillOurs = todo.filter((tp) => pending.has(tpKey(tp.topic, tp.partition)));
        for (const tp of stillOurs) {
          const k = tpKey(tp.topic, tp.partition);
          const start = starts?.get(k);
          if (start !== undefined) {
            consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(start) });
            position.set(k, start);
          }
          pending.delete(k);
        }
        if (stillOurs.length > 0 && running) consumer.resume(byTopic(stillOurs));
      });
    }
  });

  consumer.on(consumer.events.CRASH, () => {
    // kafkajs restarts a crashed consumer with fresh offset state: treat it as losing everything
    if (!stopping) revokeAll();
  });

  async function eachBatch({ batch, resolveOffset, heartbeat, isRunning }: EachBatchPayload): Promise<void> {
    const { topic, partition } = batch;
    const k = tpKey(topic, partition);
    if (pending.has(k) || stopping) return;
    const epoch = seekEpoch.get(k) ?? 0;
    const messages = batch.messages as unknown as FetchedMessage[];
    const highWatermark = Number(batch.highWatermark);
    for (let start = 0; start < messages.length; start += maxBatch) {
      if (!isRunning() || stopping || (seekEpoch.get(k) ?? 0) !== epoch) return;
      const end = Math.min(messages.length, start + maxBatch);
      const records = new Array<LogRecord>(end - start);
      for (let i = start; i < end; i++) records[i - start] = toLogRecord(topic, partition, messages[i]!);
      const recordBatch: RecordBatch = { topic, partition, records, highWatermark, heartbeat };
      await handlers.onBatch(recordBatch);
      if ((seekEpoch.get(k) ?? 0) !== epoch) return;
      const last = messages[end - 1]!.offset;
      resolveOffset(last);
      position.set(k, Number(last) + 1);
      await heartbeat();
    }
  }

  return {
    async start() {
      if (running) return;
      running = true;
      stopping = false;
      try {
        await consumer.connect();
      } catch (e) {
        running = false;
        throw unavailable('connecting the group consumer', e);
      }
      await consumer.subscribe({ topics: opts.topics, fromBeginning: true });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: Math.max(1, logOptions.partitionsConsumedConcurrently ?? 1),
        eachBatch,
      });
      // the first assignment's onAssigned has run (or failed) before start() resolves
      await membership;
    },

    async stop() {
      if (!running) return;
      stopping = true;
      running = false;
      await consumer.disconnect();
      await membership;
      owned = {};
      position.clear();
      pending.clear();
    },

    async commit(tp, nextOffset) {
      // the committed offset is for lag monitoring only; a member that left has nothing to report
      if (!running) return;
      try {
        await consumer.commitOffsets([{ topic: tp.topic, partition: tp.partition, offset: String(nextOffset) }]);
      } catch (e) {
        // during a rebalance the commit belongs to a generation that is ending; the next
        // checkpoint (ours or the new owner's) commits again, so this one is simply dropped
        if (isRebalanceError(e)) return;
        throw unavailable(`committing ${tpKey(tp.topic, tp.partition)}`, e);
      }
    },

    seek(tp, offset) {
      const k = tpKey(tp.topic, tp.partition);
      seekEpoch.set(k, (seekEpoch.get(k) ?? 0) + 1);
      position.set(k, offset);
      if (!running) return;
      try {
        consumer.seek({ topic: tp.topic, partition: tp.partition, offset: String(offset) });
      } catch (e) {
        fail(`seek ${k}`, e);
      }
    },
  };
}
