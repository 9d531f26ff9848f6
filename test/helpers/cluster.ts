/**
 * A distributed keyflow cluster for e2e tests: gateway and processor nodes as child processes
 * (`node --import tsx src/cli/main.ts <role>`) on the run's Kafka broker, Redis and NATS, isolated
 * from every other suite by a unique topic prefix, Redis key prefix, NATS subject prefix and
 * consumer group. Nodes can be killed (SIGKILL), frozen (SIGSTOP) and thawed (SIGCONT); their
 * logs are kept for assertions and printed when a test fails. `cleanup()` stops every node and
 * deletes the topics, the consumer group and the Redis keys of the cluster.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { Kafka, logLevel, Partitioners, type Producer } from 'kafkajs';
import { deleteTopicsWithPrefix } from './kafka.ts';
import { requireKafka, requireNats, requireRedis } from './services.ts';
import { uniqueName, waitFor } from './wait.ts';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export type NodeRole = 'gateway' | 'processor' | 'start';

export interface ClusterNode {
  readonly name: string;
  readonly role: NodeRole;
  /** GraphQL URL (gateway and start roles). */
  readonly url: string;
  readonly pid: number;
  /** Every log line of every run of this node (restarts append). */
  readonly lines: string[];
  /** Whether the process is running (possibly stopped by SIGSTOP). */
  alive(): boolean;
  /** Sends a signal; SIGKILL also waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Graceful stop (SIGTERM), waits for the exit. */
  stop(): Promise<void>;
  /** Starts the node again (after a kill or stop) and waits until it is ready. */
  restart(): Promise<void>;
  /** Resolves with the first log line (from line index `from` on) matching `re`. */
  waitForLine(re: RegExp, options?: { from?: number; timeoutMs?: number }): Promise<string>;
  /** Log lines (from index `from`) that match `re`. */
  grep(re: RegExp, from?: number): string[];
  /** Partitions of `topic` this node owns according to its current run's assignment log lines. */
  owned(topic: string): number[];
}

export interface ClusterOptions {
  /** Environment for every node (overrides the defaults). */
  env?: Record<string, string>;
  /** Redis URL of this cluster. @default requireRedis().url */
  redisUrl?: string;
  /** Kafka brokers of this cluster. @default requireKafka().brokers */
  brokers?: string[];
}

export interface Cluster {
  /** Topic prefix: the Kafka topic of `events.iot.sensors` is `${topicPrefix}events.iot.sensors`. */
  readonly topicPrefix: string;
  readonly keyPrefix: string;
  readonly groupId: string;
  readonly brokers: string[];
  readonly nodes: ClusterNode[];
  /** Starts a node and waits until it is ready (gateway: /ready is 200; processor: started and assigned). */
  startNode(role: NodeRole, name: string, env?: Record<string, string>): Promise<ClusterNode>;
  /** A plain kafkajs producer (Java-compatible default partitioner) on the broker, connected. */
  producer(): Promise<Producer>;
  /** The real Kafka topic name of a keyflow topic name. */
  topic(name: string): string;
  /** Posts a GraphQL operation; throws on transport errors, returns `{ data, errors }`. */
  graphql<T = Record<string, unknown>>(url: string, query: string, variables?: Record<string, unknown>): Promise<{ data?: T; errors?: { message: string; extensions?: { code?: string } }[] }>;
  /**
   * Resolves when the group's committed offsets of keyflow topic `name` reach the end of every
   * partition. The processor commits the group offset right after each checkpoint, so this is
   * "a checkpoint covers everything in the topic now" (and what it wrote first: finals, dead letters).
   */
  waitForCheckpoints(name: string, timeoutMs?: number): Promise<void>;
  /** Every node's log, for a failing test's output. */
  dumpLogs(lastLines?: number): string;
  /** Kills every node and deletes topics, consumer group, Redis keys and the data dir. */
  cleanup(): Promise<void>;
}

