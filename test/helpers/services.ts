/**
 * Connection info for the real services suites run against. A suite that needs a service calls
 * `requireX()` at the top (module scope or `beforeAll`): it returns where the service is, or throws
 * an error saying how to provide it. We never skip a suite because a service is missing — in CI
 * (`CI=true`) or locally — so a missing service is a loud failure, not a silently green run.
 *
 * Kafka is started by the vitest global setup (`test/helpers/global-setup.ts`); Redis, NATS and
 * PostgreSQL by `.ci/run` (locally: start them yourself or point the variables elsewhere).
 */
import { createConnection } from 'node:net';

function missing(service: string, variable: string, how: string): Error {
  const where = process.env.CI === 'true' ? ' (CI=true: this is a CI set-up error, never skipped)' : '';
  return new Error(`${service} is required by this suite but ${variable} is not set${where}; ${how}`);
}

export interface KafkaInfo {
  /** Broker addresses, `host:port`. */
  brokers: string[];
}

/** The Kafka cluster of this run (`KAFKA_BROKERS`, exported by the global setup). */
export function requireKafka(): KafkaInfo {
  const value = process.env.KAFKA_BROKERS;
  if (value === undefined || value.trim() === '') {
    throw missing(
      'Kafka',
      'KAFKA_BROKERS',
      'the vitest global setup starts infra/kafka/kafka.sh unless KEYFLOW_TEST_KAFKA=off; or set KAFKA_BROKERS=host:port',
    );
  }
  return { brokers: value.split(',').map((b) => b.trim()).filter((b) => b !== '') };
}

/** Redis URL: `REDIS_URL`, else the local default `redis://127.0.0.1:6379` that `.ci/run` starts. */
export function requireRedis(): { url: string } {
  return { url: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379' };
}

/** NATS URL: `NATS_URL`, else the local default `nats://127.0.0.1:4222` that `.ci/run` starts. */
export function requireNats(): { url: string } {
  return { url: process.env.NATS_URL ?? 'nats://127.0.0.1:4222' };
}

/** PostgreSQL URL: `DATABASE_URL`, else the local default that `.ci/run` starts. */
export function requirePostgres(): { url: string } {
  return { url: process.env.DATABASE_URL ?? 'postgres://postgres:postgres@127.0.0.1:5432/postgres' };
}

/**
 * Resolves when `host:port` accepts a TCP connection; rejects with a clear message otherwise.
 * Use in `beforeAll` to turn "service down" into one readable failure instead of many timeouts.
 */
export function assertReachable(service: string, hostPort: string, timeoutMs = 3000): Promise<void> {
  const [host, portText] = splitHostPort(hostPort);
  return new Promise((resolve, reject) => {
    const socket = createConnection({ host, port: Number(portText) });
    const fail = (why: string) => {
      socket.destroy();
      reject(new Error(`${service} at ${hostPort} is not reachable (${why}); start it (see .ci/run) or set its URL variable`));
    };
    socket.setTimeout(timeoutMs, () => fail('timeout'));
    socket.once('error', (e) => fail(e.message));
    socket.once('connect', () => {
      socket.end();
      resolve();
    });
  });
}

/** `host:port` of a URL or a bare address. */
export function hostPortOf(urlOrAddress: string, defaultPort: number): string {
  if (urlOrAddress.includes('://')) {
    const u = new URL(urlOrAddress);
    return `${u.hostname}:${u.port === '' ? defaultPort : u.port}`;
  }
  return urlOrAddress.includes(':') ? urlOrAddress : `${urlOrAddress}:${defaultPort}`;
}

function splitHostPort(hostPort: string): [string, string] {
  const i = hostPort.lastIndexOf(':');
  return [hostPort.slice(0, i).replace(/^\[|\]$/g, ''), hostPort.slice(i + 1)];
}
