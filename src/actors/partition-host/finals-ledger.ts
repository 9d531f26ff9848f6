/**
 * Finals the host made since the last committed checkpoint. They go to the results store in the
 * next checkpoint commit (once: a committed final is never written again), and until then they
 * answer queries from here. Queries merge the actor's open windows, this ledger and the store.
 *
 * Held as columns (one Float64Array row of numbers per final, plus the actor id and window name
 * it shares with the actor): a second of processing makes hundreds of thousands of finals, and
 * holding each as encoded text plus a write object until the commit made them survive young-
 * generation collections and get copied into the old generation, most of the processor's GC.
 * The store's rows ({@link FinalWrite}) are encoded when a checkpoint takes them.
 */
import type { WindowResult } from '../../model/index.ts';
import type { FinalWrite } from '../../state/index.ts';
import { decodeFinal, encodeFinal } from '../key-actor/snapshot-codec.ts';

// doubles per final
const W = 9;
const START = 0;
const END = 1;
const COUNT = 2;
const VCOUNT = 3;
const SUM = 4;
const MIN = 5;
const MAX = 6;
const DISTINCT = 7;
const REVISION = 8;


export class FinalsLedger {
  private nums = new Float64Array(W * 1024);
  private actors: string[] = [];
  private windows: string[] = [];
  private n = 0;
  /** How many entries the last `take()` handed to a checkpoint. */
  private taken = 0;
  /** The result {@link encodeFinal} reads, refilled per row (no object per final). */
  private readonly row: WindowResult = {
    eventType: '',
    key: '',
    window: '',
    windowStart: 0,
    windowEnd: 0,
    count: 0,
    valueCount: 0,
    sum: null,
    avg: null,
    min: null,
    max: null,
    distinctUsers: 0,
    final: true,
    revision: 0,
  };

  get size(): number {
    return this.n;
  }

  add(actor: string, r: WindowResult): void {
    const i = this.n;
    if ((i + 1) * W > this.nums.length) {
      const next = new Float64Array(this.nums.length * 2);
      next.set(this.nums);
      this.nums = next;
    }
    const a = this.nums;
    const b = i * W;
    a[b + START] = r.windowStart;
    a[b + END] = r.windowEnd;
    a[b + COUNT] = r.count;
    a[b + VCOUNT] = r.valueCount;
    // null (no values) is kept as NaN: a sum, min or max of real values is never NaN
    a[b + SUM] = r.sum ?? Number.NaN;
    a[b + MIN] = r.min ?? Number.NaN;
    a[b + MAX] = r.max ?? Number.NaN;
    a[b + DISTINCT] = r.distinctUsers;
    a[b + REVISION] = r.revision;
    this.actors[i] = actor;
    this.windows[i] = r.window;
    this.n = i + 1;
  }

  private fill(i: number): WindowResult {
    const a = this.nums;
    const b = i * W;
    const o = this.row;
    o.window = this.windows[i]!;
    o.windowStart = a[b + START]!;
    o.windowEnd = a[b + END]!;
    o.count = a[b + COUNT]!;
    o.valueCount = a[b + VCOUNT]!;
    o.sum = Number.isNaN(a[b + SUM]!) ? null : a[b + SUM]!;
    o.min = Number.isNaN(a[b + MIN]!) ? null : a[b + MIN]!;
    o.max = Number.isNaN(a[b + MAX]!) ? null : a[b + MAX]!;
    o.distinctUsers = a[b + DISTINCT]!;
    o.revision = a[b + REVISION]!;
    return o;
  }

  /** The finals for the checkpoint being written, encoded as the store keeps them. */
  take(): FinalWrite[] {
    const n = this.n;
    this.taken = n;
    const out: FinalWrite[] = new Array(n);
    // the stored row is the store's write as is: one object per final
    for (let i = 0; i < n; i++) out[i] = encodeFinal(this.fill(i), this.actors[i]!);
    return out;
  }

  /** The checkpoint of the last `take()` was committed: those finals are in the store now. */
  committed(): void {
    const t = this.taken;
    if (t === 0) return;
    const rest = this.n - t;
    if (this.nums.length > W * 65_536 && rest * W * 8 < this.nums.length) {
      // a burst (a restore's replay, a watermark jump) is over: give the room back
      this.nums = this.nums.slice(t * W, Math.max(this.n, t + 1024) * W);
    } else this.nums.copyWithin(0, t * W, this.n * W);
    this.actors.copyWithin(0, t, this.n);
    this.windows.copyWithin(0, t, this.n);
    this.actors.length = rest;
    this.windows.length = rest;
    this.n = rest;
    this.taken = 0;
  }

  /** Uncommitted finals of one actor, oldest first (a later revision of a window comes later). */
  of(actor: string, eventType: string, key: string): WindowResult[] {
    const out: WindowResult[] = [];
    for (let i = 0; i < this.n; i++) {
      if (this.actors[i] !== actor) continue;
      // through the stored form, so a query answers exactly what the store will answer
      out.push(decodeFinal(eventType, key, encodeFinal(this.fill(i)).data));
    }
    return out;
  }

  clear(): void {
    this.n = 0;
    this.taken = 0;
    this.actors.length = 0;
    this.windows.length = 0;
  }
}
