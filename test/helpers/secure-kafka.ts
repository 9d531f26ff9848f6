/**
 * A second, secured Kafka broker for the Kafka security tests: `infra/kafka/kafka.sh start` with
 * KAFKA_SECURE=1 in a temp data dir on free ports — a SASL_SSL listener (SCRAM-SHA-256/512, and
 * OAUTHBEARER with Kafka's unsecured-JWT validator) and an SSL listener that requires a client
 * certificate, both with certificates from a CA generated for this broker. `stop()` stops the JVM
 * and deletes the data dir (certificates included).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tempDir } from './wait.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const script = join(repo, 'infra/kafka/kafka.sh');

export interface SecureKafka {
  /** SASL_SSL listener (`127.0.0.1:port`). */
  saslBrokers: string;
  /** SSL listener requiring a client certificate. */
  mtlsBrokers: string;
  /** PEM files: ca.pem (the CA), client.pem / client.key (a client certificate the broker trusts). */
  tlsDir: string;
  scramUser: string;
  scramPassword: string;
  stop(): Promise<void>;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', () => res(false));
    s.listen(port, '127.0.0.1', () => s.close(() => res(true)));
  });
}

/** A base port whose next three are free too (SASL_SSL, controller, mTLS, inter-broker). */
async function freePorts(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(Math.random() * 20_000);
    const free = await Promise.all([0, 1, 2, 3].map((i) => portFree(base + i)));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no four consecutive free ports found');
}

function run(command: 'start' | 'stop', env: NodeJS.ProcessEnv, timeoutMs: number): Promise<{ code: number; output: string }> {
  return new Promise((res, reject) => {
    const child = spawn('bash', [script, command], { cwd: repo, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString();
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      res({ code: code ?? 1, output });
    });
  });
}

export async function startSecureKafka(): Promise<SecureKafka> {
  const data = await tempDir('keyflow-secure-kafka-');
  const port = await freePorts();
  const scramUser = 'keyflow-test';
  const scramPassword = `pw-${Math.random().toString(36).slice(2)}`;
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KAFKA_SECURE: '1',
    KAFKA_DATA_DIR: data.dir,
    KAFKA_PORT: String(port),
    KAFKA_CONTROLLER_PORT: String(port + 1),
    KAFKA_MTLS_PORT: String(port + 2),
    KAFKA_INTERNAL_PORT: String(port + 3),
    KAFKA_SCRAM_USER: scramUser,
    KAFKA_SCRAM_PASSWORD: scramPassword,
    KAFKA_START_TIMEOUT: '90',
  };
  let stopped = false;
  // If the test process exits without afterAll (a crash, Ctrl-C), do not leave the JVM behind.
  const killOnExit = (): void => {
    try {
      process.kill(Number(readFileSync(join(data.dir, 'kafka.pid'), 'utf8').trim()), 'SIGKILL');
    } catch {
      // not started, or already gone
    }
  };
  process.once('exit', killOnExit);
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.off('exit', killOnExit);
    await run('stop', env, 60_000);
    await data.remove();
  };
  const started = await run('start', env, 100_000);
  if (started.code !== 0) {
    await stop();
    throw new Error(`the secured broker did not start (exit ${started.code}):\n${started.output}`);
  }
  return {
    saslBrokers: `127.0.0.1:${port}`,
    mtlsBrokers: `127.0.0.1:${port + 2}`,
    tlsDir: join(data.dir, 'tls'),
    scramUser,
    scramPassword,
    stop,
  };
}
