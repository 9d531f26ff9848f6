/**
 * vitest globalSetup: makes a Kafka broker available to every suite of the run.
 *
 * - `KAFKA_BROKERS` set: that cluster is used as is; nothing is started or stopped.
 * - otherwise the local KRaft broker (`infra/kafka/kafka.sh`) is started, or reused when it is
 *   already up, and `KAFKA_BROKERS=127.0.0.1:<KAFKA_PORT|9092>` is exported. The test workers
 *   (pool 'forks') are child processes spawned after this function returns, so they inherit
 *   `process.env`; the value is also `provide`d as `kafkaBrokers` for `inject()`.
 * - `KEYFLOW_TEST_KAFKA=off` starts nothing (for quick unit-only runs on a machine without Java);
 *   suites that need Kafka then fail in `requireKafka()`.
 *
 * Several vitest runs may share one broker (helpers in one working tree run their suites in
 * parallel): each run holds a lease file in the broker's data dir while it is alive, and the
 * broker is stopped by the last run to leave, only when a test run started it (a broker a
 * developer started by hand is left running). Redis, NATS and PostgreSQL are started by `.ci/run`.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestProject } from 'vitest/node';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string | undefined;
  }
}

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const script = join(repo, 'infra/kafka/kafka.sh');

function runScript(command: 'start' | 'stop' | 'status'): Promise<{ code: number; stdout: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn('bash', [script, command], { cwd: repo, stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      stdout += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code: code ?? 1, stdout }));
  });
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    // EPERM: the process exists but belongs to someone else
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Lease files of other live runs; stale ones (crashed runs) are removed. */
function otherLiveLeases(leaseDir: string): number {
  let live = 0;
  for (const name of existsSync(leaseDir) ? readdirSync(leaseDir) : []) {
    const pid = Number(name);
    if (pid === process.pid) continue;
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) live++;
    else rmSync(join(leaseDir, name), { force: true });
  }
  return live;
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const given = process.env.KAFKA_BROKERS;
  if (given !== undefined && given !== '') {
    project.provide('kafkaBrokers', given);
    return async () => {};
  }
  if (process.env.KEYFLOW_TEST_KAFKA === 'off') {
    project.provide('kafkaBrokers', undefined);
    return async () => {};
  }

  const dataDir = process.env.KAFKA_DATA_DIR ?? join(repo, '.kafka');
  const leaseDir = join(dataDir, 'leases');
  const startedMarker = join(dataDir, 'started-by-tests');
  const brokers = `127.0.0.1:${process.env.KAFKA_PORT ?? '9092'}`;

  const before = await runScript('status');
  const wasRunning = before.code === 0;
  const foreign = !wasRunning && before.stdout.includes('in use by a process not started from');
  if (!foreign) {
    // the lease comes first so that a run tearing down right now sees this one and keeps the broker
    mkdirSync(leaseDir, { recursive: true });
    writeFileSync(join(leaseDir, String(process.pid)), '');
    const started = await runScript('start');
    if (started.code !== 0) {
      rmSync(join(leaseDir, String(process.pid)), { force: true });
      throw new Error(
        `could not start the local Kafka broker (infra/kafka/kafka.sh start exited ${started.code}; it needs Java 17+ and Maven); ` +
          'set KAFKA_BROKERS to use another cluster, or KEYFLOW_TEST_KAFKA=off for a run without Kafka suites',
      );
    }
    if (!wasRunning) writeFileSync(startedMarker, `${process.pid}\n`);
  }
  // else: something else (another data dir, a developer's broker) serves the port; use it, own nothing

  process.env.KAFKA_BROKERS = brokers;
  project.provide('kafkaBrokers', brokers);

  return async () => {
    if (foreign) return;
    rmSync(join(leaseDir, String(process.pid)), { force: true });
    if (otherLiveLeases(leaseDir) > 0 || !existsSync(startedMarker)) return;
    rmSync(startedMarker, { force: true });
    await runScript('stop');
  };
}
