/**
 * Kafka security end to end: keyflow's configuration (loadConfig → createEventLog) against a
 * second, secured broker (test/helpers/secure-kafka.ts) — SCRAM-SHA-256 and SCRAM-SHA-512 over
 * TLS with a custom CA, OAUTHBEARER over TLS, and mTLS — producing and consuming through the Kafka
 * log adapter (append, read, a consumer group). A wrong password, an untrusted broker certificate
 * and a missing client certificate fail fast with BROKER_AUTH_FAILED, not a hang.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEventLog } from '../../src/app/adapters.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger, systemClock } from '../../src/core/index.ts';
import type { EventLog, LogRecord } from '../../src/log/port.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';
import { type SecureKafka, startSecureKafka } from '../helpers/secure-kafka.ts';
import { tempDir, uniqueName, waitFor } from '../helpers/wait.ts';

/** An unsigned JWT (alg none), as the broker's unsecured OAUTHBEARER validator accepts. */
function unsecuredJwt(sub: string, expiresInS = 3600): string {
  const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  return `${b64({ alg: 'none' })}.${b64({ sub, iat: now - 7200, exp: now + expiresInS })}.`;
}

describe('Kafka security: SASL/SCRAM, OAUTHBEARER, TLS with a custom CA, mTLS', () => {
  let kafka: SecureKafka;
  let secrets: { dir: string; remove(): Promise<void> };
  const logs: EventLog[] = [];

  beforeAll(async () => {
    kafka = await startSecureKafka();
    secrets = await tempDir('keyflow-kafka-secrets-');
  }, 120_000);
  afterAll(async () => {
    await Promise.allSettled(logs.map((l) => l.close()));
    await kafka?.stop();
    await secrets?.remove();
  }, 90_000);

  function logFor(env: Record<string, string>): EventLog {
    const config = loadConfig({ REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://127.0.0.1:4222', ...env });
    const log = createEventLog(config, { logger: silentLogger(), clock: systemClock, nodeId: uniqueName('n') });
    logs.push(log);
    return log;
  }

  const ca = () => join(kafka.tlsDir, 'ca.pem');

  /** Creates a topic, appends, reads back and consumes it in a group: the whole adapter path. */
  async function roundTrip(log: EventLog): Promise<void> {
    await log.start();
    const topic = uniqueName('sec');
    await log.ensureTopics([{ name: topic, partitions: 2 }]);
    const values = Array.from({ length: 20 }, (_, i) => `v${i}`);
    const results = await log.append(
      topic,
      values.map((value, i) => ({ key: `k${i}`, value })),
    );
    expect(results).toHaveLength(20);
    const ends = await log.endOffsets(topic);
    expect(ends[0]! + ends[1]!).toBe(20);
    const read = [...(await log.read(topic, 0, 0, 100)), ...(await log.read(topic, 1, 0, 100))];
    expect(read.map((r) => new TextDecoder().decode(r.value)).sort()).toEqual([...values].sort());

    const consumed: LogRecord[] = [];
    const consumer = log.consumer({
      groupId: uniqueName('g'),
      topics: [topic],
      handlers: {
        onAssigned: async () => undefined,
        onRevoked: async () => {},
        onBatch: async (batch) => {
          consumed.push(...batch.records);
        },
      },
    });
    try {
      await consumer.start();
      await waitFor(() => consumed.length >= 20, { timeoutMs: 30_000, message: 'the group consumed every record' });
      expect(consumed.map((r) => new TextDecoder().decode(r.value)).sort()).toEqual([...values].sort());
    } finally {
      await consumer.stop();
    }
  }

  it('SCRAM-SHA-256 over TLS with a custom CA, password inline', async () => {
    await roundTrip(
      logFor({
        KAFKA_BROKERS: kafka.saslBrokers,
        KAFKA_SASL_MECHANISM: 'scram-sha-256',
        KAFKA_SASL_USERNAME: kafka.scramUser,
        KAFKA_SASL_PASSWORD: kafka.scramPassword,
        KAFKA_TLS_CA_FILE: ca(),
      }),
    );
  });

  it('SCRAM-SHA-512 over TLS, password from a file', async () => {
    const file = join(secrets.dir, 'kafka-password');
    writeFileSync(file, `${kafka.scramPassword}\n`, { mode: 0o600 });
    await roundTrip(
      logFor({
        KAFKA_BROKERS: kafka.saslBrokers,
        KAFKA_SASL_MECHANISM: 'scram-sha-512',
        KAFKA_SASL_USERNAME: kafka.scramUser,
        KAFKA_SASL_PASSWORD_FILE: file,
        KAFKA_TLS_CA_FILE: ca(),
      }),
    );
  });

  it('OAUTHBEARER over TLS, token from a file', async () => {
    const file = join(secrets.dir, 'kafka-token');
    writeFileSync(file, `${unsecuredJwt('keyflow-oauth')}\n`, { mode: 0o600 });
    await roundTrip(
      logFor({
        KAFKA_BROKERS: kafka.saslBrokers,
        KAFKA_SASL_MECHANISM: 'oauthbearer',
        KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file,
        KAFKA_TLS_CA_FILE: ca(),
      }),
    );
  });

  it('mTLS: a client certificate signed by the CA', async () => {
    await roundTrip(
      logFor({
        KAFKA_BROKERS: kafka.mtlsBrokers,
        KAFKA_TLS_CA_FILE: ca(),
        KAFKA_TLS_CERT_FILE: join(kafka.tlsDir, 'client.pem'),
        KAFKA_TLS_KEY_FILE: join(kafka.tlsDir, 'client.key'),
      }),
    );
  });

  it('mTLS with an encrypted client key and its passphrase file', async () => {
    const encrypted = createPrivateKey(readFileSync(join(kafka.tlsDir, 'client.key'))).export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'client-key-pass' });
    const keyFile = join(secrets.dir, 'client-enc.key');
    const passFile = join(secrets.dir, 'client-key-pass');
    writeFileSync(keyFile, encrypted, { mode: 0o600 });
    writeFileSync(passFile, 'client-key-pass\n', { mode: 0o600 });
    await roundTrip(
      logFor({
        KAFKA_BROKERS: kafka.mtlsBrokers,
        KAFKA_TLS_CA_FILE: ca(),
        KAFKA_TLS_CERT_FILE: join(kafka.tlsDir, 'client.pem'),
        KAFKA_TLS_KEY_FILE: keyFile,
        KAFKA_TLS_KEY_PASSWORD_FILE: passFile,
      }),
    );
  });

  async function refused(log: EventLog, reason: string): Promise<void> {
    const t0 = Date.now();
    const e = await log.start().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(KeyflowError);
    expect(e).toMatchObject({ code: ErrorCode.BROKER_AUTH_FAILED, retriable: false, details: { reason } });
    // a clear failure, not a hang: well inside the 30 s a produce may take
    expect(Date.now() - t0).toBeLessThan(20_000);
  }

  it('a wrong SCRAM password fails with BROKER_AUTH_FAILED (SASL_AUTHENTICATION_FAILED)', async () => {
    await refused(
      logFor({
        KAFKA_BROKERS: kafka.saslBrokers,
        KAFKA_SASL_MECHANISM: 'scram-sha-256',
        KAFKA_SASL_USERNAME: kafka.scramUser,
        KAFKA_SASL_PASSWORD: 'not-the-password',
        KAFKA_TLS_CA_FILE: ca(),
      }),
      'SASL_AUTHENTICATION_FAILED',
    );
  });

  it('an untrusted broker certificate (system CAs only) fails with BROKER_AUTH_FAILED (TLS_CERTIFICATE_REJECTED)', async () => {
    await refused(
      logFor({
        KAFKA_BROKERS: kafka.saslBrokers,
        KAFKA_SASL_MECHANISM: 'scram-sha-256',
        KAFKA_SASL_USERNAME: kafka.scramUser,
        KAFKA_SASL_PASSWORD: kafka.scramPassword,
        KAFKA_SSL: 'true',
      }),
      'TLS_CERTIFICATE_REJECTED',
    );
  });

  it('the mTLS listener without a client certificate fails with BROKER_AUTH_FAILED (TLS_CERTIFICATE_REJECTED)', async () => {
    await refused(logFor({ KAFKA_BROKERS: kafka.mtlsBrokers, KAFKA_TLS_CA_FILE: ca() }), 'TLS_CERTIFICATE_REJECTED');
  });

  // the broker's refusal of a token only closes the connection (kafkajs: "Closed connection"), so an
  // expired JWT is refused before it is sent
  it('an expired OAUTHBEARER token fails with BROKER_AUTH_FAILED (SASL_AUTHENTICATION_FAILED)', async () => {
    const file = join(secrets.dir, 'expired-token');
    writeFileSync(file, unsecuredJwt('keyflow-oauth', -600), { mode: 0o600 });
    await refused(
      logFor({ KAFKA_BROKERS: kafka.saslBrokers, KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: file, KAFKA_TLS_CA_FILE: ca() }),
      'SASL_AUTHENTICATION_FAILED',
    );
  });

  it('a group consumer with a wrong password fails to start with BROKER_AUTH_FAILED', async () => {
    const log = logFor({
      KAFKA_BROKERS: kafka.saslBrokers,
      KAFKA_SASL_MECHANISM: 'scram-sha-512',
      KAFKA_SASL_USERNAME: kafka.scramUser,
      KAFKA_SASL_PASSWORD: 'wrong',
      KAFKA_TLS_CA_FILE: ca(),
    });
    const c = log.consumer({ groupId: uniqueName('g'), topics: ['none'], handlers: { onAssigned: async () => undefined, onRevoked: async () => {}, onBatch: async () => {} } });
    await expect(c.start()).rejects.toMatchObject({ code: ErrorCode.BROKER_AUTH_FAILED });
  });
});
