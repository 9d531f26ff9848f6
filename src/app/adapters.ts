/**
 * The event log a configuration asks for: Kafka when KAFKA_BROKERS is set, else the embedded file
 * log in KEYFLOW_DATA_DIR; topic names carry KEYFLOW_TOPIC_PREFIX. Shared by `buildApp` and the
 * replay command.
 */

import { parseWindowSpecs } from '../actors/index.ts';
import type { Clock, Logger } from '../core/index.ts';
import type { EventLog } from '../log/index.ts';
import { createFileLog, createKafkaLog, kafkaSecurity, withTopicPrefix } from '../log/index.ts';
import { ErrorCode, type EventTypeRegistry, type EventTypeSpec, KeyflowError, specFromDefinition } from '../model/index.ts';
import {
  createFileEventTypeStore,
  createLogEventTypeStore,
  createTypeCatalog,
  readDefinitionsFile,
  type TypeCatalog,
} from '../types/index.ts';
import type { Config } from './config.ts';

export function createEventLog(config: Config, deps: { logger: Logger; clock: Clock; nodeId: string }): EventLog {
  const { logger, clock, nodeId } = deps;
  const backend: EventLog = config.mode === 'distributed'
    ? createKafkaLog({
        brokers: config.KAFKA_BROKERS!.split(',').map((b) => b.trim()),
        clientId: `${config.KAFKA_CLIENT_ID}-${nodeId}`,
        ...kafkaSecurity({
          tls: config.KAFKA_SSL,
          tlsCaFile: config.KAFKA_TLS_CA_FILE,
          tlsCertFile: config.KAFKA_TLS_CERT_FILE,
          tlsKeyFile: config.KAFKA_TLS_KEY_FILE,
          tlsKeyPasswordFile: config.KAFKA_TLS_KEY_PASSWORD_FILE,
          saslMechanism: config.KAFKA_SASL_MECHANISM,
          saslUsername: config.KAFKA_SASL_USERNAME,
          saslPassword: config.KAFKA_SASL_PASSWORD,
          saslPasswordFile: config.KAFKA_SASL_PASSWORD_FILE,
          oauthBearerTokenFile: config.KAFKA_SASL_OAUTHBEARER_TOKEN_FILE,
        }),
        replicationFactor: config.KAFKA_REPLICATION_FACTOR,
        sessionTimeoutMs: config.KAFKA_SESSION_TIMEOUT_MS,
        // a third of the session timeout, as Kafka's own clients do
        heartbeatIntervalMs: Math.min(3000, Math.floor(config.KAFKA_SESSION_TIMEOUT_MS / 3)),
        logger: logger.child({ component: 'kafka' }),
      })
    : createFileLog({
        dataDir: config.KEYFLOW_DATA_DIR,
        retentionBytes: config.KEYFLOW_LOG_RETENTION_BYTES || undefined,
        retentionMs: config.KEYFLOW_LOG_RETENTION_MS || undefined,
        fsync: config.KEYFLOW_LOG_FSYNC,
        clock,
        logger: logger.child({ component: 'log' }),
      });
  return withTopicPrefix(backend, config.KEYFLOW_TOPIC_PREFIX);
}

/**
 * The event-type catalog a configuration asks for: registrations in a compacted Kafka topic in
 * distributed mode, in `<data dir>/event-types.json` embedded; the types of
 * KEYFLOW_EVENT_TYPES_FILE registered at start. Window specs of a type are checked here (the
 * catalog sits below the window engine).
 */
export function createCatalog(config: Config, deps: { log: EventLog; registry: EventTypeRegistry; clock: Clock; logger: Logger }): TypeCatalog {
  const { log, registry, clock, logger } = deps;
  const declared = config.KEYFLOW_EVENT_TYPES_FILE ? readDefinitionsFile(config.KEYFLOW_EVENT_TYPES_FILE) : [];
  for (const spec of declared) checkTypeWindows(spec, `KEYFLOW_EVENT_TYPES_FILE: event type '${spec.eventType}'`);
  const catalog = createTypeCatalog({
    registry,
    store: config.mode === 'distributed' ? createLogEventTypeStore({ log }) : createFileEventTypeStore({ dataDir: config.KEYFLOW_DATA_DIR }),
    log,
    clock,
    logger: logger.child({ component: 'event-types' }),
    declared,
    pollMs: config.KEYFLOW_EVENT_TYPES_POLL_MS,
  });
  return {
    ...catalog,
    register(definition) {
      checkTypeWindows(specFromDefinition(definition), 'event type');
      return catalog.register(definition);
    },
  };
}

/** Throws UNKNOWN_WINDOW naming the type when one of its window specs does not parse. */
function checkTypeWindows(spec: EventTypeSpec, where: string): void {
  if (!spec.windows) return;
  try {
    parseWindowSpecs(spec.windows);
  } catch (cause) {
    throw new KeyflowError(ErrorCode.UNKNOWN_WINDOW, `${where}: ${cause instanceof Error ? cause.message : String(cause)}`, {
      cause,
      details: { issues: [{ path: 'windows', message: cause instanceof Error ? cause.message : String(cause) }] },
    });
  }
}
