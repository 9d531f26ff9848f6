/**
 * Open-loop rate pacing: the i-th send is scheduled at start + i / rate whatever the previous
 * sends did, so a slow response delays nothing else and latency measured from the scheduled
 * time includes any queueing (no coordinated omission).
 */

export interface OpenLoopOptions {
  /** Sends per second. */
  rate: number;
  /** How long to keep scheduling, ms. */
  durationMs: number;
  /** Called once per scheduled send with its scheduled time (performance.now() ms) and index. */
  send(scheduledAt: number, index: number): void;
}

/** Resolves once every send of the run was issued (not answered). Returns how many were issued. */
export function openLoop(o: OpenLoopOptions): Promise<number> {
  const start = performance.now();
  const total = Math.floor((o.rate * o.durationMs) / 1000);
  const interval = 1000 / o.rate;
  let issued = 0;
  return new Promise((resolve) => {
    const step = () => {
      const now = performance.now();
      // every send whose time has come, including those a busy event loop made us late for
      while (issued < total && start + issued * interval <= now) {
        o.send(start + issued * interval, issued);
        issued++;
      }
      if (issued >= total) {
        resolve(issued);
        return;
      }
      const wait = start + issued * interval - performance.now();
      // setTimeout below 1 ms rounds up to 1 ms; setImmediate keeps sub-ms pacing without spinning hard
      if (wait >= 1.5) setTimeout(step, Math.floor(wait));
      else setImmediate(step);
    };
    step();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` every `everyMs` until it returns true or `timeoutMs` passes; returns whether it did. */
export async function waitUntil(check: () => boolean | Promise<boolean>, timeoutMs: number, everyMs = 20): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline) {
    if (await check()) return true;
    await sleep(everyMs);
  }
  return check();
}
