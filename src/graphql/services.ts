/**
 * What the GraphQL layer needs from the node it runs on. The runtime builds one `ApiServices`
 * and hands it to {@link createGraphQLServer}; nothing here knows which adapters are behind it.
 */
import type { Registry } from 'prom-client';
import type { LiveBus, LiveFeed } from '../bus/index.ts';
import type { Logger, Metrics } from '../core/index.ts';
import type { Ingest } from '../ingest/index.ts';
import type { RollupReader } from '../actors/index.ts';
import type { EventLog } from '../log/index.ts';
import type { EventTypeRegistry, WindowReader } from '../model/index.ts';
import type { RedriveFilter, RedriveReport, RedriveState } from '../redrive/index.ts';
import type { SchemaRegistry } from '../schemas/index.ts';
import type { TypeCatalog } from '../types/index.ts';

export interface ComponentHealth {
  /** broker, checkpoints, bus, … */
  name: string;
  connected: boolean;
  detail?: string | null;
}

export interface Health {
  /** `ok` when every component is connected, else `degraded`. */
  status: 'ok' | 'degraded';
  mode: 'embedded' | 'distributed';
  uptimeSeconds: number;
  components: ComponentHealth[];
}

export interface ApiLimits {
  /** Largest encoded event (the record value), bytes. @default 65_536 */
  maxEventBytes: number;
  /** Most events in one publishEvents. @default 1000 */
  maxBatch: number;
  /** Deepest selection set. @default 10 */
  maxQueryDepth?: number;
  /** Most aliases in one operation. @default 30 */
  maxAliases?: number;
  /** Highest graphql-armor cost. @default 5000 */
  maxCost?: number;
  /** Most directives in one operation. @default 50 */
  maxDirectives?: number;
  /**
   * Lexical tokens a document may have besides the events written inline in it. The token limit
   * is this plus `maxBatch × maxTokensPerEvent` (see use-token-limit.ts). @default 2000
   */
  maxQueryTokens?: number;
  /** Tokens allowed per inline event in the token limit. @default 200 */
  maxTokensPerEvent?: number;
}

export interface ApiServices {
  /** embedded or distributed; reported by health. */
  readonly mode: 'embedded' | 'distributed';
  readonly registry: EventTypeRegistry;
  /** The configured window spec names (KEYFLOW_WINDOWS); `windows(window:)` accepts only these. */
  readonly windowNames: readonly string[];
  /** Read side of the log: latestEvents, deadLetters. Appends go through `ingest`. */
  readonly log: EventLog;
  /** The node's live bus (queries to partition owners ride on it). */
  readonly bus: LiveBus;
  /** What subscriptions read: the bus's events and window results, one bus subscription per subject, replays dropped. */
  readonly live: LiveFeed;
  /** Items buffered per subscriber that reads too slowly before it is ended with RATE_LIMITED. @default 10_000 */
  readonly subscriptionBuffer?: number;
  /** windows / keyState, answered by the partition's owner (locally or over the bus). */
  readonly reader: WindowReader;
  /** rollups query and subscription; absent: rollups are off (KEYFLOW_ROLLUPS=false). */
  readonly rollups?: RollupReader | undefined;
  /** publishEvent / publishEvents. */
  readonly ingest: Ingest;
  /** registerEventType; absent: the node cannot register types. */
  readonly eventTypes?: Pick<TypeCatalog, 'register'>;
  /** Avro / Protobuf schemas: the Schema Registry routes, registerSchema, publishEncodedEvent; absent: not on this node. */
  readonly schemas?: SchemaRegistry;
  /** redriveDeadLetters and each dead letter's redrive record; absent: not on this node. */
  readonly redrive?: {
    run(filter: RedriveFilter, dryRun: boolean): Promise<RedriveReport>;
    states(): Promise<Map<string, RedriveState>>;
  };
  /** Current health of the node's components. */
  health(): Promise<Health>;
  readonly limits: ApiLimits;
  /** Metrics the API updates and `GET /metrics` serves; a private registry when absent. */
  readonly metrics?: Metrics | { registry: Registry };
  readonly logger: Logger;
}

export interface HealthCheckOptions {
  mode: 'embedded' | 'distributed';
  /** Named probes, e.g. `{ broker: () => log.healthy(), bus: () => bus.healthy() }`. */
  components: Record<string, () => Promise<{ connected: boolean; detail?: string }>>;
  /** Start time, epoch ms. @default now */
  startedAt?: number;
  /** @default Date.now */
  now?: () => number;
}

const ABSOLUTE_PATH = /(^|[\s'"(=])((?:[A-Za-z]:)?[\\/][^\s'"),;]*)/g;

/**
 * A component's detail as a client may see it: absolute file paths reduced to their last part
 * (the data directory of the node is nobody's business) and at most 200 characters.
 */
export function publicDetail(detail: string): string {
  const cleaned = detail.replace(ABSOLUTE_PATH, (_m, before: string, path: string) => `${before}…/${path.split(/[\\/]/).filter(Boolean).pop() ?? ''}`);
  return cleaned.length <= 200 ? cleaned : `${cleaned.slice(0, 200)}…`;
}

/**
 * Builds `ApiServices.health` from component probes. A probe that throws counts as disconnected.
 * @example
 * const health = createHealthCheck({ mode: 'embedded', components: { broker: () => log.healthy() } });
 */
export function createHealthCheck(options: HealthCheckOptions): () => Promise<Health> {
  const now = options.now ?? Date.now;
  const startedAt = options.startedAt ?? now();
  const entries = Object.entries(options.components);
  return async () => {
    const components = await Promise.all(
      entries.map(async ([name, probe]): Promise<ComponentHealth> => {
        try {
          const h = await probe();
          return { name, connected: h.connected, detail: h.detail == null ? null : publicDetail(h.detail) };
        } catch (e) {
          return { name, connected: false, detail: publicDetail(e instanceof Error ? e.message : String(e)) };
        }
      }),
    );
    return {
      status: components.every((c) => c.connected) ? 'ok' : 'degraded',
      mode: options.mode,
      uptimeSeconds: (now() - startedAt) / 1000,
      components,
    };
  };
}
