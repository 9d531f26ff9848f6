/**
 * Finals the host made since the last committed checkpoint. They go to the results store in the
 * next checkpoint commit (once: a committed final is never written again), and until then they
 * answer queries from here. Queries merge the actor's open windows, this ledger and the store.
 */
import type { WindowResult } from '../../model/index.ts';
import type { FinalWrite } from '../../state/index.ts';
import { decodeFinal, encodeFinal } from '../key-actor/snapshot-codec.ts';

export class FinalsLedger {
  private writes: FinalWrite[] = [];
  // only the encoded rows are kept (no result objects): they live until the next commit
  /** How many entries the last `take()` handed to a checkpoint. */
  private taken = 0;

  get size(): number {
    return this.writes.length;
  }

  add(actor: string, r: WindowResult): void {
    const f = encodeFinal(r);
    this.writes.push({ actor, id: f.id, windowEnd: f.windowEnd, data: f.data });
  }

  /** The finals for the checkpoint being written. */
  take(): FinalWrite[] {
    this.taken = this.writes.length;
    return this.writes.slice();
  }

  /** The checkpoint of the last `take()` was committed: those finals are in the store now. */
  committed(): void {
    if (this.taken === 0) return;
    this.writes = this.writes.slice(this.taken);
    this.taken = 0;
  }

  /** Uncommitted finals of one actor, oldest first (a later revision of a window comes later). */
  of(actor: string, eventType: string, key: string): WindowResult[] {
    const out: WindowResult[] = [];
    for (const w of this.writes) if (w.actor === actor) out.push(decodeFinal(eventType, key, w.data));
    return out;
  }

  clear(): void {
    this.writes = [];
    this.taken = 0;
  }
}
