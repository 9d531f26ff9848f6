/**
 * What a PartitionHost writes to the checkpoint store besides actor snapshots: the partition
 * state (watermark) and the actor ids under which snapshots and finals are stored.
 */
import { ErrorCode, type EventTypeRegistry, KeyflowError } from '../../model/index.ts';
import type { WatermarkState } from '../windows/watermark.ts';

const ID_SEP = '\u001f';

/** The partition-level state inside `CheckpointWrite.partitionState` / `PartitionCheckpoint.partitionState`. */
export interface PartitionStateView {
  /** Watermark at the checkpoint, epoch ms; null before the first event. */
  watermark: number | null;
  maxEventTime: number | null;
  /** What the host's `extraState` saved with it (the enrichment's per-key statistics); undefined when nothing. */
  extra?: unknown;
}

export function encodePartitionState(wm: Pick<WatermarkState, 'watermark' | 'maxEventTime'>, extra?: unknown): string {
  return JSON.stringify(extra === undefined ? { v: 1, watermark: wm.watermark, maxEventTime: wm.maxEventTime } : { v: 1, watermark: wm.watermark, maxEventTime: wm.maxEventTime, extra });
}

/** Reads a checkpoint's partition state (e.g. to answer queries from the latest checkpoint during a rebalance). */
export function readPartitionState(partitionState: string, where = 'partition'): PartitionStateView {
  let ps: { watermark?: unknown; maxEventTime?: unknown; extra?: unknown };
  try {
    ps = JSON.parse(partitionState) as typeof ps;
  } catch (cause) {
    throw new KeyflowError(ErrorCode.CORRUPT_RECORD, `partition state of ${where} is not JSON; the partition cannot be restored`, { cause });
  }
  return {
    watermark: typeof ps?.watermark === 'number' ? ps.watermark : null,
    maxEventTime: typeof ps?.maxEventTime === 'number' ? ps.maxEventTime : null,
    ...(ps?.extra !== undefined ? { extra: ps.extra } : {}),
  };
}

/**
 * The actor id under which a PartitionHost stores a key's snapshot and finals
 * (`CheckpointStore.loadActor` / `loadFinals`): the key itself for the topic's own event type,
 * `eventType + '\u001f' + key` for any other type found on the topic.
 */
export function actorIdFor(registry: Pick<EventTypeRegistry, 'byTopic'>, topic: string, eventType: string, key: string): string {
  return registry.byTopic(topic)?.eventType === eventType ? key : joinActorId(eventType, key);
}

export function joinActorId(eventType: string, key: string): string {
  return `${eventType}${ID_SEP}${key}`;
}

/** Splits an actor id; `eventType` is `primaryType` for a bare key. */
export function splitActorId(id: string, primaryType: string | undefined): { eventType: string | undefined; key: string } {
  const i = id.indexOf(ID_SEP);
  return i < 0 ? { eventType: primaryType, key: id } : { eventType: id.slice(0, i), key: id.slice(i + 1) };
}
