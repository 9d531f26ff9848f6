/**
 * Distributed mode, end to end, on real Kafka + Redis + NATS with nodes as separate processes:
 *
 * - events produced straight into Kafka by a plain kafkajs producer and events published through
 *   the gateway API are processed alike;
 * - the only processor is SIGKILLed at random points mid-stream and restarted, several times;
 *   every window of every key ends exactly equal to a recomputation from the raw events;
 * - queries through a gateway that runs no processor reach the owner over NATS, and while the
 *   processor is dead they are answered from the checkpoint, without an error.
 */
import { describe, expect, it } from 'vitest';
import { useCluster } from '../helpers/cluster-suite.ts';
import { diffResults } from '../helpers/reference-model.ts';
import { createWorkload, eventsInLog, expectedWindows, expectExact, readWindows, killAfterRounds, rng, stream, TOPIC } from '../helpers/reference-recompute.ts';
import { waitFor } from '../helpers/wait.ts';

/** Pacing, not waiting for something: where inside a round the kill lands. */
const CHECKPOINT_FALLBACK = /answered from the latest checkpoint/;

describe('distributed: processor killed mid-stream', () => {
  const suite = useCluster({
    nodes: [
      { role: 'gateway', name: 'gw', env: { KEYFLOW_LOG_LEVEL: 'debug' } },
      { role: 'processor', name: 'p1' },
    ],
  });

  it('SIGKILLed at random points and restarted, every window ends exact (Kafka producer + API events)', async () => {
    const { cluster } = suite;
    const [gateway, processor] = [suite.node('gw'), suite.node('p1')];
    const seed = Date.now() % 1_000_000;
    const rand = rng(seed);
    const workload = createWorkload({ seed, keys: 24, idPrefix: cluster.keyPrefix });
    const producer = await cluster.producer();
    const killer = killAfterRounds(processor, new Set([3 + Math.floor(rand() * 4), 10 + Math.floor(rand() * 4), 17 + Math.floor(rand() * 4)]), rand);
    // half of each round straight into Kafka, half through the API
    await stream(cluster, producer, gateway.url, workload, {
      rounds: 24,
      perRound: 80,
      after: killer.after,
    });
    expect(await killer.done()).toBe(3);
    await expectExact(cluster, gateway.url, workload).catch((e: unknown) => {
      throw new Error(`seed ${seed}: ${(e as Error).message}`);
    });
    // the processor really went through the restarts and replayed from checkpoints
    expect(processor.grep(/exited code=null signal=SIGKILL/).length).toBe(3);
    expect(processor.grep(/keyflow started/).length).toBe(4);

    // ---- queries through the gateway reach the owner over NATS ----
    const expected = expectedWindows(await eventsInLog(cluster, workload.idPrefix));
    const before = gateway.lines.length;
    expect(diffResults(await readWindows(cluster, gateway.url, workload.keys), expected, { final: false })).toEqual([]);
    expect(gateway.grep(CHECKPOINT_FALLBACK, before)).toEqual([]);

    // ---- while the processor is dead, the same queries answer from the checkpoint ----
    await cluster.waitForCheckpoints(TOPIC); // a checkpoint round has covered everything
    await processor.kill('SIGKILL');
    const during = gateway.lines.length;
    const fromCheckpoint = await readWindows(cluster, gateway.url, workload.keys);
    expect(diffResults(fromCheckpoint, expected, { final: false })).toEqual([]);
    await waitFor(() => gateway.grep(CHECKPOINT_FALLBACK, during).length >= workload.keys.length, {
      timeoutMs: 5000,
      message: 'gateway logged checkpoint answers',
    });
  }, 240_000);
});
