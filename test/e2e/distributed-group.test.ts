/**
 * Distributed mode with two processors in one consumer group, on real Kafka + Redis + NATS:
 *
 * - one processor is SIGKILLed mid-stream: the survivor takes its partitions over from their
 *   checkpoints, and every window ends exactly equal to a recomputation from the raw events;
 * - a processor frozen (SIGSTOP) past the group session timeout loses its partitions; thawed
 *   (SIGCONT), it is a zombie whose checkpoint writes are fenced by the partition epoch
 *   (`partition.fenced` in its log), and the results stay exact.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { useCluster } from '../helpers/cluster-suite.ts';
import { createWorkload, expectExact, stream, TOPIC } from '../helpers/reference-recompute.ts';

const ASSIGNED = /"msg":"assigned \d+ partitions"/;

describe('distributed: two processors', () => {
  const suite = useCluster({
    // long enough that a frozen processor almost surely holds uncommitted work
    env: { KEYFLOW_CHECKPOINT_INTERVAL_MS: '2000' },
    nodes: [
      { role: 'gateway', name: 'gw' },
      { role: 'processor', name: 'p1' },
      { role: 'processor', name: 'p2' },
    ],
  });

  beforeAll(async () => {
    // p1 gave half of its partitions to p2
    await suite.node('p1').waitForLine(/"msg":"released \d+ partitions"/, { timeoutMs: 30_000 });
  }, 60_000);

  it('one SIGKILLed mid-stream: the survivor takes its partitions and results are exact', async () => {
    const { cluster } = suite;
    const [gateway, p1, p2] = [suite.node('gw'), suite.node('p1'), suite.node('p2')];
    const workload = createWorkload({ seed: 7, keys: 24, idPrefix: `${cluster.keyPrefix}-a` });
    const producer = await cluster.producer();
    const mark = p1.lines.length;
    await stream(cluster, producer, gateway.url, workload, {
      rounds: 16,
      perRound: 80,
      after: async (round) => {
        if (round === 6) await p2.kill('SIGKILL');
      },
    });
    // the survivor was assigned the dead member's partitions
    await p1.waitForLine(ASSIGNED, { from: mark, timeoutMs: 30_000 });
    await expectExact(cluster, gateway.url, workload);
    expect(p2.alive()).toBe(false);
  }, 180_000);

  it('a processor SIGSTOPped past the session timeout is fenced after SIGCONT; results unchanged', async () => {
    const { cluster } = suite;
    const [gateway, p1, p2] = [suite.node('gw'), suite.node('p1'), suite.node('p2')];
    const rejoin = p1.lines.length;
    await p2.restart();
    await p1.waitForLine(/"msg":"released \d+ partitions"/, { from: rejoin, timeoutMs: 30_000 });
    const workload = createWorkload({ seed: 11, keys: 24, idPrefix: `${cluster.keyPrefix}-b`, base: Date.UTC(2026, 0, 1, 14, 0, 0) });
    const producer = await cluster.producer();
    // freeze the member that owns event partitions of the workload's topic, so it holds uncommitted work
    const [victim, survivor] = p1.owned(TOPIC).length > 0 ? [p1, p2] : [p2, p1];
    expect(victim.owned(TOPIC).length).toBeGreaterThan(0);
    const victimMark = victim.lines.length;
    const survivorMark = survivor.lines.length;
    await stream(cluster, producer, gateway.url, workload, {
      rounds: 16,
      perRound: 80,
      after: async (round) => {
        if (round === 5) await victim.kill('SIGSTOP');
        if (round === 7) {
          // past the session timeout: the survivor was assigned the frozen member's partitions (and
          // took them under new epochs before logging it, so the frozen member's commits are stale)
          await survivor.waitForLine(ASSIGNED, { from: survivorMark, timeoutMs: 30_000 });
        }
        if (round === 9) await victim.kill('SIGCONT');
      },
    });
    await victim.waitForLine(/"event":"partition\.fenced"/, { from: victimMark, timeoutMs: 30_000 });
    await expectExact(cluster, gateway.url, workload);
    expect(victim.alive()).toBe(true);
    const takenBack = [p1, p2].map((n) => `${n.name}: ${n.grep(/taken back from its checkpoint/).length}`).join(', ');
    console.info(`fenced: ${victim.grep(/"event":"partition\.fenced"/, victimMark).length} on ${victim.name}; fenced partitions taken back — ${takenBack}`);
  }, 180_000);
});
