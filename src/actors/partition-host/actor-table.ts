/**
 * The actors of one partition: per event type its KeyActor logic and its live actors by key,
 * the timer heap that wakes actors when the watermark reaches their next timer, and the actor ids
 * used in the checkpoint store.
 */
import type { EventTypeRegistry, EventTypeSpec, LatePolicy } from '../../model/index.ts';
import { createKeyActorLogic, type KeyActorLogic } from '../key-actor/key-actor.ts';
import type { KeyActorState } from '../key-actor/window-state.ts';
import { parseWindowSpecs, type WindowSpec } from '../windows/spec.ts';
import { joinActorId, splitActorId } from './checkpoint-codec.ts';
import { TimerHeap } from './timer-heap.ts';

export interface TypeCtx {
  spec: EventTypeSpec;
  logic: KeyActorLogic;
  actors: Map<string, Slot>;
  /** The topic's own event type: its actor ids are bare keys. */
  primary: boolean;
}

export interface Slot {
  id: string;
  ctx: TypeCtx;
  state: KeyActorState;
  /** 0 when clean; else the change sequence number of its last change. */
  dirtySeq: number;
  lastTouched: number;
  active: boolean;
}

export interface ActorLogicSettings {
  specs: readonly WindowSpec[];
  allowedLatenessMs: number;
  latePolicy: LatePolicy;
  resultRetentionMs: number;
  honourPoisonMarker: boolean;
}

export class ActorTable {
  readonly heap = new TimerHeap<Slot>();
  private readonly types = new Map<string, TypeCtx>();
  private readonly primaryType: string | undefined;
  private n = 0;

  constructor(
    private readonly registry: Pick<EventTypeRegistry, 'resolve' | 'byTopic'>,
    topic: string,
    private readonly settings: ActorLogicSettings,
  ) {
    this.primaryType = registry.byTopic(topic)?.eventType;
  }

  get count(): number {
    return this.n;
  }

  /** The context of an event type, created on first use; undefined for an unregistered type. */
  ctxFor(eventType: string): TypeCtx | undefined {
    let ctx = this.types.get(eventType);
    if (ctx) return ctx;
    const spec = this.registry.resolve(eventType);
    if (!spec) return undefined;
    const s = this.settings;
    ctx = {
      spec,
      logic: createKeyActorLogic({
        eventType,
        specs: spec.windows ? parseWindowSpecs(spec.windows) : s.specs,
        valueField: spec.valueField,
        allowedLatenessMs: s.allowedLatenessMs,
        latePolicy: s.latePolicy,
        resultRetentionMs: s.resultRetentionMs,
        honourPoisonMarker: s.honourPoisonMarker,
      }),
      actors: new Map(),
      primary: eventType === this.primaryType,
    };
    this.types.set(eventType, ctx);
    return ctx;
  }

  contexts(): IterableIterator<TypeCtx> {
    return this.types.values();
  }

  /** Actor id in the checkpoint store: the key for the topic's own type, `eventType␟key` otherwise. */
  idOf(ctx: TypeCtx, key: string): string {
    return ctx.primary ? key : joinActorId(ctx.spec.eventType, key);
  }

  split(id: string): { eventType: string | undefined; key: string } {
    return splitActorId(id, this.primaryType);
  }

  insert(slot: Slot): void {
    slot.active = true;
    slot.ctx.actors.set(slot.state.key, slot);
    this.n++;
    if (slot.state.nextTimer !== Number.POSITIVE_INFINITY) this.heap.push(slot.state.nextTimer, slot);
  }

  remove(slot: Slot): void {
    slot.active = false;
    slot.ctx.actors.delete(slot.state.key);
    this.n--;
  }

  clear(): void {
    this.types.clear();
    this.heap.clear();
    this.n = 0;
  }
}
