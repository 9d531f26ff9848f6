/**
 * Workloads and result checks for the distributed e2e suites: generates iot.sensor events whose
 * out-of-orderness stays far below the watermark bound (so no event is late, whatever the
 * arrival order across producers), publishes them straight into Kafka (plain kafkajs) or through
 * a gateway, reads every key's windows back through GraphQL and diffs them against the reference
 * model recomputed from the raw events.
 */
import type { Producer } from 'kafkajs';
import { createKafkaLog } from '../../src/log/kafka/index.ts';
import { withTopicPrefix } from '../../src/log/prefixed.ts';
import { DEFAULT_EVENT_TYPES } from '../../src/model/event-types.ts';
import type { WindowResult } from '../../src/model/window-result.ts';
import type { Cluster, ClusterNode } from './cluster.ts';
import { diffResults, type RefEvent, referenceWindows } from './reference-model.ts';
import { createRandom } from '../../src/loadgen/index.ts';

export const EVENT_TYPE = 'iot.sensor';
export const TOPIC = 'events.iot.sensors';
export const WINDOWS = ['tumbling-1m', 'tumbling-5m', 'sliding-5m-1m', 'session-30m'];

export interface TestEvent {
  eventId: string;
  timestamp: string;
  eventType: string;
  deviceId: string;
  userId: string;
  payload: Record<string, unknown>;
}

/** Deterministic pseudo-random numbers (the load generator's mulberry32), so a failing run can be reproduced from its seed. */
export const rng = createRandom;

export interface Workload {
  /** Every event id starts with it. */
  readonly idPrefix: string;
  readonly keys: string[];
  /** Every event generated so far, in generation order. */
  readonly events: TestEvent[];
  /** Ids of the events {@link stream} published through the gateway (the others went straight into Kafka). */
  readonly viaGateway: Set<string>;
  /** The next `n` events: event time advances 50 ms per event, with up to 2 s of jitter backwards. */
  next(n: number): TestEvent[];
}

export function createWorkload(opts: { seed: number; keys: number; idPrefix: string; base?: number }): Workload {
  const rand = rng(opts.seed);
  const keys = Array.from({ length: opts.keys }, (_, i) => `${opts.idPrefix}-dev-${i}`);
  const events: TestEvent[] = [];
  let t = opts.base ?? Date.UTC(2026, 0, 1, 12, 0, 0);
  return {
    idPrefix: opts.idPrefix,
    keys,
    events,
    viaGateway: new Set(),
    next(n) {
      const out: TestEvent[] = [];
      for (let i = 0; i < n; i++) {
        t += 50;
        const e: TestEvent = {
          eventId: `${opts.idPrefix}-e${events.length}`,
          timestamp: new Date(t - Math.floor(rand() * 2000)).toISOString(),
          eventType: EVENT_TYPE,
          deviceId: keys[Math.floor(rand() * keys.length)]!,
          userId: `u${Math.floor(rand() * 7)}`,
          payload: { value: Math.round(rand() * 10_000) / 100, unit: 'C' },
        };
        events.push(e);
        out.push(e);
      }
      return out;
    },
  };
}

/** Writes events straight into the event topic, as any Kafka producer would (key = deviceId, JSON value). */
export async function produceDirect(cluster: Cluster, producer: Producer, events: TestEvent[]): Promise<void> {
  if (events.length === 0) return;
  await producer.send({
    topic: cluster.topic(TOPIC),
    acks: -1,
    messages: events.map((e) => ({ key: e.deviceId, value: JSON.stringify(e), headers: { 'content-type': 'application/json' } })),
  });
}

const PUBLISH = `mutation ($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { status eventId partition offset } }`;

const RETRIABLE = new Set(['BROKER_UNAVAILABLE', 'STORE_UNAVAILABLE', 'TIMEOUT']);

/**
 * Publishes events through a gateway's GraphQL API, retrying retriable errors for up to 30 s as a
 * well-behaved client does (publishing the same eventIds again is idempotent); throws on any other error.
 */
