/** A tiny in-process LiveBus for unit tests (until src/bus/in-process is available). */
import type { LiveBus } from '../../src/bus/port.ts';
import { ErrorCode, KeyflowError } from '../../src/model/errors.ts';

export interface MemoryBus extends LiveBus {
  /** Live subscriptions per subject (to check that nothing leaks). */
  subscriberCount(subject: string): number;
}

export function createMemoryBus(): MemoryBus {
  const subs = new Map<string, Set<(m: unknown) => void>>();
  const responders = new Map<string, (r: unknown) => Promise<unknown>>();
  return {
    kind: 'in-process',
    async start() {},
    async close() {
      subs.clear();
    },
    publish(subject, message) {
      for (const h of [...(subs.get(subject) ?? [])]) h(message);
    },
    subscribe(subject, handler) {
      let set = subs.get(subject);
      if (!set) subs.set(subject, (set = new Set()));
      const h = (m: unknown) => handler(m);
      set.add(h);
      return () => {
        set.delete(h);
      };
    },
    respond(subject, handler) {
      responders.set(subject, handler);
      return () => responders.delete(subject);
    },
    async request(subject, request) {
      const h = responders.get(subject);
      if (!h) throw new KeyflowError(ErrorCode.TIMEOUT, `no responder on ${subject}`);
      return h(request);
    },
    async healthy() {
      return { connected: true };
    },
    subscriberCount(subject) {
      return subs.get(subject)?.size ?? 0;
    },
  };
}
