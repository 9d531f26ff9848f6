/**
 * The live-bus contract: every LiveBus adapter (in-process, NATS) runs this suite with two bus
 * instances standing for two nodes. Subjects are unique per run; delivery is checked with waitFor.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LiveBus } from '../../src/bus/port.ts';
import { ErrorCode, hasCode } from '../../src/model/errors.ts';
import { uniqueName, waitFor } from '../helpers/wait.ts';

export interface LiveBusFixture {
  /** Two started buses that reach each other ("node a" and "node b"). */
  a: LiveBus;
  b: LiveBus;
  cleanup(): Promise<void>;
}

export function describeLiveBusContract(name: string, makeBus: () => Promise<LiveBusFixture>): void {
  describe(`LiveBus contract: ${name}`, () => {
    let fx: LiveBusFixture;
    const subject = (what: string) => `keyflow.test.${what}.${uniqueName('s').replace(/[^a-zA-Z0-9_-]/g, '_')}`;

    beforeAll(async () => {
      fx = await makeBus();
    });

    afterAll(async () => {
      await fx?.cleanup();
    });

    it('reports healthy when started', async () => {
      expect((await fx.a.healthy()).connected).toBe(true);
      expect((await fx.b.healthy()).connected).toBe(true);
    });

    it('delivers what a publishes to subscribers on b and on a, in publish order', async () => {
      const s = subject('fanout');
      const onB: unknown[] = [];
      const onA: unknown[] = [];
      const offB = fx.b.subscribe(s, (m) => onB.push(m));
      const offA = fx.a.subscribe(s, (m) => onA.push(m));
      await settle(fx, s);
      const sent = Array.from({ length: 50 }, (_, i) => ({ seq: i, body: { text: `m${i}`, n: i * 1.5, nested: [i, null] } }));
      for (const m of sent) fx.a.publish(s, m);
      await waitFor(() => onB.length >= 50 && onA.length >= 50, { message: 'fan-out delivery' });
      expect(onB).toEqual(sent);
      expect(onA).toEqual(sent);
      offA();
      offB();
    });

    it('stops delivering after unsubscribe, and one failing subscriber does not stop the others', async () => {
      const s = subject('unsub');
      const kept: unknown[] = [];
      const dropped: unknown[] = [];
      const offDropped = fx.b.subscribe(s, (m) => dropped.push(m));
      const offThrows = fx.b.subscribe(s, () => {
        throw new Error('subscriber failure (expected in this test)');
      });
      const offKept = fx.b.subscribe(s, (m) => kept.push(m));
      await settle(fx, s);
      fx.a.publish(s, { n: 1 });
      await waitFor(() => kept.length === 1 && dropped.length === 1, { message: 'first message' });
      offDropped();
      offThrows();
      await settle(fx, s);
      fx.a.publish(s, { n: 2 });
      await waitFor(() => kept.length === 2, { message: 'second message' });
      expect(kept).toEqual([{ n: 1 }, { n: 2 }]);
      expect(dropped).toEqual([{ n: 1 }]);
      offKept();
    });

    it('wants a subject only while some node subscribes to it, exactly or by wildcard', async () => {
      const s = subject('interest');
      // a bus just started may publish everything while it learns who listens
      await waitFor(() => !fx.a.wants(s), { message: 'nobody wants the subject yet' });
      const off = fx.b.subscribe(s, () => undefined);
      await waitFor(() => fx.a.wants(s), { message: 'a learns that b listens' });
      expect(fx.b.wants(s)).toBe(true);
      off();
      await waitFor(() => !fx.a.wants(s) && !fx.b.wants(s), { message: 'b left' });
      const offWild = fx.b.subscribe(`${s}.*`, () => undefined);
      await waitFor(() => fx.a.wants(`${s}.x`), { message: 'a learns the wildcard' });
      expect(fx.a.wants(`${s}.x.y`)).toBe(false);
      expect(fx.a.wants(s)).toBe(false);
      const offOwn = fx.a.subscribe(`${s}.own`, () => undefined);
      expect(fx.a.wants(`${s}.own`)).toBe(true);
      offOwn();
      offWild();
      await waitFor(() => !fx.a.wants(`${s}.x`), { message: 'the wildcard left' });
    });

    it('two subscriptions on one subject: the subject stays wanted until both leave', async () => {
      const s = subject('interest2');
      const off1 = fx.b.subscribe(s, () => undefined);
      const off2 = fx.b.subscribe(s, () => undefined);
      await waitFor(() => fx.a.wants(s), { message: 'a learns that b listens' });
      off1();
      await settle(fx, s);
      expect(fx.a.wants(s)).toBe(true);
      off2();
      await waitFor(() => !fx.a.wants(s), { message: 'both left' });
    });

    it('answers a request from a responder on the other node', async () => {
      const s = subject('rpc');
      const seen: unknown[] = [];
      const off = fx.b.respond(s, async (req) => {
        seen.push(req);
        const { x } = req as { x: number };
        return { doubled: x * 2, from: 'b' };
      });
      await settle(fx, s);
      const answer = await waitFor(() => fx.a.request(s, { x: 21 }, 2000), { message: 'request answered' });
      expect(answer).toEqual({ doubled: 42, from: 'b' });
      expect(seen).toContainEqual({ x: 21 });
      off();
    });

    it('rejects with TIMEOUT when nobody responds', async () => {
      const s = subject('none');
      const err = await fx.a.request(s, { q: 1 }, 300).then(
        () => null,
        (e: unknown) => e,
      );
      expect(hasCode(err, ErrorCode.TIMEOUT)).toBe(true);
    });

    it('rejects with TIMEOUT when the responder does not answer in time', async () => {
      const s = subject('slow');
      let release: () => void = () => undefined;
      const off = fx.b.respond(s, () => new Promise((r) => (release = () => r({ late: true }))));
      await settle(fx, s);
      const err = await fx.a.request(s, {}, 300).then(
        () => null,
        (e: unknown) => e,
      );
      expect(hasCode(err, ErrorCode.TIMEOUT)).toBe(true);
      release();
      off();
    });
  });
}

/**
 * Lets a networked bus propagate a new (un)subscription before publishing: a round trip on a
 * probe subject through both nodes. Instant for the in-process bus.
 */
async function settle(fx: LiveBusFixture, s: string): Promise<void> {
  const probe = `${s}.probe`;
  const off = fx.b.respond(probe, async () => 'ok');
  try {
    await waitFor(() => fx.a.request(probe, null, 500), { timeoutMs: 5000, message: 'bus settled' });
  } finally {
    off();
  }
}
