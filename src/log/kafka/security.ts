/**
 * Kafka security settings → kafkajs `ssl` and `sasl` options: TLS with a custom CA and a client
 * certificate (mTLS), SASL PLAIN / SCRAM-SHA-256 / SCRAM-SHA-512 with the password inline or in a
 * file, and OAUTHBEARER with the token read from a file at every authentication (so a sidecar that
 * rewrites the file rotates it without a restart).
 */
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import type { KafkaConfig, OauthbearerProviderResponse, SASLOptions } from 'kafkajs';
import { ErrorCode, KeyflowError } from '../../model/index.ts';

export type KafkaSaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512' | 'oauthbearer';

export interface KafkaSecuritySettings {
  /** TLS to the brokers with the system CAs; implied by any of the TLS files. */
  tls?: boolean;
  /** PEM file of the CA(s) the brokers' certificates must chain to (replaces the system CAs). */
  tlsCaFile?: string;
  /** PEM file of the client certificate (chain) for mTLS; needs `tlsKeyFile`. */
  tlsCertFile?: string;
  /** PEM file of the client certificate's private key. */
  tlsKeyFile?: string;
  /** File holding the passphrase of an encrypted `tlsKeyFile` (a trailing newline is dropped). */
  tlsKeyPasswordFile?: string;
  saslMechanism?: KafkaSaslMechanism;
  saslUsername?: string;
  saslPassword?: string;
  /** File holding the SASL password (a trailing newline is dropped); instead of `saslPassword`. */
  saslPasswordFile?: string;
  /** OAUTHBEARER: file holding the bearer token (a JWT), read at every authentication. */
  oauthBearerTokenFile?: string;
}

export interface KafkaSecurity {
  ssl: KafkaConfig['ssl'];
  sasl: SASLOptions | undefined;
}

function readSetting(setting: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (cause) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `${setting}: cannot read ${file} (${(cause as Error).message})`, { cause, details: { setting } });
  }
}

function readPem(setting: string, file: string): string {
  const text = readSetting(setting, file);
  if (!text.includes('-----BEGIN ')) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, `${setting}: ${file} is not a PEM file (no -----BEGIN line)`, { details: { setting } });
  }
  return text;
}

/** Reads the bearer token file; an empty or unreadable file fails the authentication with a clear message. */
export function readBearerToken(file: string): string {
  const token = readSetting('KAFKA_SASL_OAUTHBEARER_TOKEN_FILE', file).trim();
  if (token === '') throw new KeyflowError(ErrorCode.INVALID_CONFIG, `KAFKA_SASL_OAUTHBEARER_TOKEN_FILE: ${file} is empty`);
  return token;
}

/** The `exp` of a JWT (seconds), or undefined when the token is not a JWT with a numeric `exp`. */
function jwtExpiry(token: string): number | undefined {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    const exp = (JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The token for one authentication. An expired JWT is refused here with BROKER_AUTH_FAILED: a
 * broker that rejects an OAUTHBEARER token answers with an error challenge and closes the
 * connection, which kafkajs reports only as a closed connection (retried as if the broker were down).
 */
export function bearerTokenForAuth(file: string, now: number = Date.now()): string {
  const token = readBearerToken(file);
  const exp = jwtExpiry(token);
  if (exp !== undefined && exp * 1000 <= now) {
    throw new KeyflowError(
      ErrorCode.BROKER_AUTH_FAILED,
      `the OAUTHBEARER token in KAFKA_SASL_OAUTHBEARER_TOKEN_FILE (${file}) expired at ${new Date(exp * 1000).toISOString()}; write a fresh one`,
      { details: { reason: 'SASL_AUTHENTICATION_FAILED' } },
    );
  }
  return token;
}

/**
 * Builds the kafkajs `ssl` and `sasl` options. Files are read here (the token file at every
 * authentication); a missing or malformed one throws INVALID_CONFIG naming the setting.
 */
export function kafkaSecurity(s: KafkaSecuritySettings): KafkaSecurity {
  let ssl: KafkaConfig['ssl'] = s.tls === true;
  if (s.tlsCaFile || s.tlsCertFile || s.tlsKeyFile) {
    if (Boolean(s.tlsCertFile) !== Boolean(s.tlsKeyFile)) {
      throw new KeyflowError(ErrorCode.INVALID_CONFIG, 'KAFKA_TLS_CERT_FILE and KAFKA_TLS_KEY_FILE go together (a client certificate needs its key)');
    }
    const tls: ConnectionOptions = {};
    if (s.tlsCaFile) tls.ca = readPem('KAFKA_TLS_CA_FILE', s.tlsCaFile);
    if (s.tlsCertFile) tls.cert = readPem('KAFKA_TLS_CERT_FILE', s.tlsCertFile);
    if (s.tlsKeyFile) tls.key = readPem('KAFKA_TLS_KEY_FILE', s.tlsKeyFile);
    if (s.tlsKeyPasswordFile) tls.passphrase = readSetting('KAFKA_TLS_KEY_PASSWORD_FILE', s.tlsKeyPasswordFile).replace(/\r?\n$/, '');
    ssl = tls;
  }

  let sasl: SASLOptions | undefined;
  const mechanism = s.saslMechanism;
  if (mechanism === 'oauthbearer') {
    const file = s.oauthBearerTokenFile;
    if (!file) throw new KeyflowError(ErrorCode.INVALID_CONFIG, 'KAFKA_SASL_MECHANISM=oauthbearer needs KAFKA_SASL_OAUTHBEARER_TOKEN_FILE');
    readBearerToken(file); // fail at start-up, not at the first connection
    sasl = { mechanism, oauthBearerProvider: async (): Promise<OauthbearerProviderResponse> => ({ value: bearerTokenForAuth(file) }) };
  } else if (mechanism) {
    if (!s.saslUsername) throw new KeyflowError(ErrorCode.INVALID_CONFIG, `KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_USERNAME`);
    if (s.saslPassword !== undefined && s.saslPasswordFile !== undefined) {
      throw new KeyflowError(ErrorCode.INVALID_CONFIG, 'set KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE, not both');
    }
    const password = s.saslPasswordFile !== undefined ? readSetting('KAFKA_SASL_PASSWORD_FILE', s.saslPasswordFile).replace(/\r?\n$/, '') : s.saslPassword;
    if (!password) throw new KeyflowError(ErrorCode.INVALID_CONFIG, `KAFKA_SASL_MECHANISM=${mechanism} needs KAFKA_SASL_PASSWORD or KAFKA_SASL_PASSWORD_FILE`);
    sasl = { mechanism, username: s.saslUsername, password } as SASLOptions;
  }
  return { ssl, sasl };
}
