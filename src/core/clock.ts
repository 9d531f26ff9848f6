/** Time is injected: a Clock drives idle timeouts, checkpoint intervals and passivation. Tests use {@link createSimulatedClock}. */

export interface Timer {
  cancel(): void;
}

export interface Clock {
  /** Processing time, epoch ms. */
  now(): number;
  /** Calls `fn` every `ms` until cancelled. */
  every(ms: number, fn: () => void): Timer;
  /** Calls `fn` once after `ms`. */
  after(ms: number, fn: () => void): Timer;
  sleep(ms: number): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  every(ms, fn) {
    const h = setInterval(fn, ms);
    h.unref?.();
    return { cancel: () => clearInterval(h) };
  },
  after(ms, fn) {
    const h = setTimeout(fn, ms);
    h.unref?.();
    return { cancel: () => clearTimeout(h) };
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
};

export interface SimulatedClock extends Clock {
  /** Moves time forward, firing due timers in order. */
  advance(ms: number): void;
  set(now: number): void;
}

export function createSimulatedClock(start = 0): SimulatedClock {
  let now = start;
  let seq = 0;
  const timers = new Map<number, { at: number; every: number; fn: () => void }>();
  const sleepers: { at: number; resolve: () => void }[] = [];
  const clock: SimulatedClock = {
    now: () => now,
    every(ms, fn) {
      const id = seq++;
      timers.set(id, { at: now + ms, every: ms, fn });
      return { cancel: () => timers.delete(id) };
    },
    after(ms, fn) {
      const id = seq++;
      timers.set(id, { at: now + ms, every: 0, fn });
      return { cancel: () => timers.delete(id) };
    },
    sleep(ms) {
      return new Promise<void>((resolve) => sleepers.push({ at: now + ms, resolve }));
    },
    set(t) {
      clock.advance(t - now);
    },
    advance(ms) {
      const target = now + ms;
      for (;;) {
        let nextId = -1;
        let nextAt = Number.POSITIVE_INFINITY;
        for (const [id, t] of timers) {
          if (t.at <= target && t.at < nextAt) {
            nextAt = t.at;
            nextId = id;
          }
        }
        if (nextId < 0) break;
        const t = timers.get(nextId)!;
        now = t.at;
        if (t.every > 0) t.at += t.every;
        else timers.delete(nextId);
        t.fn();
      }
      now = target;
      for (let i = sleepers.length - 1; i >= 0; i--) {
        if (sleepers[i]!.at <= now) sleepers.splice(i, 1)[0]!.resolve();
      }
    },
  };
  return clock;
}
