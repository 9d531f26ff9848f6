/**
 * The scaffold every distributed e2e suite shares: one {@link createCluster} per `describe`, with
 * the settings the exact-result checks need (the reference windows, no idle watermark advance
 * that could turn a paused workload late, short checkpoint interval), its nodes started in
 * `beforeAll`, every node's log printed when a test fails, everything cleaned up in `afterAll`.
 * A suite states only what differs: extra env, its nodes, a private broker or Redis.
 */
import { afterAll, afterEach, beforeAll } from 'vitest';
import { type Cluster, type ClusterNode, type ClusterOptions, createCluster, type NodeRole } from './cluster.ts';
import { WINDOWS } from './reference-recompute.ts';

/** Node env of every distributed e2e cluster (a suite's `env` overrides it). */
export const DISTRIBUTED_E2E_ENV: Readonly<Record<string, string>> = {
  KEYFLOW_WINDOWS: WINDOWS.join(','),
  // no idle-partition watermark advance during a kill or pause: the workload must not turn late
  KEYFLOW_IDLE_TIMEOUT_MS: '600000',
  KEYFLOW_CHECKPOINT_INTERVAL_MS: '300',
};

export interface NodeSpec {
  role: NodeRole;
  name: string;
  env?: Record<string, string>;
}

export interface ClusterSuiteOptions {
  /** Node env on top of {@link DISTRIBUTED_E2E_ENV}. */
  env?: Record<string, string>;
  /** Nodes started in order in `beforeAll`. */
  nodes: NodeSpec[];
  /** Brokers / Redis of the cluster, read in `beforeAll` (after the suite's own earlier hooks). */
  where?: () => Pick<ClusterOptions, 'brokers' | 'redisUrl'>;
}

export interface ClusterSuite {
  /** The suite's cluster (from `beforeAll` on). */
  readonly cluster: Cluster;
  /** A node started by the suite, by name. */
  node(name: string): ClusterNode;
}

/** Registers the hooks of a distributed e2e suite; call it at the top of a `describe`. */
export function useCluster(options: ClusterSuiteOptions): ClusterSuite {
  let cluster: Cluster | undefined;
  let failed = false;

  beforeAll(async () => {
    cluster = await createCluster({ ...options.where?.(), env: { ...DISTRIBUTED_E2E_ENV, ...options.env } });
    for (const n of options.nodes) await cluster.startNode(n.role, n.name, n.env);
  }, 240_000);

  afterEach((ctx) => {
    if (ctx.task.result?.state === 'fail') failed = true;
  });

  afterAll(async () => {
    if (failed && cluster) console.error(cluster.dumpLogs());
    await cluster?.cleanup();
  }, 120_000);

  return {
    get cluster() {
      if (!cluster) throw new Error('the cluster exists from beforeAll on');
      return cluster;
    },
    node(name) {
      const n = cluster?.nodes.find((x) => x.name === name);
      if (!n) throw new Error(`no node '${name}' in this suite's cluster`);
      return n;
    },
  };
}
