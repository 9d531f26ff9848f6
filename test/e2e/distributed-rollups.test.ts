/**
 * Rollups across keys in distributed mode, end to end, on real Kafka + Redis + NATS with nodes as
 * separate processes: events go straight into Kafka and through the gateway API while the
 * processors are SIGKILLed mid-stream and restarted; the `rollups` query through a gateway that
 * runs no processor (partials gathered from the processor over NATS) ends equal to the reference
 * recomputed from the raw events in the log. While the processor is dead, the same query is
 * answered from the partitions' checkpoints in Redis.
 */
import { describe, expect, it } from 'vitest';
import type { Rollup, RollupOrder } from '../../src/actors/index.ts';
import type { Cluster } from '../helpers/cluster.ts';
import { useCluster } from '../helpers/cluster-suite.ts';
import type { RefEvent } from '../helpers/reference-model.ts';
import { createWorkload, EVENT_TYPE, eventsInLog, killAfterRounds, rng, stream, type TestEvent, TOPIC } from '../helpers/reference-recompute.ts';
import { diffRollups, referenceRollups } from '../helpers/reference-rollups.ts';

/** Pacing, not waiting for something: where inside a round the kill lands. */
const pause = (ms: number) => new Promise((r) => setTimeout(r, ms));

const ROLLUPS = `query ($eventType: String!, $window: String!, $top: Int!, $by: RollupOrder!) {
  rollups(eventType: $eventType, window: $window, top: $top, by: $by) {
    eventType window windowStart windowEnd count distinctKeys distinctUsers valueCount sum avg min max final
    topKeys { key count valueCount sum avg min max }
  }
}`;

type GqlRollup = Omit<Rollup, 'windowStart' | 'windowEnd'> & { windowStart: string; windowEnd: string };

async function readRollups(cluster: Cluster, url: string, window: string, by: RollupOrder): Promise<Rollup[]> {
  const r = await cluster.graphql<{ rollups: GqlRollup[] }>(url, ROLLUPS, { eventType: EVENT_TYPE, window, top: 5, by: by.toUpperCase() });
  if (r.errors?.length || !r.data) throw new Error(`rollups(${window}) failed: ${JSON.stringify(r.errors)}`);
  return r.data.rollups.map((x) => ({ ...x, windowStart: Date.parse(x.windowStart), windowEnd: Date.parse(x.windowEnd) }));
}

function expected(events: readonly TestEvent[], window: string, by: RollupOrder): Rollup[] {
  // the workload has no late events: acceptance does not depend on the partition a key lives in
  const ref: RefEvent[] = events.map((e) => ({ eventType: e.eventType, key: e.deviceId, timestamp: Date.parse(e.timestamp), userId: e.userId, payload: e.payload }));
  return referenceRollups([ref], { eventType: EVENT_TYPE, window, top: 5, by, valueField: () => 'value', maxOutOfOrderMs: 10_000 });
}


async function expectRollupsExact(cluster: Cluster, url: string, events: readonly TestEvent[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let d: string[] = [];
  for (;;) {
    d = [];
    try {
      for (const [window, by] of [['tumbling-1m', 'count'], ['sliding-5m-1m', 'sum']] as const) d.push(...diffRollups(await readRollups(cluster, url, window, by), expected(events, window, by), { final: false }));
      if (d.length === 0) return;
    } catch (e) {
      d = [`query failed: ${(e as Error).message}`];
    }
    if (Date.now() > deadline) throw new Error(`rollups not exact after ${timeoutMs} ms; first differences:\n${d.slice(0, 20).join('\n')}`);
    await pause(1000);
  }
}

describe('distributed: rollups across keys with the processor killed mid-stream', () => {
  const suite = useCluster({
    // off by default in distributed mode (their cost, BENCHMARKS.md); the gateway needs it to answer
    env: { KEYFLOW_ROLLUPS: 'true' },
    nodes: [
      { role: 'gateway', name: 'gw' },
      { role: 'processor', name: 'p1' },
    ],
  });

  it('a SIGKILLed processor restarts from its checkpoints; the rollups query equals the reference from the raw events', async () => {
    const { cluster } = suite;
    const gateway = suite.node('gw');
    const processor = suite.node('p1');
    const seed = Date.now() % 1_000_000;
    const rand = rng(seed);
    const workload = createWorkload({ seed, keys: 30, idPrefix: cluster.keyPrefix });
    const producer = await cluster.producer();
    const killer = killAfterRounds(processor, new Set([3 + Math.floor(rand() * 4), 9 + Math.floor(rand() * 4), 15 + Math.floor(rand() * 4)]), rand);
    await stream(cluster, producer, gateway.url, workload, {
      rounds: 20,
      perRound: 80,
      after: killer.after,
    });
    expect(await killer.done()).toBe(3);
    const logged = await eventsInLog(cluster, workload.idPrefix);
    expect(logged.length).toBeGreaterThanOrEqual(workload.events.length);
    await expectRollupsExact(cluster, gateway.url, logged).catch((e: unknown) => {
      throw new Error(`seed ${seed}: ${(e as Error).message}`);
    });
    expect(processor.grep(/exited code=null signal=SIGKILL/).length).toBe(3);
    expect(processor.grep(/keyflow started/).length).toBe(4);

    // ---- with the processor dead, the rollups come from the partitions' checkpoints ----
    await cluster.waitForCheckpoints(TOPIC);
    await processor.kill('SIGKILL');
    await expectRollupsExact(cluster, gateway.url, logged, 20_000);
  }, 300_000);
});
