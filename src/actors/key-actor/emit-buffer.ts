/**
 * The buffer a KeyActor writes its window changes into (its `WindowChangeSink`). The host opens
 * a round per batch or tick; a window changed several times in a round is taken once, as it is at
 * the end of the round, and `drain()` turns the round's windows into results.
 *
 * Windows are rows in the actor's packed array, whose positions move as windows come and go, so a
 * change is recorded as (actor, spec, start) and looked up again at `drain()`. A window that
 * leaves the hot state within the round (a final evicted, a held final expiring after a change) is
 * turned into its result at once; its deferred entry then finds nothing and is skipped, as is the
 * entry of a session window merged into another.
 */
import type { WindowResult } from '../../model/index.ts';
import { FINAL, FLAGS, type KeyActorState, MARK, SPEC, START, STRIDE, type WindowChangeSink, windowResultOf } from './window-state.ts';

/** Round numbers are unique across buffers: a window's mark from another buffer never matches. */
let rounds = 0;

export class EmitBuffer implements WindowChangeSink {
  /** Emit non-final updates; false keeps finals only. */
  emitUpdates: boolean;
  private round = ++rounds;
  // struct of arrays, reused across rounds: no allocation per change
  private readonly states: KeyActorState[] = [];
  private readonly specs: number[] = [];
  private readonly starts: number[] = [];
  /** The result taken at once (a window that left the hot state), else null. */
  private readonly taken: (WindowResult | null)[] = [];
  /** One-entry cache of `namesOf` (the states of a batch are mostly of one event type). */
  private lastType: string | undefined;
  private lastNames: readonly string[] = [];

  /**
   * @param namesOf the window spec names of an event type, by spec index (each event type may
   *   have its own windows)
   */
  constructor(
    private readonly namesOf: (eventType: string) => readonly string[],
    emitUpdates: boolean,
  ) {
    this.emitUpdates = emitUpdates;
  }

  private nameOf(st: KeyActorState, specIndex: number): string {
    if (st.eventType !== this.lastType) {
      this.lastNames = this.namesOf(st.eventType);
      this.lastType = st.eventType;
    }
    return this.lastNames[specIndex]!;
  }

  /** Starts a round: windows changed from now on are taken again. */
  open(): void {
    this.round = ++rounds;
  }

  changed(st: KeyActorState, specIndex: number, row: number): void {
    const w = st.w;
    const b = row * STRIDE;
    if (w[b + MARK] === this.round) return;
    if (!this.emitUpdates && (w[b + FLAGS]! & FINAL) === 0) return;
    w[b + MARK] = this.round;
    this.states.push(st);
    this.specs.push(specIndex);
    this.starts.push(w[b + START]!);
    this.taken.push(null);
  }

  evicted(st: KeyActorState, specIndex: number, row: number): void {
    this.takeNow(st, specIndex, row);
  }

  expired(st: KeyActorState, specIndex: number, row: number): void {
    // a held final expiring: emitted only if it changed in this round (a late revision)
    if (st.w[row * STRIDE + MARK] === this.round) this.takeNow(st, specIndex, row);
  }

  /** A window whose start moves (a session extended backwards): its next change is recorded again. */
  moved(st: KeyActorState, row: number): void {
    st.w[row * STRIDE + MARK] = 0;
  }

  private takeNow(st: KeyActorState, specIndex: number, row: number): void {
    this.states.push(st);
    this.specs.push(specIndex);
    this.starts.push(Number.NaN);
    this.taken.push(windowResultOf(st, this.nameOf(st, specIndex), row));
  }

  get size(): number {
    return this.states.length;
  }

  /** The round's results, and empties the buffer. */
  drain(): WindowResult[] {
    const n = this.states.length;
    const out: WindowResult[] = [];
    for (let i = 0; i < n; i++) {
      const r = this.taken[i];
      if (r !== null && r !== undefined) {
        out.push(r);
        continue;
      }
      const st = this.states[i]!;
      const row = findRow(st, this.specs[i]!, this.starts[i]!);
      if (row >= 0) out.push(windowResultOf(st, this.nameOf(st, this.specs[i]!), row));
    }
    this.states.length = 0;
    this.specs.length = 0;
    this.starts.length = 0;
    this.taken.length = 0;
    return out;
  }
}

/** Row index of the window of spec `spec` starting at `start`, or −1. */
function findRow(st: KeyActorState, spec: number, start: number): number {
  const w = st.w;
  for (let b = 0; b < st.rows * STRIDE; b += STRIDE) {
    if (w[b + SPEC] === spec && w[b + START] === start) return b / STRIDE;
  }
  return -1;
}
