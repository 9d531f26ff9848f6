/**
 * Kafka security settings: the zod config refuses combinations that cannot work and unreadable or
 * non-PEM files with INVALID_CONFIG naming the setting (never echoing a password); kafkaSecurity
 * builds the kafkajs ssl/sasl options (the token file read at every authentication); authFailure
 * tells refused credentials and certificates (BROKER_AUTH_FAILED) from an unreachable broker.
 * Against a real secured broker: test/integration/kafka-security.test.ts.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/app/config.ts';
import { kafkaSecurity } from '../../src/log/index.ts';
import { authFailure, unavailable } from '../../src/log/kafka/errors.ts';
import { bearerTokenForAuth } from '../../src/log/kafka/security.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';

const dir = mkdtempSync(join(tmpdir(), 'keyflow-kafka-sec-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, text: string): string => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};
const PEM_CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n';
const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const PEM_KEY = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
const PEM_KEY_ENCRYPTED = privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'key-pass' }) as string;
const ca = file('ca.pem', PEM_CERT);
const cert = file('client.pem', PEM_CERT);
const key = file('client.key', PEM_KEY);
const notPem = file('not.pem', 'hello');
const password = file('password', 's3cret-from-file\n');
const token = file('token', 'header.payload.\n');
const empty = file('empty', '');
const encryptedKey = file('client-enc.key', PEM_KEY_ENCRYPTED);
const keyPass = file('key-pass', 'key-pass\n');
const wrongPass = file('wrong-pass', 'nope\n');
const garbageKey = file('garbage.key', '-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n');

const DIST = { KAFKA_BROKERS: 'k:9093', REDIS_URL: 'redis://r', NATS_URL: 'nats://n' };

function invalid(env: Record<string, string>): KeyflowError {
  try {
    loadConfig({ ...DIST, ...env });
  } catch (e) {
    expect(e).toBeInstanceOf(KeyflowError);
    expect((e as KeyflowError).code).toBe(ErrorCode.INVALID_CONFIG);
    return e as KeyflowError;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('Kafka security settings', () => {
  it('accepts SCRAM with a password file, OAUTHBEARER with a token file, and mTLS files', () => {
    expect(loadConfig({ ...DIST, KAFKA_SASL_MECHANISM: 'scram-sha-512', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: password }).KAFKA_SASL_PASSWORD_FILE).toBe(password);
    expect(loadConfig({ ...DIST, KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: token }).KAFKA_SASL_MECHANISM).toBe('oauthbearer');
    const c = loadConfig({ ...DIST, KAFKA_TLS_CA_FILE: ca, KAFKA_TLS_CERT_FILE: cert, KAFKA_TLS_KEY_FILE: key });
    expect([c.KAFKA_TLS_CA_FILE, c.KAFKA_TLS_CERT_FILE, c.KAFKA_TLS_KEY_FILE]).toEqual([ca, cert, key]);
    expect(loadConfig({ ...DIST, KAFKA_TLS_CERT_FILE: cert, KAFKA_TLS_KEY_FILE: encryptedKey, KAFKA_TLS_KEY_PASSWORD_FILE: keyPass }).KAFKA_TLS_KEY_PASSWORD_FILE).toBe(keyPass);
  });

  it.each([
    [{ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_PASSWORD: 'p' }, 'KAFKA_SASL_USERNAME'],
    [{ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u' }, 'KAFKA_SASL_PASSWORD_FILE'],
    [{ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD: 'p', KAFKA_SASL_PASSWORD_FILE: password }, 'not both'],
    [{ KAFKA_SASL_MECHANISM: 'scram-sha-1' }, 'KAFKA_SASL_MECHANISM'],
    [{ KAFKA_SASL_MECHANISM: 'oauthbearer' }, 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE'],
    [{ KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: token, KAFKA_SASL_USERNAME: 'u' }, 'not KAFKA_SASL_USERNAME'],
    [{ KAFKA_SASL_MECHANISM: 'oauthbearer', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: empty }, 'the token file is empty'],
    [{ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_PASSWORD_FILE: join(dir, 'missing') }, 'cannot read'],
    [{ KAFKA_SASL_MECHANISM: 'plain', KAFKA_SASL_USERNAME: 'u', KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: token, KAFKA_SASL_PASSWORD: 'p' }, 'KAFKA_SASL_OAUTHBEARER_TOKEN_FILE'],
    [{ KAFKA_SASL_USERNAME: 'u' }, 'KAFKA_SASL_MECHANISM is not'],
    [{ KAFKA_TLS_CERT_FILE: cert }, 'KAFKA_TLS_KEY_FILE'],
    [{ KAFKA_TLS_KEY_FILE: key }, 'KAFKA_TLS_CERT_FILE'],
    [{ KAFKA_TLS_CA_FILE: notPem }, 'not a PEM file'],
    [{ KAFKA_TLS_CERT_FILE: cert, KAFKA_TLS_KEY_FILE: garbageKey }, 'KAFKA_TLS_KEY_FILE: not a usable private key'],
    [{ KAFKA_TLS_CERT_FILE: cert, KAFKA_TLS_KEY_FILE: encryptedKey }, 'the key is encrypted: set KAFKA_TLS_KEY_PASSWORD_FILE'],
    [{ KAFKA_TLS_CERT_FILE: cert, KAFKA_TLS_KEY_FILE: encryptedKey, KAFKA_TLS_KEY_PASSWORD_FILE: wrongPass }, 'cannot decrypt the key'],
    [{ KAFKA_TLS_KEY_PASSWORD_FILE: keyPass }, 'KAFKA_TLS_KEY_FILE, which is not set'],
    [{ KAFKA_TLS_CA_FILE: join(dir, 'nope.pem') }, 'KAFKA_TLS_CA_FILE: cannot read'],
  ])('refuses %j (%s)', (env, expected) => {
    expect(invalid(env as Record<string, string>).message).toContain(expected);
  });

  it('never echoes the password in the error', () => {
    const e = invalid({ KAFKA_SASL_PASSWORD: 'hunter2-very-secret' });
    expect(e.message).toContain('KAFKA_SASL_MECHANISM');
    expect(e.message).not.toContain('hunter2');
    const e2 = invalid({ KAFKA_SASL_MECHANISM: 'scram-sha-256', KAFKA_SASL_PASSWORD: 'hunter2-very-secret', KAFKA_SASL_PASSWORD_FILE: password });
    expect(e2.message).not.toContain('hunter2');
  });
});

describe('kafkaSecurity', () => {
  it('TLS: off, system CAs, or the files read as PEM text', () => {
    expect(kafkaSecurity({})).toEqual({ ssl: false, sasl: undefined });
    expect(kafkaSecurity({ tls: true }).ssl).toBe(true);
    expect(kafkaSecurity({ tlsCaFile: ca, tlsCertFile: cert, tlsKeyFile: key }).ssl).toEqual({ ca: PEM_CERT, cert: PEM_CERT, key: PEM_KEY });
    expect(() => kafkaSecurity({ tlsCertFile: cert })).toThrow(/KAFKA_TLS_KEY_FILE/);
    expect(kafkaSecurity({ tlsCertFile: cert, tlsKeyFile: encryptedKey, tlsKeyPasswordFile: keyPass }).ssl).toMatchObject({ key: PEM_KEY_ENCRYPTED, passphrase: 'key-pass' });
  });

  it('SCRAM with the password from a file (trailing newline dropped)', () => {
    expect(kafkaSecurity({ saslMechanism: 'scram-sha-256', saslUsername: 'u', saslPasswordFile: password }).sasl).toEqual({ mechanism: 'scram-sha-256', username: 'u', password: 's3cret-from-file' });
    expect(() => kafkaSecurity({ saslMechanism: 'scram-sha-256', saslUsername: 'u' })).toThrow(KeyflowError);
  });

  it('OAUTHBEARER reads the token file at every authentication (rotation without restart)', async () => {
    const f = file('rotating-token', 'first.token.\n');
    const { sasl } = kafkaSecurity({ saslMechanism: 'oauthbearer', oauthBearerTokenFile: f });
    const provider = (sasl as { oauthBearerProvider: () => Promise<{ value: string }> }).oauthBearerProvider;
    expect(await provider()).toEqual({ value: 'first.token.' });
    writeFileSync(f, 'second.token.');
    expect(await provider()).toEqual({ value: 'second.token.' });
    expect(() => kafkaSecurity({ saslMechanism: 'oauthbearer', oauthBearerTokenFile: empty })).toThrow(/empty/);
  });
});

describe('OAUTHBEARER token expiry', () => {
  const jwt = (exp: number) => `${Buffer.from('{"alg":"none"}').toString('base64url')}.${Buffer.from(JSON.stringify({ sub: 's', exp })).toString('base64url')}.`;

  it('an expired JWT is refused before it is sent (BROKER_AUTH_FAILED), a valid or opaque token passes', async () => {
    const now = Date.UTC(2026, 0, 1);
    expect(bearerTokenForAuth(file('valid-jwt', jwt(now / 1000 + 60)), now)).toBe(jwt(now / 1000 + 60));
    expect(bearerTokenForAuth(file('opaque', 'opaque-token'), now)).toBe('opaque-token');
    const expired = file('expired-jwt', jwt(now / 1000 - 1));
    expect(() => bearerTokenForAuth(expired, now)).toThrow(/expired at 2025-12-31T23:59:59.000Z/);
    // through kafkajs's provider call and the adapter's error mapping
    const e = (() => {
      try {
        bearerTokenForAuth(expired, now);
      } catch (err) {
        return unavailable('connecting to Kafka', Object.assign(new Error('retries exceeded'), { cause: err }));
      }
      return undefined;
    })();
    expect(e).toMatchObject({ code: ErrorCode.BROKER_AUTH_FAILED, retriable: false, details: { reason: 'SASL_AUTHENTICATION_FAILED' } });
  });
});

describe('authFailure / unavailable', () => {
  it('a SASL authentication error, even wrapped in a retries-exceeded error, is BROKER_AUTH_FAILED', () => {
    const sasl = Object.assign(new Error('SASL SCRAM SHA256 authentication failed'), { name: 'KafkaJSSASLAuthenticationError' });
    const wrapped = Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: sasl });
    expect(authFailure(wrapped)?.reason).toBe('SASL_AUTHENTICATION_FAILED');
    const e = unavailable('connecting to Kafka', wrapped);
    expect(e).toMatchObject({ code: ErrorCode.BROKER_AUTH_FAILED, retriable: false, details: { reason: 'SASL_AUTHENTICATION_FAILED' } });
  });

  it.each(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'ERR_TLS_CERT_ALTNAME_INVALID', 'ERR_SSL_SSL/TLS_ALERT_BAD_CERTIFICATE', 'CERT_HAS_EXPIRED'])('TLS code %s is TLS_CERTIFICATE_REJECTED', (code) => {
    const conn = Object.assign(new Error('Connection error'), { name: 'KafkaJSConnectionError', code });
    expect(unavailable('x', { name: 'KafkaJSNumberOfRetriesExceeded', cause: conn })).toMatchObject({ code: ErrorCode.BROKER_AUTH_FAILED, details: { reason: 'TLS_CERTIFICATE_REJECTED' } });
  });

  it('a refused connection or a timeout stays BROKER_UNAVAILABLE (retriable)', () => {
    const conn = Object.assign(new Error('connect ECONNREFUSED'), { name: 'KafkaJSConnectionError', code: 'ECONNREFUSED' });
    expect(unavailable('x', conn)).toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retriable: true });
    expect(unavailable('x', new Error('no answer within 30000 ms'))).toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retriable: true });
  });
});
