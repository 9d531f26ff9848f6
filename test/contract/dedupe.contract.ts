/**
 * The dedupe-port contract (`src/ingest/dedupe/port.ts`): every Dedupe adapter (memory, Redis)
 * runs this suite. `makeDedupe` opens "gateways" on one shared backing — for the memory adapter,
 * which serves one gateway process, every gateway is the same instance — and says how time passes
 * for it: a simulated clock for memory, real expiry for Redis (the suite then waits for the fact,
 * never for a fixed time).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Dedupe, StoredReceipt } from '../../src/ingest/index.ts';
import { uniqueName, waitFor } from '../helpers/wait.ts';

export interface DedupeFixture {
  /** A gateway on the shared backing with these TTLs (ms). */
  open(options?: { ttlMs?: number; pendingTtlMs?: number }): Dedupe;
  /** Lets `ms` of the adapter's time pass (simulated clock), or nothing when time is real. */
  elapse(ms: number): void;
  cleanup(): Promise<void>;
}

const receipt: StoredReceipt = { topic: 'events.iot.sensors', partition: 3, offset: 42, timestamp: 1_700_000_000_123 };

export function describeDedupeContract(name: string, makeDedupe: () => Promise<DedupeFixture>): void {
  describe(`Dedupe contract: ${name}`, () => {
    let fx: DedupeFixture;
    const opened: Dedupe[] = [];
    const id = () => uniqueName('ev');
    const gateway = (options?: { ttlMs?: number; pendingTtlMs?: number }) => {
      const d = fx.open(options);
      opened.push(d);
      return d;
    };

    beforeAll(async () => {
      fx = await makeDedupe();
    });

    afterAll(async () => {
      for (const d of opened) await d.close().catch(() => undefined);
      await fx?.cleanup();
    });

    it('one claim wins; others see pending until it completes, then the stored receipt', async () => {
      const a = gateway();
      const b = gateway();
      const e = id();
      expect(await a.claim(e)).toEqual({ status: 'claimed' });
      expect(await b.claim(e)).toEqual({ status: 'pending' });
      expect(await a.claim(e)).toEqual({ status: 'pending' });
      await a.complete(e, receipt);
      expect(await b.claim(e)).toEqual({ status: 'done', receipt });
      expect(await a.claim(e)).toEqual({ status: 'done', receipt });
    });

    it('a claim that names where its append goes (ClaimLocation) wins, blocks and completes the same way', async () => {
      const a = gateway();
      const b = gateway();
      const e = id();
      const where = { topic: receipt.topic, partition: receipt.partition };
      expect(await a.claim(e, where)).toEqual({ status: 'claimed' });
      expect(await b.claim(e, where)).toEqual({ status: 'pending' });
      await a.complete(e, receipt);
      expect(await b.claim(e, where)).toEqual({ status: 'done', receipt });
      const f = id();
      expect(await a.claim(f, where)).toEqual({ status: 'claimed' });
      await a.release(f);
      expect(await b.claim(f, where)).toEqual({ status: 'claimed' });
    });

    it('eventIds are independent', async () => {
      const a = gateway();
      const [e1, e2] = [id(), id()];
      expect(await a.claim(e1)).toEqual({ status: 'claimed' });
      expect(await a.claim(e2)).toEqual({ status: 'claimed' });
      await a.complete(e1, receipt);
      expect(await a.claim(e2)).toEqual({ status: 'pending' });
    });

    it('release gives a pending claim back but never removes a completed receipt', async () => {
      const a = gateway();
      const b = gateway();
      const e = id();
      expect(await a.claim(e)).toEqual({ status: 'claimed' });
      await a.release(e);
      expect(await b.claim(e)).toEqual({ status: 'claimed' });
      await b.complete(e, receipt);
      await b.release(e);
      await a.release(e);
      expect(await a.claim(e)).toEqual({ status: 'done', receipt });
    });

    it('a pending claim expires after pendingTtlMs: the next claim wins', async () => {
      const a = gateway({ pendingTtlMs: 100 });
      const e = id();
      expect(await a.claim(e)).toEqual({ status: 'claimed' });
      fx.elapse(101);
      await waitFor(async () => (await a.claim(e)).status === 'claimed', { timeoutMs: 5000, message: 'the pending claim never expired' });
    });

    it('a receipt is kept for the horizon (ttlMs) and forgotten after it', async () => {
      const a = gateway({ ttlMs: 1500, pendingTtlMs: 100 });
      const e = id();
      await a.claim(e);
      await a.complete(e, receipt);
      fx.elapse(1000); // past the pending ttl, within the horizon
      expect(await a.claim(e)).toEqual({ status: 'done', receipt });
      fx.elapse(500);
      await waitFor(async () => (await a.claim(e)).status === 'claimed', { timeoutMs: 5000, message: 'the receipt outlived the horizon' });
    });

    it('with a zero horizon a publish is forgotten once it completes', async () => {
      const a = gateway({ ttlMs: 0 });
      const e = id();
      expect(await a.claim(e)).toEqual({ status: 'claimed' });
      expect(await a.claim(e)).toEqual({ status: 'pending' });
      await a.complete(e, receipt);
      expect(await a.claim(e)).toEqual({ status: 'claimed' });
    });

    it('exactly one of many concurrent claims across gateways wins', async () => {
      const gws = [gateway(), gateway(), gateway(), gateway()];
      const e = id();
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => gws[i % 4]!.claim(e)));
      expect(results.filter((r) => r.status === 'claimed')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'pending')).toHaveLength(39);
    });

    it('concurrent publishes of one eventId append once and all answer with that receipt', async () => {
      const gws = [gateway(), gateway(), gateway()];
      const e = id();
      let appends = 0;
      // The publish protocol of the port: claim; claimed → append + complete; pending → claim again.
      async function publish(d: Dedupe): Promise<StoredReceipt> {
        for (;;) {
          const r = await d.claim(e);
          if (r.status === 'done') return r.receipt;
          if (r.status === 'claimed') {
            appends++;
            const mine = { ...receipt, offset: 1000 + appends };
            await d.complete(e, mine);
            return mine;
          }
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
      }
      const receipts = await Promise.all(Array.from({ length: 12 }, (_, i) => publish(gws[i % 3]!)));
      expect(appends).toBe(1);
      expect(new Set(receipts.map((r) => r.offset))).toEqual(new Set([1001]));
    });
  });
}
