/**
 * The compact receipt index of the embedded dedupe: eventId fingerprint (64 bits) → receipt,
 * for at most `maxEntries` entries, oldest out first.
 *
 * Layout: a ring of entries in insertion order in typed arrays (fingerprint 2 × u32, topic id
 * u16, partition u32, offset f64, event timestamp f64, expiry f64: 38 bytes) and an
 * open-addressing table (linear probing, i32 ring positions, load ≤ 2/3) over it. No object or
 * string per entry, so an entry costs ~45–50 bytes whatever the length of its eventId, and the
 * garbage collector never walks the index. The ring grows by doubling up to `maxEntries`.
 */

import type { Fingerprint } from './event-id-hash.ts';
import type { StoredReceipt } from './port.ts';

const INITIAL = 1024;

export class CompactIndex {
  readonly maxEntries: number;
  #cap = 0;
  #head = 0;
  #count = 0;
  /** Ring entries replaced by a newer put of their fingerprint (or deleted), not yet dropped. */
  #dead = 0;
  #hi = new Uint32Array(0);
  #lo = new Uint32Array(0);
  #topic = new Uint16Array(0);
  #part = new Uint32Array(0);
  #offset = new Float64Array(0);
  #ts = new Float64Array(0);
  /** Expiry, epoch ms; 0 marks an entry replaced by a newer one (no longer in the table). */
  #exp = new Float64Array(0);
  /** Ring position + 1 per slot; 0 = empty. */
  #table = new Int32Array(0);
  #mask = 0;
  readonly #topicIds = new Map<string, number>();
  readonly #topics: string[] = [];

