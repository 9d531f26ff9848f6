/**
 * A Java producer writes Avro and Protobuf events straight into keyflow's Kafka topics in the
 * Confluent wire format (test/java/wire-producer: registers its schema through keyflow's Schema
 * Registry REST subset with a Bearer token, encodes with Apache Avro / protobuf-java, prefixes
 * magic byte + schema id): a distributed keyflow node (Kafka, Redis, NATS) decodes them and its
 * windows equal the reference model's; Kafka's Java partitioner puts each key where keyflow's does.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type App, buildApp } from '../../src/app/app.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import type { WindowResult } from '../../src/model/index.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { freePort } from '../helpers/e2e.ts';
import { gql, WINDOWS, type WindowResultOut } from '../helpers/graphql-client.ts';
import { deleteTopicsWithPrefix } from '../helpers/kafka.ts';
import { diffResults, type RefEvent, referenceWindows } from '../helpers/reference-model.ts';
import { requireKafka, requireNats, requireRedis } from '../helpers/services.ts';
import { waitFor } from '../helpers/wait.ts';

const DIR = join(dirname(fileURLToPath(import.meta.url)), '../java/wire-producer');
const JAR = join(DIR, 'target/wire-producer-1.jar');
const TOKEN = 'java-wire-token';

function newest(dir: string): number {
  return Math.max(...readdirSync(dir, { withFileTypes: true }).map((e) => (e.isDirectory() ? newest(join(dir, e.name)) : statSync(join(dir, e.name)).mtimeMs)));
}

/** Builds the producer with Maven unless target/ holds a jar newer than pom.xml and every source. */
function ensureBuilt(): void {
  const sourcesAt = Math.max(statSync(join(DIR, 'pom.xml')).mtimeMs, newest(join(DIR, 'src')));
  if (existsSync(JAR) && existsSync(join(DIR, 'target/dependency')) && statSync(JAR).mtimeMs >= sourcesAt) return;
  const r = spawnSync('mvn', ['-q', '-B', '-Dstyle.color=never', 'package', 'dependency:copy-dependencies', '-DskipTests'], { cwd: DIR, stdio: ['ignore', 'inherit', 'inherit'] });
  if (r.error || r.status !== 0) throw new Error(`building test/java/wire-producer failed (Maven and Java 17 are needed): ${r.error?.message ?? `mvn exited ${r.status}`}`);
}

/** Runs the producer; resolves with its schema id and where each record went. */
function produce(args: Record<string, string>): Promise<{ schemaId: number; records: { key: string; partition: number; offset: number }[] }> {
  const java = process.env.JAVA_HOME ? join(process.env.JAVA_HOME, 'bin/java') : 'java';
  const proc = spawn(java, ['-Xmx256m', '-XX:TieredStopAtLevel=1', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-cp', `${JAR}:${join(DIR, 'target/dependency')}/*`, 'dev.keyflow.wire.WireProducer', ...Object.entries(args).flatMap(([k, v]) => [`--${k}`, v])], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  proc.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  proc.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  return new Promise((resolve, reject) => {
    proc.on('error', reject);
    proc.on('close', (code) => {
      if (code !== 0) return reject(new Error(`the Java producer exited ${code}: ${err.slice(-2000)}`));
      const lines = out.trim().split('\n');
      resolve({
        schemaId: Number(lines[0]!.split(' ')[1]),
        records: lines.slice(1).map((l) => {
          const [key, partition, offset] = l.split(' ');
          return { key: key!, partition: Number(partition), offset: Number(offset) };
        }),
      });
    });
  });
}

