/** Wires the GraphQL server over the in-memory log and bus for unit tests; calls it in-process with yoga.fetch. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInProcessBus, createInProcessHub } from '../../src/bus/in-process/in-process-bus.ts';
import { createLiveFeed } from '../../src/bus/live-feed.ts';
import { type EventMessage, eventMessage } from '../../src/bus/messages.ts';
import { type LiveBus, subjects } from '../../src/bus/port.ts';
import { systemClock } from '../../src/core/clock.ts';
import { type StoredEventType, createTypeCatalog } from '../../src/types/index.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { createMetrics } from '../../src/core/telemetry/metrics.ts';
import { createGraphQLServer, type GraphQLServer, type GraphQLServerOptions } from '../../src/graphql/server.ts';
import { type ApiLimits, type ApiServices, createHealthCheck } from '../../src/graphql/services.ts';
import { createMemoryDedupe } from '../../src/ingest/dedupe/memory.ts';
import { createIngest } from '../../src/ingest/ingest.ts';
import { createFileLog, type SegmentOpener } from '../../src/log/embedded/file-log.ts';
import type { AppendResult, EventLog, LogRecord, ProduceRecord } from '../../src/log/port.ts';
import { decodeEnvelope } from '../../src/model/event.ts';
import { createEventTypeRegistry, DEFAULT_EVENT_TYPES, SYSTEM_TOPICS } from '../../src/model/event-types.ts';
import type { KeyStateView, WindowQuery, WindowReader, WindowResult } from '../../src/model/window-result.ts';
import { createMemoryLog, type MemoryLog } from './memory-log.ts';

export interface HarnessOptions extends GraphQLServerOptions, Partial<ApiLimits> {
  /** Publish the records of every append on the bus as one `{ events }` message, as the processor runtime does per batch. @default true */
  feedBus?: boolean;
  /** Items buffered per subscriber before RATE_LIMITED. @default 10_000 */
  subscriptionBuffer?: number;
}