  constructor(maxEntries: number) {
    if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) throw new RangeError(`maxEntries must be a positive integer, got ${maxEntries}`);
    this.maxEntries = maxEntries;
    this.#resize(Math.min(INITIAL, maxEntries));
  }

  /** Entries held (including expired ones not yet dropped). */
  get size(): number {
    return this.#count;
  }

  /** Bytes of the index's arrays (what an entry costs: this / capacity). */
  get bytes(): number {
    return this.#cap * 38 + this.#table.byteLength;
  }

  get capacity(): number {
    return this.#cap;
  }

  /** Ring position of the live, unexpired entry with this fingerprint, or -1. */
  find(fp: Fingerprint, now: number): number {
    const slot = this.#slotOf(fp.hi, fp.lo);
    if (slot < 0) return -1;
    const r = this.#table[slot]! - 1;
    return this.#exp[r]! > now ? r : -1;
  }

  /** The receipt stored at ring position `r` (from {@link find}). */
  receipt(r: number): StoredReceipt {
    return { topic: this.#topics[this.#topic[r]!]!, partition: this.#part[r]!, offset: this.#offset[r]!, timestamp: this.#ts[r]! };
  }

  /** Stores (or replaces) the receipt of `fp` until `expiresAt`; drops expired and, when full, the oldest entries. */
  put(fp: Fingerprint, receipt: StoredReceipt, expiresAt: number, now: number): void {
    while (this.#count > 0 && this.#exp[this.#head]! <= now) this.#popHead();
    const existing = this.#slotOf(fp.hi, fp.lo);
    if (existing >= 0) {
      const r = this.#table[existing]! - 1;
      this.#deleteSlot(existing);
      this.#exp[r] = 0;
      this.#dead++;
    }
    if (this.#count === this.#cap) {
      // Full: grow; at the bound, drop the replaced entries (rare: a receipt is replaced only
      // when stored again while live), else the oldest.
      if (this.#cap < this.maxEntries) this.#resize(Math.min(this.#cap * 2, this.maxEntries));
      else if (this.#dead > 0) this.#resize(this.#cap);
      else this.#popHead();
    }
    const r = (this.#head + this.#count) % this.#cap;
    this.#count++;
    this.#hi[r] = fp.hi;
    this.#lo[r] = fp.lo;
    this.#topic[r] = this.#topicId(receipt.topic);
    this.#part[r] = receipt.partition;
    this.#offset[r] = receipt.offset;
    this.#ts[r] = receipt.timestamp;
    this.#exp[r] = expiresAt;
    this.#insert(r);
  }

  /** Forgets `fp` (no-op when absent). */
  delete(fp: Fingerprint): void {
    const slot = this.#slotOf(fp.hi, fp.lo);
    if (slot < 0) return;
    const r = this.#table[slot]! - 1;
    this.#deleteSlot(slot);
    this.#exp[r] = 0;
    this.#dead++;
  }

  clear(): void {
    this.#head = 0;
    this.#count = 0;
    this.#dead = 0;
    this.#resize(Math.min(INITIAL, this.maxEntries));
  }

  #topicId(topic: string): number {
    let id = this.#topicIds.get(topic);
    if (id === undefined) {
      id = this.#topics.length;
      if (id > 0xffff) throw new RangeError('more than 65536 topics in the dedupe index');
      this.#topics.push(topic);
      this.#topicIds.set(topic, id);
    }
    return id;
  }

  #home(hi: number, lo: number): number {
    return (lo ^ Math.imul(hi, 0x9e3779b1)) & this.#mask;
  }

  #slotOf(hi: number, lo: number): number {
    const table = this.#table;
    const mask = this.#mask;
    for (let i = this.#home(hi, lo); ; i = (i + 1) & mask) {
      const v = table[i]!;
      if (v === 0) return -1;
      const r = v - 1;
      if (this.#lo[r] === lo && this.#hi[r] === hi) return i;
    }
  }

  #insert(r: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = this.#home(this.#hi[r]!, this.#lo[r]!);
    while (table[i] !== 0) i = (i + 1) & mask;
    table[i] = r + 1;
  }

  /** Linear-probing deletion by backward shift: no tombstones, probe chains stay short. */
  #deleteSlot(slot: number): void {
    const table = this.#table;
    const mask = this.#mask;
    let i = slot;
    table[i] = 0;
    for (let j = (i + 1) & mask; table[j] !== 0; j = (j + 1) & mask) {
      const r = table[j]! - 1;
      const k = this.#home(this.#hi[r]!, this.#lo[r]!);
      // the entry at j may move to i when its home k is not cyclically within (i, j]
      const stays = i <= j ? k > i && k <= j : k > i || k <= j;
      if (!stays) {
        table[i] = table[j]!;
        table[j] = 0;
        i = j;
      }
    }
  }

  #popHead(): void {
    const r = this.#head;
    if (this.#exp[r]! > 0) {
      const slot = this.#slotOf(this.#hi[r]!, this.#lo[r]!);
      if (slot >= 0 && this.#table[slot] === r + 1) this.#deleteSlot(slot);
    } else {
      this.#dead--;
    }
    this.#head = (r + 1) % this.#cap;
    this.#count--;
  }

  /** New arrays of `cap` entries, the live ones copied in ring order from position 0, table rebuilt. */
  #resize(cap: number): void {
    const hi = new Uint32Array(cap);
    const lo = new Uint32Array(cap);
    const topic = new Uint16Array(cap);
    const part = new Uint32Array(cap);
    const offset = new Float64Array(cap);
    const ts = new Float64Array(cap);
    const exp = new Float64Array(cap);
    let n = 0;
    for (let k = 0; k < this.#count; k++) {
      const r = (this.#head + k) % this.#cap;
      if (this.#exp[r] === 0) continue;
      hi[n] = this.#hi[r]!;
      lo[n] = this.#lo[r]!;
      topic[n] = this.#topic[r]!;
      part[n] = this.#part[r]!;
      offset[n] = this.#offset[r]!;
      ts[n] = this.#ts[r]!;
      exp[n] = this.#exp[r]!;
      n++;
    }
    this.#cap = cap;
    this.#hi = hi;
    this.#lo = lo;
    this.#topic = topic;
    this.#part = part;
    this.#offset = offset;
    this.#ts = ts;
    this.#exp = exp;
    this.#head = 0;
    this.#count = n;
    this.#dead = 0;
    let size = 1;
    while (size < cap * 1.5) size *= 2;
    this.#table = new Int32Array(size);
    this.#mask = size - 1;
    for (let r = 0; r < n; r++) this.#insert(r);
  }
}
