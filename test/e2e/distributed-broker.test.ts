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
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../helpers/cluster.ts';
import { useCluster } from '../helpers/cluster-suite.ts';
import { createWorkload, expectExact, stream } from '../helpers/reference-recompute.ts';

/** How long the broker stays dead. */
const OUTAGE_MS = 2000;
const script = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'infra/kafka/kafka.sh');

describe('distributed: Kafka broker killed and restarted mid-stream', () => {
  let dataDir = '';
  let port = 0;
  let env: Record<string, string> = {};

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

  // the private broker's hooks come first: it starts before the cluster and stops after its cleanup
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'keyflow-kafka-'));
    const controllerPort = await freePort();
    port = await freePort();
    env = { KAFKA_DATA_DIR: dataDir, KAFKA_PORT: String(port), KAFKA_CONTROLLER_PORT: String(controllerPort) };
    await kafkaSh('start');
  }, 240_000);

  afterAll(async () => {
    if (dataDir) {
      await kafkaSh('stop').catch(() => {});
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 120_000);

  const suite = useCluster({
    where: () => ({ brokers: [`127.0.0.1:${port}`] }),
    nodes: [
      { role: 'gateway', name: 'gw' },
      { role: 'processor', name: 'p1' },
    ],
  });

  it('gateway and processor reconnect by themselves; every window is exact', async () => {
    const { cluster } = suite;
    const [gateway, processor] = [suite.node('gw'), suite.node('p1')];
    const workload = createWorkload({ seed: 17, keys: 16, idPrefix: `${cluster.keyPrefix}-k` });
    const producer = await cluster.producer();
    await stream(cluster, producer, gateway.url, workload, {
      rounds: 10,
      perRound: 60,
      after: async (round) => {
        if (round === 3) {
          killBroker();
          // deliberate pacing: the outage lasts a while (the nodes keep working against a dead broker)
          await new Promise((r) => setTimeout(r, OUTAGE_MS));
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