export async function publishViaGateway(cluster: Cluster, url: string, events: TestEvent[]): Promise<void> {
  if (events.length === 0) return;
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await cluster.graphql(url, PUBLISH, { inputs: events });
    if (!r.errors?.length) return;
    const retriable = r.errors.every((e) => RETRIABLE.has(e.extensions?.code ?? ''));
    if (!retriable || Date.now() > deadline) throw new Error(`publishEvents failed: ${JSON.stringify(r.errors)}`);
    await new Promise((res) => setTimeout(res, 500));
  }
}

const WINDOWS_QUERY = `query ($eventType: String!, $key: String!) {
  windows(eventType: $eventType, key: $key) {
    eventType key window windowStart windowEnd count valueCount sum avg min max distinctUsers final revision
  }
}`;

interface GqlWindow extends Omit<WindowResult, 'windowStart' | 'windowEnd'> {
  windowStart: string;
  windowEnd: string;
}

/** Every window of every key, read through a gateway. Throws on a GraphQL error. */
export async function readWindows(cluster: Cluster, url: string, keys: readonly string[]): Promise<WindowResult[]> {
  const out: WindowResult[] = [];
  for (const key of keys) {
    const r = await cluster.graphql<{ windows: GqlWindow[] }>(url, WINDOWS_QUERY, { eventType: EVENT_TYPE, key });
    if (r.errors?.length || !r.data) throw new Error(`windows(${key}) failed: ${JSON.stringify(r.errors)}`);
    for (const w of r.data.windows) out.push({ ...w, windowStart: Date.parse(w.windowStart), windowEnd: Date.parse(w.windowEnd) });
  }
  return out;
}

/**
 * The reference results of `events`: every window of every key, recomputed from scratch. The
 * workload has no late events, so the aggregates do not depend on arrival order; `final` depends
 * on processing time (idle partitions) and is not compared.
 */
export function expectedWindows(events: readonly TestEvent[], windows: readonly string[] = WINDOWS): WindowResult[] {
  const valueField = (t: string) => DEFAULT_EVENT_TYPES.find((s) => s.eventType === t)?.valueField ?? null;
  const ref: RefEvent[] = events.map((e) => ({
    eventType: e.eventType,
    key: e.deviceId,
    timestamp: Date.parse(e.timestamp),
    userId: e.userId,
    payload: e.payload,
  }));
  return referenceWindows(ref, { specs: windows, valueField, maxOutOfOrderMs: 10_000, finalWatermark: null }).results;
}

export interface StreamOptions {
  rounds: number;
  perRound: number;
  /** Pause after each round, ms. @default 100 */
  pauseMs?: number;
  /** Runs after round `i` was produced (kill a node, …). */
  after?: (round: number) => Promise<void> | void;
  /** Rounds for which every event goes straight into Kafka (the gateway is expected to fail). */
  direct?: (round: number) => boolean;
}

/**
 * Produces `rounds × perRound` events of the workload, each round half straight into Kafka and
 * half through the gateway (alternating events), awaiting both before the next round so that the
 * arrival order never strays far from event time.
 */
export async function stream(cluster: Cluster, producer: Producer, gatewayUrl: string, workload: Workload, o: StreamOptions): Promise<void> {
  for (let round = 0; round < o.rounds; round++) {
    const batch = workload.next(o.perRound);
    if (o.direct?.(round)) {
      await produceDirect(cluster, producer, batch);
      await o.after?.(round);
      await new Promise((r) => setTimeout(r, o.pauseMs ?? 100));
      continue;
    }
    for (let i = 1; i < batch.length; i += 2) workload.viaGateway.add(batch[i]!.eventId);
    await Promise.all([
      produceDirect(
        cluster,
        producer,
        batch.filter((_, i) => i % 2 === 0),
      ),
      publishViaGateway(
        cluster,
        gatewayUrl,
        batch.filter((_, i) => i % 2 === 1),
      ),
    ]);
    await o.after?.(round);
    await new Promise((r) => setTimeout(r, o.pauseMs ?? 100));
  }
}

/**
 * SIGKILLs `node` after each round in `rounds` (a `stream` option's `after`), at a random moment
 * up to 600 ms later, and restarts it in the background (the next kill waits for that restart).
 * `done()` waits for the last restart and returns how many kills happened.
 */
