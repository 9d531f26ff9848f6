/**
 * The checkpoint-store port. A partition's checkpoint is its next offset, its partition state
 * (watermark etc., opaque JSON) and its actors' snapshots (opaque JSON, one per key), written
 * atomically and fenced by the partition's epoch. The store is also the results store: final
 * window results are written once, in the same fenced commit as the checkpoint that made them
 * final, and read back per actor. Implemented by the file store (embedded) and Redis; both pass
 * `test/contract/checkpoint-store.contract.ts`.
 */

/** One final window result of an actor, opaque to the store. */
export interface FinalWrite {
  /** Actor id (the `dirty` map key). */
  actor: string;
  /** Window id within the actor; a later write of the same id replaces the row. */
  id: string;
  /** Window end, epoch ms: the row may be dropped once it is older than `retainFinalsFrom`. */
  windowEnd: number;
  data: string;
}

export interface PartitionCheckpoint {
  /** Offset of the first record not yet reflected in the states. */
  nextOffset: number;
  /** Partition-level state (watermark, idle clock, …), opaque to the store. */
  partitionState: string;
  /** Epoch under which it was written. */
  epoch: number;
}

export interface CheckpointWrite {
  nextOffset: number;
  partitionState: string;
  /** Actor snapshots changed since the last commit, by key. */
  dirty: ReadonlyMap<string, string>;
  /** Keys whose state is gone (nothing left to keep). */
  deleted?: readonly string[];
  /** Final results made final since the last commit: written once, with this checkpoint or not at all. */
  finals?: readonly FinalWrite[];
  /** Finals with `windowEnd` below this (epoch ms) are past their retention and may be dropped. */
  retainFinalsFrom?: number;
}

export interface CheckpointStore {
  readonly kind: 'file' | 'redis' | 'memory';
  start(): Promise<void>;
  close(): Promise<void>;
  /**
   * Takes ownership of a partition: returns a new epoch greater than every earlier one.
   * Commits under any earlier epoch fail from now on with FencedError.
   */
  acquire(topic: string, partition: number): Promise<number>;
  /** The partition's last committed checkpoint, without actor states; null when none. */
  load(topic: string, partition: number): Promise<PartitionCheckpoint | null>;
  /** One actor's snapshot (for restore on demand after passivation); null when none. */
  loadActor(topic: string, partition: number, key: string): Promise<string | null>;
  /** The stored finals (`FinalWrite.data`) of one actor, in no particular order; may include rows past retention. */
  loadFinals(topic: string, partition: number, actor: string): Promise<string[]>;
  /** Every actor snapshot of a partition. */
  loadActors(topic: string, partition: number): Promise<Map<string, string>>;
  /**
   * Writes states + offset + partition state atomically under `epoch`. Rejects with FencedError
   * when `epoch` is not the partition's current epoch; then nothing is written.
   */
  commit(topic: string, partition: number, epoch: number, write: CheckpointWrite): Promise<void>;
  healthy(): Promise<{ connected: boolean; detail?: string }>;
}
