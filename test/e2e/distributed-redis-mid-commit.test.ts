/**
 * Redis killed in the middle of a checkpoint commit, under load (issue 7): the checkpoint store's
 * commit script has reached Redis — applied or not, its reply never comes — when Redis dies. The
 * processor keeps going (bounded backlog), resumes committing by itself when Redis is back, and a
 * new processor that restores from what Redis holds then gives every window exactly once.
 *
 * The cluster reaches its private Redis through a proxy that watches the commands: the first
 * commit (the one command that names a partition's `:actors` and `:fin:` keys) sent after the
 * test arms it is forwarded, then Redis is SIGKILLed.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useCluster } from '../helpers/cluster-suite.ts';
import { createPrivateRedis, type PrivateRedis } from '../helpers/private-redis.ts';
import { createWorkload, expectExact, stream } from '../helpers/reference-recompute.ts';
import { startProxy, type TcpProxy } from '../helpers/tcp-proxy.ts';
import { waitFor } from '../helpers/wait.ts';

describe('distributed: Redis killed mid-commit under load', () => {
  let redis: PrivateRedis | undefined;
  let proxy: TcpProxy | undefined;
  let armed = false;
  let killedMidCommit = 0;

  beforeAll(async () => {
    redis = await createPrivateRedis();
    await redis.start();
    proxy = await startProxy(`127.0.0.1:${redis.port}`, {
      onClientData: (chunk) => {
        if (!armed) return;
        const text = chunk.toString('latin1');
        if (!text.includes(':actors') || !text.includes(':fin:')) return;
        armed = false;
        killedMidCommit++;
        // the commit is on its way to Redis (written by the proxy's pipe before this listener)
        setImmediate(() => void redis!.kill());
      },
    });
  }, 60_000);

  afterAll(async () => {
    await proxy?.close();
    await redis?.close();
  }, 60_000);

  const suite = useCluster({
    where: () => ({ redisUrl: `redis://127.0.0.1:${proxy!.port}` }),
    nodes: [
      { role: 'gateway', name: 'gw' },
      { role: 'processor', name: 'p1' },
    ],
  });

  it('resumes by itself, and a processor restored from Redis afterwards gives every window exactly once', async () => {
    const { cluster } = suite;
    const gateway = suite.node('gw');
    const processor = suite.node('p1');
    const workload = createWorkload({ seed: 29, keys: 96, idPrefix: `${cluster.keyPrefix}-mc` });
    const producer = await cluster.producer();
    const mark = processor.lines.length;
    await stream(cluster, producer, gateway.url, workload, {
      // a round spans 7.5 s of event time: its two halves (API and direct) race into the log, and
      // the reference counts no event late, so a round must stay inside the 10 s out-of-orderness
      rounds: 24,
      perRound: 150,
      pauseMs: 50,
      after: async (round) => {
        if (round === 3) armed = true;
        // Redis stays down until the processor has felt the lost commit
        if (round === 5) {
          await waitFor(() => killedMidCommit > 0, { timeoutMs: 30_000, message: 'a commit reached Redis and Redis was killed' });
          await processor.waitForLine(/"event":"checkpoint\.failed"/, { from: mark, timeoutMs: 30_000 });
        }
        if (round === 8) await redis!.start();
      },
      // the gateway's dedupe needs Redis too: publish only through Kafka while it is down
      direct: (round) => round >= 4 && round < 9,
    });
    expect(killedMidCommit).toBe(1);
    await expectExact(cluster, gateway.url, workload);
    // committing resumed by itself: a checkpoint after the outage covers the whole topic
    await cluster.waitForCheckpoints('events.iot.sensors', 60_000);
    // and what Redis holds is exact: a new processor restores those checkpoints (written across
    // the lost commit) and replays from their offsets
    await processor.kill('SIGKILL');
    await processor.restart();
    await expectExact(cluster, gateway.url, workload);
  }, 240_000);
});