describe('a Java producer writing the Confluent wire format into keyflow (distributed, real Kafka)', () => {
  const kafka = requireKafka();
  const prefix = `jwp-${randomUUID().slice(0, 8)}`;
  let app: App;
  let url: string;
  const minute = Math.floor(Date.now() / 60_000) * 60_000 - 180_000;

  beforeAll(async () => {
    ensureBuilt();
    const port = await freePort();
    const config = loadConfig({
      KAFKA_BROKERS: kafka.brokers.join(','),
      REDIS_URL: requireRedis().url,
      NATS_URL: requireNats().url,
      KEYFLOW_TOPIC_PREFIX: `${prefix}.`,
      KEYFLOW_KEY_PREFIX: prefix,
      KAFKA_GROUP_ID: prefix,
      KAFKA_SESSION_TIMEOUT_MS: '6000',
      KEYFLOW_PORT: String(port),
      KEYFLOW_HOST: '127.0.0.1',
      KEYFLOW_API_TOKENS: TOKEN,
      KEYFLOW_SINKS: 'none',
      KEYFLOW_EVENT_TYPES_POLL_MS: '200',
    });
    app = await buildApp(config, { logger: silentLogger() });
    await app.start();
    url = app.url.replace('localhost', '127.0.0.1');
  }, 180_000);
  afterAll(async () => {
    await app?.stop();
    await deleteTopicsWithPrefix(kafka.brokers, `${prefix}.`);
  }, 60_000);

  const auth = { headers: { authorization: `Bearer ${TOKEN}` } };
  const register = (input: Record<string, unknown>) => gql(url, 'mutation($input: EventTypeInput!) { registerEventType(input: $input) { changed } }', { input }, auth);

  async function windowsOf(eventType: string, key: string): Promise<WindowResult[]> {
    const d = await gql<{ windows: WindowResultOut[] }>(url, WINDOWS, { eventType, key, window: 'tumbling-1m' }, auth);
    return d.windows.map((w) => ({ ...w, windowStart: Date.parse(w.windowStart), windowEnd: Date.parse(w.windowEnd) }) as unknown as WindowResult);
  }

  it.each([
    { format: 'avro', name: 'order.java', topic: 'events.orders-java', keyPath: 'payload.orderId', valuePath: 'payload.amount', timestampPath: 'payload.ts', field: 'amount' },
    { format: 'protobuf', name: 'reading.java', topic: 'events.readings-java', keyPath: 'payload.sensor', valuePath: 'payload.celsius', timestampPath: 'payload.at', field: 'celsius' },
  ])('$format events are windowed as the reference model says', async (t) => {
    await register({ name: t.name, topic: t.topic, partitions: 3, format: t.format.toUpperCase(), keyPaths: [t.keyPath], valuePath: t.valuePath, timestampPath: t.timestampPath, windows: ['tumbling-1m'] });
    const events = [
      ['k-1', 10.5, 0],
      ['k-2', 3, 4_000],
      ['k-1', 7.25, 21_000],
      ['k-1', -2, 65_000],
      ['k-2', 100, 70_000],
    ].map(([key, value, dt]) => ({ key: key as string, value: value as number, ts: minute + (dt as number) }));
    const { schemaId, records } = await produce({
      registry: url.replace(/\/graphql$/, ''),
      token: TOKEN,
      brokers: kafka.brokers.join(','),
      topic: `${prefix}.${t.topic}`,
      subject: `${t.topic}-value`,
      format: t.format,
      events: events.map((e) => `${e.key}:${e.value}:${e.ts}`).join(','),
    });
    expect(schemaId).toEqual(expect.any(Number));
    // Kafka's Java partitioner and keyflow's agree on every key
    for (const r of records) expect(r.partition).toBe(partitionForKey(r.key, 3));
    for (const key of ['k-1', 'k-2']) {
      const mine = events.filter((e) => e.key === key);
      const expected = referenceWindows(
        mine.map((e): RefEvent => ({ eventType: t.name, key, timestamp: e.ts, userId: null, payload: { [t.field]: e.value } })),
        { specs: ['tumbling-1m'], valueField: () => t.field, maxOutOfOrderMs: 10_000 },
      ).results;
      await waitFor(async () => diffResults(await windowsOf(t.name, key), expected, { revision: false, final: false }).length === 0, { timeoutMs: 60_000 });
    }
  }, 180_000);
});
