/**
 * Distributed mode through a Kafka broker crash: a private single-node broker (never the run's
 * shared one) is killed with SIGKILL mid-stream and started again; gateway and processor
 * reconnect by themselves, and every window ends exactly equal to a recomputation from the raw
 * events.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, type ClusterNode, createCluster, freePort } from '../helpers/cluster.ts';
import { createWorkload, expectExact, stream, WINDOWS } from '../helpers/reference-recompute.ts';

const script = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'infra/kafka/kafka.sh');

describe('distributed: Kafka broker killed and restarted mid-stream', () => {
  let dataDir = '';
  let env: Record<string, string> = {};
  let cluster: Cluster;
  let gateway: ClusterNode;
  let processor: ClusterNode;
  let failed = false;

  function kafkaSh(command: 'start' | 'stop'): Promise<void> {
    return new Promise((res, rej) => {
      const child = spawn('bash', [script, command], { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
      let err = '';
      child.stderr.on('data', (c: Buffer) => {
        err += c.toString();
      });
      child.on('error', rej);
      child.on('close', (code) => (code === 0 ? res() : rej(new Error(`kafka.sh ${command} exited ${code}: ${err}`))));
    });
  }

  function killBroker(): void {
    const pid = Number(readFileSync(join(dataDir, 'kafka.pid'), 'utf8').trim());
    process.kill(pid, 'SIGKILL');
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keyflow-kafka-'));
    const [port, controllerPort] = [await freePort(), await freePort()];
    env = { KAFKA_DATA_DIR: dataDir, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
    await kafkaSh('start');
    cluster = await createCluster({
      brokers: [`127.0.0.1:${port}`],
      env: {
        KEYFLOW_WINDOWS: WINDOWS.join(','),
        KEYFLOW_IDLE_TIMEOUT_MS: '600000',
        KEYFLOW_CHECKPOINT_INTERVAL_MS: '300',
      },
    });
    gateway = await cluster.startNode('gateway', 'gw');
    processor = await cluster.startNode('processor', 'p1');
  }, 240_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });

  afterAll(async () => {
    if (failed && cluster) console.error(cluster.dumpLogs());
    await cluster?.cleanup().catch(() => {});
    if (dataDir) {
      await kafkaSh('stop').catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  it('gateway and processor reconnect by themselves; every window is exact', async () => {
    const workload = createWorkload({ seed: 17, keys: 16, idPrefix: `${cluster.keyPrefix}-k` });
    const producer = await cluster.producer();
    await stream(cluster, producer, gateway.url, workload, {
      rounds: 10,
      perRound: 60,
      after: async (round) => {
        if (round === 3) {
          killBroker();
          await new Promise((r) => setTimeout(r, 2000));
          await kafkaSh('start');
        }
      },
    });
    // a plain producer retrying across the crash may write an event twice; expectExact takes the
    // log as the reference and checks API events were not duplicated
    await expectExact(cluster, gateway.url, workload, 90_000);
    expect(processor.alive()).toBe(true);
    expect(gateway.alive()).toBe(true);
  }, 240_000);
});
