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
import { createWorkload, diffAgainstReference, eventsInLog, stream, WINDOWS } from '../helpers/reference-recompute.ts';
import { waitFor } from '../helpers/wait.ts';

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
    // The reference is what the log holds: a plain producer retrying across the crash may have
    // written an event twice (Kafka's at-least-once producer), and the platform must count the log
    // exactly once. Events published through the API must not be duplicated (idempotent producer + dedupe).
    const logged = await eventsInLog(cluster, `${cluster.keyPrefix}-k`);
    const seen = new Map<string, number>();
    for (const e of logged) seen.set(e.eventId, (seen.get(e.eventId) ?? 0) + 1);
    const missing = workload.events.filter((e) => !seen.has(e.eventId)).map((e) => e.eventId);
    const duplicatedViaGateway = [...seen].filter(([id, n]) => n > 1 && workload.viaGateway.has(id)).map(([id]) => id);
    const duplicatedDirect = [...seen].filter(([id, n]) => n > 1 && !workload.viaGateway.has(id)).map(([id]) => id);
    console.info(`broker crash: ${logged.length} records for ${workload.events.length} events; duplicated direct: ${duplicatedDirect.length}, via gateway: ${duplicatedViaGateway.length}`);
    expect(missing).toEqual([]);
    expect(duplicatedViaGateway).toEqual([]);
    let diff: string[] = [];
    await waitFor(
      async () => {
        diff = await diffAgainstReference(cluster, gateway.url, logged, workload.keys);
        return diff.length === 0;
      },
      { timeoutMs: 90_000, intervalMs: 1000, message: 'windows exact' },
    ).catch(() => {
      throw new Error(`windows not exact; first differences:\n${diff.slice(0, 20).join('\n')}`);
    });
    expect(processor.alive()).toBe(true);
    expect(gateway.alive()).toBe(true);
  }, 240_000);
});
