/**
 * The event log a configuration asks for: Kafka when KAFKA_BROKERS is set, else the embedded file
 * log in KEYFLOW_DATA_DIR; topic names carry KEYFLOW_TOPIC_PREFIX. Shared by `buildApp` and the
 * replay command.
 */

import type { Clock, Logger } from '../core/index.ts';
import type { EventLog } from '../log/index.ts';
import { createFileLog, createKafkaLog, withTopicPrefix } from '../log/index.ts';
import type { Config } from './config.ts';

export function createEventLog(config: Config, deps: { logger: Logger; clock: Clock; nodeId: string }): EventLog {
  const { logger, clock, nodeId } = deps;
  const backend: EventLog = config.mode === 'distributed'
    ? createKafkaLog({
        brokers: config.KAFKA_BROKERS!.split(',').map((b) => b.trim()),
        clientId: `${config.KAFKA_CLIENT_ID}-${nodeId}`,
        ssl: config.KAFKA_SSL,
        sasl: config.KAFKA_SASL_MECHANISM
          ? ({ mechanism: config.KAFKA_SASL_MECHANISM, username: config.KAFKA_SASL_USERNAME!, password: config.KAFKA_SASL_PASSWORD! } as never)
          : undefined,
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
