/**
 * The distributed services for `--kafka`: the local broker (started through infra/kafka/kafka.sh
 * when it is not running, held with a lease file like the vitest global setup so that a test run
 * finishing meanwhile does not stop it), Redis and NATS at their local defaults.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './child.ts';

export const BROKERS = process.env.KAFKA_BROKERS || '127.0.0.1:9092';
export const REDIS_URL = process.env.REDIS_URL || 'redis://127.0.0.1:6379';
export const NATS_URL = process.env.NATS_URL || 'nats://127.0.0.1:4222';

const script = join(REPO, 'infra/kafka/kafka.sh');
const dataDir = process.env.KAFKA_DATA_DIR ?? join(REPO, '.kafka');
const leaseDir = join(dataDir, 'leases');
const startedMarker = join(dataDir, 'started-by-tests');

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Makes sure the local broker runs (unless KAFKA_BROKERS names another cluster); returns a release function. */
export function holdBroker(): () => void {
  if (process.env.KAFKA_BROKERS) return () => {};
  mkdirSync(leaseDir, { recursive: true });
  const lease = join(leaseDir, String(process.pid));
  writeFileSync(lease, '');
  const status = spawnSync('bash', [script, 'status'], { cwd: REPO, encoding: 'utf8' });
  let startedHere = false;
  if (status.status !== 0) {
    process.stdout.write('  (starting the local Kafka broker: infra/kafka/kafka.sh start)\n');
    const r = spawnSync('bash', [script, 'start'], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) {
      rmSync(lease, { force: true });
      throw new Error(`infra/kafka/kafka.sh start exited ${r.status}`);
    }
    // the same marker as the test setup: whoever leaves last stops the broker
    writeFileSync(startedMarker, `${process.pid}\n`);
    startedHere = true;
  }
  return () => {
    rmSync(lease, { force: true });
    const others = (existsSync(leaseDir) ? readdirSync(leaseDir) : []).filter((n) => Number(n) !== process.pid && alive(Number(n)));
    if (startedHere && others.length === 0 && existsSync(startedMarker)) {
      rmSync(startedMarker, { force: true });
      spawnSync('bash', [script, 'stop'], { cwd: REPO, stdio: 'ignore' });
    }
  };
}
