/**
 * A broker restart under a live Kafka log: appends fail with BROKER_UNAVAILABLE while it is down
 * and work again afterwards; a group member keeps delivering, without loss or repeats. Runs its
 * own broker (separate data dir and ports) so the shared broker of the run is never disturbed.
 */
import { spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKafkaLog } from '../../src/log/kafka/index.ts';
import type { EventLog, GroupConsumer, LogRecord } from '../../src/log/port.ts';
import { tpKey } from '../../src/log/port.ts';
import { ErrorCode } from '../../src/model/errors.ts';
import { tempDir, uniqueName, waitFor } from '../helpers/wait.ts';

const script = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'infra/kafka/kafka.sh');
const PORT = 19192;

function broker(command: 'start' | 'stop', dataDir: string): Promise<void> {
  return new Promise((res, rej) => {
    const child = spawn('bash', [script, command], {
      stdio: ['ignore', 'ignore', 'inherit'],
      env: { ...process.env, KAFKA_DATA_DIR: dataDir, KAFKA_PORT: String(PORT), KAFKA_CONTROLLER_PORT: String(PORT + 1) },
    });
    child.on('error', rej);
    child.on('close', (code) => (code === 0 ? res() : rej(new Error(`kafka.sh ${command} exited ${code}`))));
  });
}

describe('Kafka log across a broker restart', () => {
  let dir: { dir: string; remove(): Promise<void> };
  let log: EventLog;
  let consumer: GroupConsumer | undefined;

  beforeAll(async () => {
    dir = await tempDir('keyflow-kafka-restart-');
    await broker('start', dir.dir);
    log = createKafkaLog({
      brokers: [`127.0.0.1:${PORT}`],
      produceTimeoutMs: 3000,
      logLevel: 'nothing',
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1000,
      maxWaitTimeMs: 100,
    });
    await log.start();
  }, 120_000);

  afterAll(async () => {
    await consumer?.stop().catch(() => undefined);
    await log?.close();
    await broker('stop', dir.dir).catch(() => undefined);
    await dir?.remove();
  }, 60_000);

  it('rejects appends while the broker is down and recovers without losing or repeating records', async () => {
    const t = uniqueName('restart');
    await log.ensureTopics([{ name: t, partitions: 2 }]);
    const got: LogRecord[] = [];
    // as a PartitionHost does: the next offset is checkpointed with each batch and is where a
    // (re-)assigned partition starts — a consumer that lost its state in the outage is re-assigned
    const checkpoint = new Map<string, number>();
    consumer = log.consumer({
      groupId: uniqueName('g'),
      topics: [t],
      handlers: {
        async onAssigned(tps) {
          return new Map(tps.map((tp) => [tpKey(tp.topic, tp.partition), checkpoint.get(tpKey(tp.topic, tp.partition))]));
        },
        async onRevoked() {},
        async onBatch(batch) {
          got.push(...batch.records);
          checkpoint.set(tpKey(batch.topic, batch.partition), batch.records[batch.records.length - 1]!.offset + 1);
        },
      },
    });
    await consumer.start();
    await log.append(
      t,
      Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `a${i}` })),
    );
    await waitFor(() => got.length >= 20, { message: 'records before the restart', timeoutMs: 30_000 });

    await broker('stop', dir.dir);
    await expect(log.append(t, [{ key: 'k', value: 'lost' }])).rejects.toMatchObject({ code: ErrorCode.BROKER_UNAVAILABLE, retriable: true });
    await broker('start', dir.dir);

    // the first appends after the restart may still meet a broker that is catching up: retry as a caller would
    await waitFor(
      async () => {
        await log.append(
          t,
          Array.from({ length: 20 }, (_, i) => ({ key: `k${i}`, value: `b${i}` })),
        );
        return true;
      },
      { message: 'append after the restart', timeoutMs: 60_000, intervalMs: 500 },
    );
    const values = () => got.map((r) => new TextDecoder().decode(r.value));
    await waitFor(() => values().filter((v) => v.startsWith('b')).length >= 20, { message: 'records after the restart', timeoutMs: 60_000 });

    // nothing lost, nothing delivered twice (per partition, offsets strictly increase)
    const seen = new Set(got.map((r) => `${r.partition}/${r.offset}`));
    expect(seen.size).toBe(got.length);
    expect(values().filter((v) => v.startsWith('a')).length).toBe(20);
    const end = await log.endOffsets(t);
    expect(end.reduce((s, n) => s + n, 0)).toBeGreaterThanOrEqual(40);
    const read = [...(await log.read(t, 0, 0, 100)), ...(await log.read(t, 1, 0, 100))];
    expect(read.map((r) => new TextDecoder().decode(r.value)).filter((v) => v.startsWith('b'))).toHaveLength(
      values().filter((v) => v.startsWith('b')).length,
    );
  }, 180_000);
});
