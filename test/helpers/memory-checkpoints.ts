/**
 * An in-memory CheckpointStore for unit tests of the processor. Store instances opened on one
 * {@link MemoryCheckpointBacking} share it, like processes sharing Redis: a second owner or a
 * "restarted" store is another instance on the same backing. Passes the checkpoint-store contract
 * (`test/unit/memory-checkpoints.contract.test.ts`).
 */
import { ErrorCode, FencedError, KeyflowError } from '../../src/model/errors.ts';
import type { CheckpointStore, CheckpointWrite, PartitionCheckpoint } from '../../src/state/port.ts';

interface PartitionRecord {
  epoch: number;
  checkpoint: PartitionCheckpoint | null;
  actors: Map<string, string>;
  /** Final results by actor, then by window id. */
  finals: Map<string, Map<string, { windowEnd: number; data: string }>>;
}

export interface MemoryCheckpointBacking {
  /** Opens a new (not started) store instance on this backing. */
  open(): CheckpointStore;
  /** Every commit accepted so far, in order (for assertions), with its size in characters. */
  readonly commits: readonly { topic: string; partition: number; epoch: number; nextOffset: number; bytes: number }[];
  /** While true every commit fails with STORE_UNAVAILABLE (the store is down); reads still work. */
  down: boolean;
  /** Commits refused as fenced so far. */
  readonly fenced: readonly { topic: string; partition: number; epoch: number }[];
}

export function createMemoryCheckpointBacking(): MemoryCheckpointBacking {
  const partitions = new Map<string, PartitionRecord>();
  const commits: { topic: string; partition: number; epoch: number; nextOffset: number; bytes: number }[] = [];
  const backing = { open, commits, fenced: [] as { topic: string; partition: number; epoch: number }[], down: false };

  function record(topic: string, partition: number): PartitionRecord {
    const k = `${topic}\u0000${partition}`;
    let r = partitions.get(k);
    if (!r) {
      r = { epoch: 0, checkpoint: null, actors: new Map(), finals: new Map() };
      partitions.set(k, r);
    }
    return r;
  }

  function open(): CheckpointStore {
    let state: 'new' | 'started' | 'closed' = 'new';
    function live(): void {
      if (state !== 'started') throw new KeyflowError(ErrorCode.STORE_UNAVAILABLE, `memory checkpoint store is ${state === 'new' ? 'not started' : 'closed'}`);
    }
    return {
      kind: 'memory',
      async start() {
        state = 'started';
      },
      async close() {
        state = 'closed';
      },
      async acquire(topic, partition) {
        live();
        const r = record(topic, partition);
        r.epoch += 1;
        return r.epoch;
      },
      async load(topic, partition) {
        live();
        const cp = record(topic, partition).checkpoint;
        return cp ? { ...cp } : null;
      },
      async loadActor(topic, partition, key) {
        live();
        return record(topic, partition).actors.get(key) ?? null;
      },
      async loadFinals(topic, partition, actor) {
        live();
        return [...(record(topic, partition).finals.get(actor)?.values() ?? [])].map((f) => f.data);
      },
      async loadActors(topic, partition) {
        live();
        return new Map(record(topic, partition).actors);
      },
      async commit(topic, partition, epoch, write: CheckpointWrite) {
        live();
        if (backing.down) throw new KeyflowError(ErrorCode.STORE_UNAVAILABLE, 'memory checkpoint store is down (test)');
        const r = record(topic, partition);
        if (epoch !== r.epoch) {
          backing.fenced.push({ topic, partition, epoch });
          throw new FencedError(topic, partition, epoch, r.epoch);
        }
        for (const [k, v] of write.dirty) r.actors.set(k, v);
        for (const f of write.finals ?? []) {
          let rows = r.finals.get(f.actor);
          if (!rows) r.finals.set(f.actor, (rows = new Map()));
          rows.set(f.id, { windowEnd: f.windowEnd, data: f.data });
        }
        for (const k of write.deleted ?? []) {
          r.actors.delete(k);
          r.finals.delete(k);
        }
        const retainFrom = write.retainFinalsFrom;
        if (retainFrom !== undefined) {
          for (const rows of r.finals.values()) for (const [id, f] of rows) if (f.windowEnd < retainFrom) rows.delete(id);
        }
        r.checkpoint = { nextOffset: write.nextOffset, partitionState: write.partitionState, epoch };
        let bytes = write.partitionState.length;
        for (const [k, v] of write.dirty) bytes += k.length + v.length;
        for (const f of write.finals ?? []) bytes += f.actor.length + f.id.length + f.data.length;
        commits.push({ topic, partition, epoch, nextOffset: write.nextOffset, bytes });
      },
      async healthy() {
        return { connected: state === 'started' };
      },
    };
  }

  return backing;
}