export interface Harness<L extends EventLog = MemoryLog> {
  /** The log the services use (appends through it also reach the bus when feedBus). */
  log: L;
  bus: LiveBus;
  services: ApiServices;
  server: GraphQLServer;
  /** Window results the reader answers with (tests push into it). */
  windowResults: WindowResult[];
  keyStates: Map<string, KeyStateView>;
  /** Live bus subscriptions on a subject (to check that nothing leaks). */
  subscriberCount(subject: string): number;
  /** Every record of a topic, read back through the port. */
  records(topic: string): Promise<LogRecord[]>;
  gql(query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GqlResponse>;
  post(body: string, headers?: Record<string, string>): Promise<GqlResponse>;
  close(): Promise<void>;
}

export interface GqlError {
  message: string;
  path?: (string | number)[];
  extensions: { code: string; requestId: string; timestamp: string; details?: Record<string, unknown> };
}

export interface GqlResponse {
  status: number;
  headers: Headers;
  body: { data?: Record<string, unknown> | null; errors?: GqlError[] };
}

export const WINDOW_NAMES = ['tumbling-1m', 'tumbling-5m', 'tumbling-15m', 'sliding-5m-1m', 'session-30m'];

/** Over the in-memory log (failure injection, append counts) and the real in-process bus. */
export async function createHarness(options: HarnessOptions = {}): Promise<Harness<MemoryLog>> {
  // Strictly increasing append times, so "last appended" is well defined even within one millisecond.
  let appendClock = Date.now();
  const log = createMemoryLog(() => ++appendClock);
  return wire(log, options, async () => {});
}

/** Over the real embedded file log (in a temporary data dir) and the real in-process bus. */
export async function createEmbeddedHarness(options: HarnessOptions & { openSegment?: SegmentOpener } = {}): Promise<Harness<EventLog>> {
  const dataDir = await mkdtemp(join(tmpdir(), 'keyflow-graphql-'));
  let appendClock = Date.now();
  const log = createFileLog({
    dataDir,
    clock: { ...systemClock, now: () => ++appendClock },
    logger: { warn: () => {}, error: () => {} },
    ...(options.openSegment ? { openSegment: options.openSegment } : {}),
  });
  await log.start();
  return wire(log, options, async () => {
    await log.close();
    await rm(dataDir, { recursive: true, force: true });
  });
}

async function wire<L extends EventLog>(log: L, options: HarnessOptions, cleanup: () => Promise<void>): Promise<Harness<L>> {
  const hub = createInProcessHub();
  const bus = createInProcessBus({ hub });
  await bus.start();
  const registry = createEventTypeRegistry(DEFAULT_EVENT_TYPES);
  // registerEventType over an in-memory store (the file and topic stores have their own tests)
  const stored = new Map<string, StoredEventType>();
  const eventTypes = createTypeCatalog({
    registry,
    store: { kind: 'file', load: async () => [...stored.values()], put: async (e) => void stored.set(e.definition.name, e) },
    log,
    clock: systemClock,
    logger: silentLogger(),
    pollMs: 3_600_000,
  });
  await eventTypes.start();
  await log.ensureTopics([...registry.all().map((t) => ({ name: t.topic, partitions: t.partitions })), ...SYSTEM_TOPICS]);
  // Stands in for the processor runtime: every appended event goes on the bus, in append order.
  const feeding = options.feedBus ?? true;
  const servedLog = new Proxy(log, {
    get(target, prop) {
      if (prop === 'append' && feeding) {
        return async (topic: string, records: ProduceRecord[]): Promise<AppendResult[]> => {
          const results = await target.append(topic, records);
          if (registry.byTopic(topic)) {
            // One message per append, like the processor's one per batch ({ events } in log order).
            const events: EventMessage[] = results.map((r, i) => {
              const e = decodeEnvelope(records[i]!.value);
              return eventMessage(r, records[i]!.key ?? e.eventId, e);
            });
            if (events.length > 0) bus.publish(subjects.events(topic), { events });
          }
          return results;
        };
      }
      const v = Reflect.get(target, prop, target);
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const limits: ApiLimits = {
    maxEventBytes: options.maxEventBytes ?? 65_536,
    maxBatch: options.maxBatch ?? 1000,
    maxQueryDepth: options.maxQueryDepth,
    maxAliases: options.maxAliases,
    maxCost: options.maxCost,
    maxQueryTokens: options.maxQueryTokens,
    maxTokensPerEvent: options.maxTokensPerEvent,
  };
  const ingest = createIngest({ log: servedLog, registry, dedupe: createMemoryDedupe({ maxEntries: 10_000, ttlMs: 3_600_000 }), limits, retryBaseDelayMs: 1 });
  const windowResults: WindowResult[] = [];
  const keyStates = new Map<string, KeyStateView>();
  const reader: WindowReader = {
    async windows(q: WindowQuery) {
      return windowResults
        .filter(
          (w) =>
            w.eventType === q.eventType &&
            w.key === q.key &&
            (q.window === undefined || w.window === q.window) &&
            (q.from === undefined || w.windowStart >= q.from) &&
            (q.to === undefined || w.windowStart < q.to) &&
            (!q.finalOnly || w.final),
        )
        .sort((a, b) => a.windowStart - b.windowStart);
    },
    async keyState(eventType, key) {
      return keyStates.get(`${eventType}/${key}`) ?? null;
    },
  };
  const services: ApiServices = {
    mode: 'embedded',
    registry,
    windowNames: WINDOW_NAMES,
    log: servedLog,
    bus,
    live: createLiveFeed({ bus }),
    subscriptionBuffer: options.subscriptionBuffer,
    reader,
    ingest,
    eventTypes,
    health: createHealthCheck({ mode: 'embedded', components: { broker: () => log.healthy(), bus: () => bus.healthy() } }),
    limits,
    metrics: createMetrics(undefined, { defaultMetrics: false }),
    logger: silentLogger(),
  };
  const server = createGraphQLServer(services, options);
  const post = async (body: string, headers: Record<string, string> = {}): Promise<GqlResponse> => {
    const res = await server.yoga.fetch('http://yoga/graphql', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...headers },
      body,
    });
    const text = await res.text();
    return { status: res.status, headers: res.headers, body: JSON.parse(text) };
  };
  return {
    log,
    bus,
    services,
    server,
    windowResults,
    keyStates,
    subscriberCount: (subject) => (hub.exact.get(subject)?.length ?? 0) + hub.wildcards.filter((w) => w.tokens.join('.') === subject).length,
    async records(topic) {
      const end = await log.endOffsets(topic);
      const parts = await Promise.all(end.map((n, p) => (n > 0 ? log.read(topic, p, 0, n) : Promise.resolve([]))));
      return parts.flat();
    },
    post,
    gql: (query, variables, headers) => post(JSON.stringify({ query, variables }), headers),
    async close() {
      await eventTypes.close();
      await bus.close();
      await cleanup();
    },
  };
}

/** A valid EventInput for tests. */
export function sensorEvent(over: Record<string, unknown> = {}): Record<string, unknown> {
  return { eventType: 'iot.sensor', timestamp: '2024-01-15T10:30:00.000Z', deviceId: 'dev-1', payload: { value: 1.5 }, ...over };
}

export const PUBLISH = `mutation($input: EventInput!) { publishEvent(input: $input) { status eventId topic partition offset timestamp } }`;
export const PUBLISH_MANY = `mutation($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { status eventId topic partition offset timestamp } }`;
