/** How the Kafka adapter reads kafkajs errors and turns them into keyflow's. */
import { ErrorCode, KeyflowError, toError } from '../../model/index.ts';

/** Whether kafkajs failed because the topic (or partition) does not exist. */
export function isUnknownTopic(e: unknown): boolean {
  const err = e as { type?: string; name?: string } | undefined;
  return err?.type === 'UNKNOWN_TOPIC_OR_PARTITION' || err?.name === 'KafkaJSTopicMetadataNotLoaded';
}

export function unknownTopic(topic: string, cause?: unknown): KeyflowError {
  return new KeyflowError(ErrorCode.UNKNOWN_TOPIC, `topic ${topic} does not exist; create it with ensureTopics first`, cause === undefined ? {} : { cause });
}

/** Node's and OpenSSL's codes of a TLS handshake that failed on a certificate (ours or the broker's). */
const TLS_CERT_CODE = /^(ERR_SSL_|ERR_TLS_CERT|UNABLE_TO_|SELF_SIGNED_CERT|DEPTH_ZERO_SELF_SIGNED|CERT_|ERR_OSSL_)/;

/**
 * Why the broker refused keyflow's identity, when it did: SASL authentication failed (wrong user,
 * password, mechanism or token), or TLS failed on a certificate (an untrusted or mismatched broker
 * certificate, or a client certificate the broker rejected). Such a failure is not retriable.
 */
export function authFailure(e: unknown): { reason: 'SASL_AUTHENTICATION_FAILED' | 'TLS_CERTIFICATE_REJECTED'; message: string } | undefined {
  for (let cur = e as { name?: string; code?: unknown; message?: string; cause?: unknown; originalError?: unknown } | undefined, depth = 0; cur && depth < 6; depth++) {
    if (cur.name === 'KafkaJSSASLAuthenticationError') return { reason: 'SASL_AUTHENTICATION_FAILED', message: cur.message ?? '' };
    // refused before it reached the broker (an expired OAUTHBEARER token, security.ts)
    const k: unknown = cur;
    if (k instanceof KeyflowError && k.code === ErrorCode.BROKER_AUTH_FAILED) {
      return { reason: k.details?.reason === 'TLS_CERTIFICATE_REJECTED' ? 'TLS_CERTIFICATE_REJECTED' : 'SASL_AUTHENTICATION_FAILED', message: k.message };
    }
    if (typeof cur.code === 'string' && TLS_CERT_CODE.test(cur.code)) return { reason: 'TLS_CERTIFICATE_REJECTED', message: `${cur.code}: ${cur.message ?? ''}` };
    if (typeof cur !== 'object') break;
    cur = (cur.originalError ?? cur.cause) as typeof cur;
  }
  return undefined;
}

/**
 * A broker operation failed: BROKER_AUTH_FAILED (not retriable) when the broker refused the
 * credentials or the TLS handshake, else BROKER_UNAVAILABLE (retriable).
 */
export function unavailable(what: string, cause: unknown): KeyflowError {
  const auth = authFailure(cause);
  if (auth) {
    const hint = auth.reason === 'SASL_AUTHENTICATION_FAILED'
      ? 'check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and the password or token'
      : 'check KAFKA_TLS_CA_FILE (the CA of the brokers) and KAFKA_TLS_CERT_FILE / KAFKA_TLS_KEY_FILE';
    return new KeyflowError(ErrorCode.BROKER_AUTH_FAILED, `${what}: Kafka refused the connection (${auth.reason}: ${auth.message}); ${hint}`, {
      cause,
      details: { reason: auth.reason },
    });
  }
  return new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `${what}: Kafka is not reachable or did not answer (${toError(cause).message}); retry later`, {
    retriable: true,
    cause,
  });
}

/** Runs a broker operation; anything but a KeyflowError becomes BROKER_UNAVAILABLE (retriable) or BROKER_AUTH_FAILED. */
export async function guarded<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (e) {
    if (e instanceof KeyflowError) throw e;
    throw unavailable(what, e);
  }
}

const REBALANCE_ERRORS = new Set(['REBALANCE_IN_PROGRESS', 'ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'NOT_COORDINATOR', 'NOT_COORDINATOR_FOR_GROUP']);

/** Whether kafkajs failed because the group is rebalancing (possibly wrapped in a retries-exceeded error). */
export function isRebalanceError(e: unknown): boolean {
  for (let cur = e as { type?: string; cause?: unknown; originalError?: unknown } | undefined, depth = 0; cur && depth < 5; depth++) {
    if (cur.type !== undefined && REBALANCE_ERRORS.has(cur.type)) return true;
    cur = (cur.originalError ?? cur.cause) as typeof cur;
  }
  return false;
}
