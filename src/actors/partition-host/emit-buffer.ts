/**
 * The buffer a KeyActor writes its window changes into (its `WindowChangeSink`). The host opens
 * a round per batch or tick; a window changed several times in a round is taken once, as it is at
 * the end of the round, and `drain()` turns the round's windows into results.
 */
import type { WindowResult } from '../../model/index.ts';
import type { WindowChangeSink } from '../key-actor/key-actor.ts';
import { type KeyActorState, type WindowState, windowResultOf } from '../key-actor/window-state.ts';

export class EmitBuffer implements WindowChangeSink {
  /** Emit non-final updates; false keeps finals only. */
  emitUpdates: boolean;
  private round = 0;
  // struct of arrays, reused across rounds: no allocation per change
  private readonly states: KeyActorState[] = [];
  private readonly specs: number[] = [];
  private readonly wins: WindowState[] = [];

  constructor(
    private readonly specNames: readonly string[],
    emitUpdates: boolean,
  ) {
    this.emitUpdates = emitUpdates;
  }

  /** Starts a round: windows changed from now on are taken again. */
  open(): void {
    this.round++;
  }

  changed(state: KeyActorState, specIndex: number, w: WindowState): void {
    if (w.mark === this.round) return;
    if (!w.final && !this.emitUpdates) return;
    w.mark = this.round;
    this.states.push(state);
    this.specs.push(specIndex);
    this.wins.push(w);
  }

  get size(): number {
    return this.wins.length;
  }

  /** The round's results (windows merged away by a session merge left out), and empties the buffer. */
  drain(): WindowResult[] {
    const n = this.wins.length;
    const out: WindowResult[] = [];
    for (let i = 0; i < n; i++) {
      const w = this.wins[i]!;
      if (!w.dead) out.push(windowResultOf(this.states[i]!, this.specNames[this.specs[i]!]!, w));
    }
    this.states.length = 0;
    this.specs.length = 0;
    this.wins.length = 0;
    return out;
  }
}
