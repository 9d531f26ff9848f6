/**
 * The type catalog: keeps the node's {@link EventTypeRegistry} in step with the durable store.
 * At start it loads the stored registrations over the built-in defaults, then applies the
 * definitions file (each a registration like `registerEventType`); afterwards it polls the store,
 * so a type registered on any node reaches every node's gateway and processor without a restart.
 * A type's topic is created before its registration is stored, so no node ever learns of a type
 * whose topic does not exist.
 */
import type { Clock, Logger, Timer } from '../core/index.ts';
import type { EventLog } from '../log/index.ts';
import {
  checkCompatible,
  definitionOf,
  ErrorCode,
  type EventTypeDefinition,
  type EventTypeRegistry,
  type EventTypeSpec,
  isKeyflowError,
  KeyflowError,
  specFromDefinition,
} from '../model/index.ts';
import { compilePayloadSchema } from './json-schema.ts';
import type { EventTypeStore, StoredEventType } from './store.ts';

export interface TypeCatalogOptions {
  registry: EventTypeRegistry;
  store: EventTypeStore;
  log: Pick<EventLog, 'ensureTopics'>;
  clock: Clock;
  logger: Logger;
  /** Types of `KEYFLOW_EVENT_TYPES_FILE`, registered at start. */
  declared?: readonly EventTypeSpec[];
  /** How often the store is read for other nodes' registrations, ms. @default 1000 */
  pollMs?: number;
}

export interface RegisterResult {
  spec: EventTypeSpec;
  /** False when the same definition was registered already (nothing stored). */
  changed: boolean;
}

export interface TypeCatalog {
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Registers a type or a new version of one. Throws SCHEMA_VALIDATION_FAILED (bad definition or
   * schema; `details.issues`), EVENT_TYPE_INCOMPATIBLE (a change the rules refuse).
   */
  register(definition: unknown): Promise<RegisterResult>;
  /** Reads the store now and applies what changed (the poll does this every `pollMs`). */
  refresh(): Promise<void>;
}

/** The spec with its payload checker compiled (once per registered version). */
export function compileSpec(spec: EventTypeSpec, version: number | undefined): EventTypeSpec {
  const checkPayload = spec.schema ? compilePayloadSchema(spec.schema, spec.eventType) : undefined;
  return { ...spec, ...(version !== undefined ? { version } : {}), ...(checkPayload ? { checkPayload } : {}) };
}

/** This node's claim of a version lost to another node's (registerNow is tried again against the winner). */
class LostClaim extends Error {}

/** Attempts of one registration against concurrent ones before it gives up. */
const MAX_CLAIMS = 5;

const sameContent = (a: EventTypeSpec, b: EventTypeSpec) => JSON.stringify(definitionOf(a)) === JSON.stringify(definitionOf(b));

