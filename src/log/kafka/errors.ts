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

export function unavailable(what: string, cause: unknown): KeyflowError {
  return new KeyflowError(ErrorCode.BROKER_UNAVAILABLE, `${what}: Kafka is not reachable or did not answer (${toError(cause).message}); retry later`, {
    retriable: true,
    cause,
  });
}

/** Runs a broker operation; anything but a KeyflowError becomes BROKER_UNAVAILABLE (retriable). */
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