export function killAfterRounds(node: ClusterNode, rounds: ReadonlySet<number>, rand: () => number): { after(round: number): Promise<void>; done(): Promise<number> } {
  let restarting: Promise<void> | undefined;
  let kills = 0;
  return {
    async after(round) {
      if (!rounds.has(round)) return;
      await restarting;
      await new Promise((r) => setTimeout(r, Math.floor(rand() * 600)));
      await node.kill('SIGKILL');
      kills++;
      restarting = node.restart();
    },
    async done() {
      await restarting;
      return kills;
    },
  };
}

/**
 * Waits until every window of the workload's keys equals the reference recomputed from the
 * workload's records as they stand in the log (a plain producer's retry may have written one
 * twice; the platform must count the log exactly once). Also checks that no event is missing
 * from the log and that no event published through the API is in it twice. Throws with the
 * first differences.
 */
export async function expectExact(cluster: Cluster, url: string, workload: Workload, timeoutMs = 60_000): Promise<void> {
  const logged = await eventsInLog(cluster, workload.idPrefix);
  const seen = new Map<string, number>();
  for (const e of logged) seen.set(e.eventId, (seen.get(e.eventId) ?? 0) + 1);
  const missing = workload.events.filter((e) => !seen.has(e.eventId)).map((e) => e.eventId);
  if (missing.length > 0) throw new Error(`events missing from the log: ${missing.slice(0, 20).join(', ')}`);
  const twiceViaApi = [...seen].filter(([id, n]) => n > 1 && workload.viaGateway.has(id)).map(([id]) => id);
  if (twiceViaApi.length > 0) throw new Error(`events published through the API are in the log twice: ${twiceViaApi.slice(0, 20).join(', ')}`);
  const deadline = Date.now() + timeoutMs;
  let diff: string[] = [];
  for (;;) {
    try {
      diff = await diffAgainstReference(cluster, url, logged, workload.keys);
      if (diff.length === 0) return;
    } catch (e) {
      diff = [`query failed: ${(e as Error).message}`];
    }
    if (Date.now() > deadline) throw new Error(`windows not exact after ${timeoutMs} ms; first differences:\n${diff.slice(0, 20).join('\n')}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

/**
 * Every event of the workload as it stands in the cluster's event topic (read back from Kafka, in
 * log order): the raw input the platform must have counted exactly once, duplicates a producer
 * retry wrote included.
 */
export async function eventsInLog(cluster: Cluster, idPrefix: string): Promise<TestEvent[]> {
  const log = withTopicPrefix(createKafkaLog({ brokers: cluster.brokers, clientId: 'keyflow-test-reader', logLevel: 'nothing' }), cluster.topicPrefix);
  await log.start();
  try {
    const [begin, end] = await Promise.all([log.beginOffsets(TOPIC), log.endOffsets(TOPIC)]);
    const out: TestEvent[] = [];
    const decoder = new TextDecoder();
    for (let p = 0; p < end.length; p++) {
      for (let at = begin[p] ?? 0; at < end[p]!; ) {
        const records = await log.read(TOPIC, p, at, 1000);
        if (records.length === 0) break;
        for (const r of records) {
          at = r.offset + 1;
          try {
            const e = JSON.parse(decoder.decode(r.value)) as TestEvent;
            if (typeof e.eventId === 'string' && e.eventId.startsWith(`${idPrefix}-e`)) out.push(e);
          } catch {
            // not an event of the workload
          }
        }
      }
    }
    // in generation order (duplicates side by side): the reference model's watermark spans the
    // input, so partition-by-partition order would make later partitions' first events look late
    const seq = (e: TestEvent) => Number(e.eventId.slice(e.eventId.lastIndexOf('-e') + 2));
    return out.sort((a, b) => seq(a) - seq(b));
  } finally {
    await log.close();
  }
}

/** Differences between what the cluster holds and the reference; empty when every window is exact. */
export async function diffAgainstReference(cluster: Cluster, url: string, events: readonly TestEvent[], keys: readonly string[]): Promise<string[]> {
  const actual = await readWindows(cluster, url, keys);
  return diffResults(actual, expectedWindows(events), { final: false });
}