/** A TCP port nobody listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createServer();
    srv.once('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => res(port));
    });
  });
}

export async function createCluster(options: ClusterOptions = {}): Promise<Cluster> {
  const brokers = options.brokers ?? requireKafka().brokers;
  const redisUrl = options.redisUrl ?? requireRedis().url;
  const natsUrl = requireNats().url;
  const id = uniqueName('kfd');
  const topicPrefix = `${id}.`;
  const keyPrefix = id;
  const groupId = `${id}-processors`;
  const dataDir = await mkdtemp(join(tmpdir(), 'keyflow-dist-'));
  const nodes: ClusterNode[] = [];
  const producers: Producer[] = [];
  const kafka = new Kafka({ brokers, clientId: `${id}-test`, logLevel: logLevel.NOTHING });

  const baseEnv: Record<string, string> = {
    KAFKA_BROKERS: brokers.join(','),
    REDIS_URL: redisUrl,
    NATS_URL: natsUrl,
    KEYFLOW_KEY_PREFIX: keyPrefix,
    KEYFLOW_TOPIC_PREFIX: topicPrefix,
    KAFKA_GROUP_ID: groupId,
    KAFKA_SESSION_TIMEOUT_MS: '6000',
    KEYFLOW_DATA_DIR: dataDir,
    KEYFLOW_LOG_LEVEL: 'info',
    KEYFLOW_HOST: '127.0.0.1',
    KEYFLOW_TEST_HOOKS: 'true',
    ...options.env,
  };

  function startProcess(role: NodeRole, name: string, env: Record<string, string>, lines: string[]): ChildProcess {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', role], {
      cwd: repo,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env, KEYFLOW_NODE_ID: name },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let partial = '';
    const onData = (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const parts = text.split('\n');
      partial = parts.pop() ?? '';
      for (const p of parts) if (p.trim() !== '') lines.push(p);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.on('exit', (code, signal) => lines.push(`[test] ${name} exited code=${code} signal=${signal}`));
    return child;
  }

  async function startNode(role: NodeRole, name: string, extra: Record<string, string> = {}): Promise<ClusterNode> {
    const lines: string[] = [];
    const port = role === 'processor' ? 0 : await freePort();
    const env = { ...baseEnv, KEYFLOW_PORT: String(port), ...extra };
    let child: ChildProcess;
    let exited: Promise<void>;

    const node: ClusterNode = {
      name,
      role,
      url: role === 'processor' ? '' : `http://127.0.0.1:${port}/graphql`,
      get pid() {
        return child.pid ?? -1;
      },
      lines,
      alive: () => child.exitCode === null && child.signalCode === null,
      async kill(signal = 'SIGKILL') {
        if (!node.alive()) return;
        child.kill(signal);
        if (signal === 'SIGKILL') await exited;
      },
      async stop() {
        if (!node.alive()) return;
        child.kill('SIGCONT');
        child.kill('SIGTERM');
        const t = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(t);
      },
      async restart() {
        if (node.alive()) throw new Error(`${name} is still running`);
        await launch();
      },
      waitForLine(re, o = {}) {
        return waitFor(() => lines.slice(o.from ?? 0).find((l) => re.test(l)), {
          timeoutMs: o.timeoutMs ?? 30_000,
          intervalMs: 50,
          message: `${name}: log line ${re}`,
        });
      },
      grep: (re, from = 0) => lines.slice(from).filter((l) => re.test(l)),
      owned(topic) {
        const mine = new Set<number>();
        for (const line of lines) {
          if (line.startsWith(`[test] ${name} exited`)) mine.clear();
          if (!line.startsWith('{')) continue;
          const entry = JSON.parse(line) as { event?: string; partitions?: Record<string, number[]> };
          const ps = entry.partitions?.[topic];
          if (!ps) continue;
          if (entry.event === 'partition.assigned') for (const p of ps) mine.add(p);
          if (entry.event === 'partition.revoked') for (const p of ps) mine.delete(p);
        }
        return [...mine].sort((a, b) => a - b);
      },
    };

    async function launch(): Promise<void> {
      const from = lines.length;
      child = startProcess(role, name, env, lines);
      exited = new Promise((r) => child.once('exit', () => r()));
      const started = node.waitForLine(/keyflow started/, { from, timeoutMs: 60_000 });
      const died = exited.then(() => {
        throw new Error(`${name} exited during start-up:\n${lines.slice(from).join('\n')}`);
      });
      await Promise.race([started, died]);
      if (role !== 'processor') {
        await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/ready`)).status === 200, {
          timeoutMs: 30_000,
          intervalMs: 100,
          message: `${name} /ready`,
        });
      }
    }

    nodes.push(node);
    await launch();
    return node;
  }

  const cluster: Cluster = {
    topicPrefix,
    keyPrefix,
    groupId,
    brokers,
    nodes,
    startNode,
    topic: (name) => topicPrefix + name,
    async producer() {
      const p = kafka.producer({ createPartitioner: Partitioners.DefaultPartitioner, allowAutoTopicCreation: false });
      await p.connect();
      producers.push(p);
      return p;
    },
    async graphql(url, query, variables) {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ query, variables }),
      });
      return (await res.json()) as never;
    },
    async waitForCheckpoints(name, timeoutMs = 30_000) {
      const topic = topicPrefix + name;
      const admin = kafka.admin();
      await admin.connect();
      try {
        await waitFor(
          async () => {
            const ends = await admin.fetchTopicOffsets(topic);
            const [committed] = await admin.fetchOffsets({ groupId, topics: [topic] });
            const at = new Map((committed?.partitions ?? []).map((p) => [p.partition, Number(p.offset)]));
            return ends.every((e) => Number(e.high) === 0 || (at.get(e.partition) ?? -1) >= Number(e.high));
          },
          { timeoutMs, intervalMs: 200, message: `checkpoints of ${topic} reach the end of the log` },
        );
      } finally {
        await admin.disconnect();
      }
    },
    dumpLogs(last = 80) {
      return nodes.map((n) => `---- ${n.name} (${n.role}) last ${last} of ${n.lines.length} lines ----\n${n.lines.slice(-last).join('\n')}`).join('\n');
    },
    async cleanup() {
      await Promise.allSettled(nodes.map((n) => n.kill('SIGCONT').then(() => n.kill('SIGKILL'))));
      await Promise.allSettled(producers.map((p) => p.disconnect()));
      const admin = kafka.admin();
      try {
        await admin.connect();
        await admin.deleteGroups([groupId]).catch(() => {});
      } finally {
        await admin.disconnect();
      }
      await deleteTopicsWithPrefix(brokers, topicPrefix).catch(() => {});
      const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 2 });
      redis.on('error', () => {});
      try {
        await redis.connect();
        let cursor = '0';
        do {
          const [next, keys] = await redis.scan(cursor, 'MATCH', `${keyPrefix}*`, 'COUNT', 1000);
          cursor = next;
          if (keys.length > 0) await redis.del(...keys);
        } while (cursor !== '0');
      } catch {
        // a test's own Redis may be gone already
      } finally {
        redis.disconnect();
      }
      await rm(dataDir, { recursive: true, force: true });
    },
  };
  return cluster;
}