export function createTypeCatalog(options: TypeCatalogOptions): TypeCatalog {
  const { registry, store, log, clock, logger } = options;
  const pollMs = options.pollMs ?? 1000;
  /** Version applied per type (0: a built-in default). */
  const applied = new Map<string, number>();
  let timer: Timer | undefined;
  let refreshing: Promise<void> | null = null;
  /** Serialises registrations of this node. */
  let chain: Promise<unknown> = Promise.resolve();

  function apply(entry: StoredEventType): void {
    const name = entry.definition.name;
    if ((applied.get(name) ?? -1) >= entry.version) return;
    try {
      const spec = compileSpec(specFromDefinition(entry.definition), entry.version);
      const prev = registry.resolve(name);
      if (prev && sameContent(prev, spec)) {
        applied.set(name, entry.version);
        return;
      }
      registry.register(spec);
      applied.set(name, entry.version);
      logger.info({ event: 'event_type.applied', eventType: name, version: entry.version, topic: spec.topic }, `event type '${name}' v${entry.version} in use`);
    } catch (err) {
      // a registration this node cannot take (two nodes raced with incompatible changes): the first one stays
      applied.set(name, entry.version);
      logger.error({ event: 'event_type.refused', eventType: name, version: entry.version, err }, `stored registration of '${name}' v${entry.version} refused; the type keeps its earlier definition`);
    }
  }

  async function refresh(): Promise<void> {
    if (refreshing) return refreshing;
    refreshing = (async () => {
      const entries = await store.load();
      for (const e of entries) apply(e);
    })().finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  async function registerNow(input: unknown): Promise<RegisterResult> {
    // the store first: another node may have registered a newer version meanwhile
    await refresh();
    const spec = specFromDefinition(input);
    const compiled = compileSpec(spec, undefined); // refuses a bad schema before anything is stored
    const prev = registry.resolve(spec.eventType);
    if (prev && sameContent(prev, spec)) return { spec: prev, changed: false };
    if (prev) checkCompatible(prev, spec);
    else {
      const owner = registry.byTopic(spec.topic);
      if (owner) checkCompatible(owner, spec); // throws: the topic is taken
    }
    const version = (applied.get(spec.eventType) ?? prev?.version ?? 0) + 1;
    await log.ensureTopics([{ name: spec.topic, partitions: spec.partitions }]);
    const entry: StoredEventType = { definition: definitionOf(spec) as EventTypeDefinition, version, registeredAt: new Date(clock.now()).toISOString() };
    await store.put(entry);
    // claim-and-read-back: another node may have claimed this version at the same instant; the first claim won everywhere
    const stored = (await store.load()).find((e) => e.definition.name === spec.eventType);
    if (!stored || stored.version !== version || JSON.stringify(stored.definition) !== JSON.stringify(entry.definition)) {
      await refresh();
      throw new LostClaim();
    }
    const withVersion: EventTypeSpec = { ...compiled, version };
    registry.register(withVersion);
    applied.set(spec.eventType, version);
    logger.info({ event: 'event_type.registered', eventType: spec.eventType, version, topic: spec.topic }, `event type '${spec.eventType}' v${version} registered`);
    return { spec: withVersion, changed: true };
  }

  /** registerNow again while other nodes' claims win: the change is then checked against the winner. */
  async function registerWithRetry(input: unknown): Promise<RegisterResult> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await registerNow(input);
      } catch (e) {
        if (!(e instanceof LostClaim)) throw e;
        if (attempt >= MAX_CLAIMS) {
          throw new KeyflowError(ErrorCode.EVENT_TYPE_INCOMPATIBLE, `event type registration lost ${MAX_CLAIMS} times in a row to concurrent registrations of the same type; try again`, {
            retriable: true,
            details: { field: 'version', reason: 'concurrent registrations' },
          });
        }
        logger.info({ event: 'event_type.claim_lost', attempt }, 'another node registered the same event type at the same instant; checking the change against its version');
      }
    }
  }

  return {
    async start() {
      for (const t of registry.all()) applied.set(t.eventType, t.version ?? 0);
      await refresh();
      for (const spec of options.declared ?? []) {
        try {
          await registerWithRetry(definitionOf(spec));
        } catch (e) {
          if (isKeyflowError(e)) throw new KeyflowError(e.code, `KEYFLOW_EVENT_TYPES_FILE: ${e.message}`, { cause: e, details: e.details });
          throw e;
        }
      }
      // every known type's topic exists before the processor subscribes to it
      await log.ensureTopics(registry.all().map((t) => ({ name: t.topic, partitions: t.partitions })));
      timer = clock.every(pollMs, () => {
        refresh().catch((err: unknown) => logger.warn({ event: 'event_type.poll_failed', err }, 'reading the event-type store failed; retrying'));
      });
    },
    async close() {
      timer?.cancel();
      timer = undefined;
      await refreshing?.catch(() => undefined);
    },
    register(definition) {
      const run = chain.then(() => registerWithRetry(definition));
      chain = run.catch(() => undefined);
      return run;
    },
    refresh,
  };
}
