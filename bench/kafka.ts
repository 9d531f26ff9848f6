/**
 * `npm run bench -- --kafka`: the distributed path against the local Kafka broker, Redis and
 * NATS. Every run uses its own topic prefix (KEYFLOW_TOPIC_PREFIX), consumer groups and Redis /
 * NATS key prefix (KEYFLOW_KEY_PREFIX), and deletes its topics and Redis keys at the end.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { type Admin, Kafka, logLevel, type Producer } from 'kafkajs';
import { connect as connectNats } from 'nats';
import { subjects } from '../src/bus/index.ts';
import { createEventGenerator } from '../src/loadgen/index.ts';
import type { EventInput } from '../src/model/event.ts';
import { DEFAULT_EVENT_TYPES } from '../src/model/event-types.ts';
import { partitionForKey } from '../src/model/partitioner.ts';
import type { BenchContext } from './embedded.ts';
import { type Child, spawnChild, stopChild } from './lib/child.ts';
import { PUBLISH_MANY, post } from './lib/http.ts';
import { ensurePeerBuilt, type PeerResult, runPeer } from './lib/kstreams-peer.ts';
import { openLoop, sleep, waitUntil } from './lib/pace.ts';
import { IOT_PARTITIONS, IOT_TOPIC, iotInputs } from './lib/records.ts';
import { BROKERS, holdBroker, NATS_URL, REDIS_URL } from './lib/services.ts';
import { fmtInt, fmtLatency, fmtMiB, fmtMs, monotonicUs, printProfileWindow, summarize, verdict } from './lib/stats.ts';
import { livePasses, measureLiveLatency } from './live.ts';

const runId = `b${Date.now().toString(36)}`;
let stage = 0;

/** A fresh namespace (topic prefix, group, Redis/NATS prefix, data dir) for one measurement. */
function namespace(name: string) {
  const id = `${runId}-${name}-${++stage}`;
  const dataDir = mkdtempSync(join(tmpdir(), `keyflow-bench-${name}-`));
  return {
    id,
    topicPrefix: `bench-${id}.`,
    keyPrefix: `kfbench-${id}`,
    dataDir,
    env(group = 'p'): Record<string, string> {
      return {
        KAFKA_BROKERS: BROKERS,
        REDIS_URL,
        NATS_URL,
        KEYFLOW_TOPIC_PREFIX: `bench-${id}.`,
        KEYFLOW_KEY_PREFIX: `kfbench-${id}`,
        KAFKA_GROUP_ID: `bench-${id}-${group}`,
        KEYFLOW_CHECKPOINT_INTERVAL_MS: '1000',
        KEYFLOW_DATA_DIR: dataDir,
        KEYFLOW_PORT: '0',
        KEYFLOW_HOST: '127.0.0.1',
        KEYFLOW_LOG_LEVEL: 'warn',
      };
    },
  };
}
type Namespace = ReturnType<typeof namespace>;

const kafka = new Kafka({ clientId: `keyflow-bench-${runId}`, brokers: BROKERS.split(','), logLevel: logLevel.NOTHING });
let admin: Admin | undefined;
let producer: Producer | undefined;
let releaseBroker: (() => void) | undefined;
const cleanups: (() => Promise<void>)[] = [];

async function setup(): Promise<void> {
  if (admin) return;
  releaseBroker = holdBroker();
  admin = kafka.admin();
  await admin.connect();
  producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  process.once('exit', () => releaseBroker?.());
}

/** Deletes the namespace's topics (Kafka Streams' internal ones too), consumer groups and Redis keys. */
function cleanupLater(ns: Namespace): void {
  cleanups.push(async () => {
    const topics = (await admin!.listTopics()).filter((t) => t.startsWith(ns.topicPrefix));
    if (topics.length) await admin!.deleteTopics({ topics }).catch(() => {});
    const groups = (await admin!.listGroups()).groups.map((g) => g.groupId).filter((g) => g.startsWith(`bench-${ns.id}`));
    if (groups.length) await admin!.deleteGroups(groups).catch(() => {});
    const redis = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
    try {
      await redis.connect();
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${ns.keyPrefix}*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
    } finally {
      redis.disconnect();
    }
    rmSync(ns.dataDir, { recursive: true, force: true });
  });
}

async function teardownAll(): Promise<void> {
  for (const c of cleanups.splice(0)) await c().catch((e: unknown) => process.stdout.write(`  (cleanup failed: ${String(e)})\n`));
}

const te = new TextEncoder();

/** Writes `inputs` to `<prefix>events.iot.sensors` with the gateway's key, value and partitioning. */
async function prefill(ns: Namespace, inputs: readonly EventInput[]): Promise<number> {
  const topic = ns.topicPrefix + IOT_TOPIC;
  await admin!.createTopics({ topics: [{ topic, numPartitions: IOT_PARTITIONS, replicationFactor: 1 }], waitForLeaders: true });
  const start = performance.now();
  const chunk = 5000;
  const sends: Promise<unknown>[] = [];
  for (let i = 0; i < inputs.length; i += chunk) {
    const messages = inputs.slice(i, i + chunk).map((e) => {
      const key = String(e.deviceId ?? e.userId ?? e.eventId);
      return { key, value: Buffer.from(te.encode(JSON.stringify(e))), partition: partitionForKey(key, IOT_PARTITIONS), headers: { 'content-type': 'application/json' } };
    });
    sends.push(producer!.send({ topic, messages, acks: 1 }));
    if (sends.length >= 4) await sends.shift();
  }
  await Promise.all(sends);
  return performance.now() - start;
}

/** Sum of the group's committed offsets on the iot topic. */
async function committed(ns: Namespace, group: string): Promise<number> {
  const r = await admin!.fetchOffsets({ groupId: `bench-${ns.id}-${group}`, topics: [ns.topicPrefix + IOT_TOPIC] });
  let n = 0;
  for (const t of r) for (const p of t.partitions) n += Math.max(0, Number(p.offset));
  return n;
}

interface Drain {
  /** From the first processed event to the last, ms (by the children's 100 ms counters). */
  ms: number;
  /** From spawning the process(es) to the first processed event, ms. */
  startupMs: number;
  /** From the first processed event until the group's committed offsets cover every event, ms. */
  committedMs?: number;
  /** Rate over the first and over the last tenth of the events (flat over time: last ≈ first), events/s. */
  firstTenthRate: number;
  lastTenthRate: number;
  /** Bytes of every checkpoint commit of the children (keyflow_checkpoint_bytes), when they report it. */
  checkpointBytes: number;
  /** CPU time of the children from their first to their last processed event, µs (NaN when they do not report it). */
  cpuUs: number;
  /** CPU time of the local Redis server over the same span, µs (NaN when it is not a local process). */
  redisCpuUs: number;
}

/** User + system CPU time of a local process, µs, from /proc (NaN elsewhere or when it is gone). */
function procCpuUs(pid: number | undefined): number {
  if (pid === undefined) return Number.NaN;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of stat(5), in clock ticks (100 per second on Linux)
    return (Number(fields[11]) + Number(fields[12])) * 10_000;
  } catch {
    return Number.NaN;
  }
}

let redisPid: number | undefined;
/** The pid of the Redis server the bench uses, when it runs on this machine. */
async function localRedisPid(): Promise<number | undefined> {
  if (redisPid !== undefined) return redisPid;
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  try {
    await r.connect();
    const m = /process_id:(\d+)/.exec(await r.info('server'));
    const pid = m ? Number(m[1]) : undefined;
    if (pid !== undefined && Number.isFinite(procCpuUs(pid))) redisPid = pid;
  } catch {
    // not reachable: no Redis figure
  } finally {
    r.disconnect();
  }
  return redisPid;
}

/** Spawns `count` children and waits until they have together processed `n` events. */
async function drain(
  ctx: BenchContext,
  label: string,
  n: number,
  spawn: (i: number) => Child,
  count: number,
  commitCheck?: () => Promise<number>,
): Promise<Drain> {
  const t0 = performance.now();
  const rpid = await localRedisPid();
  const children = Array.from({ length: count }, (_, i) => spawn(i));
  try {
    let first = 0;
    let last = 0;
    let firstTenth = 0;
    let lastTenthFrom = 0;
    let from = 0n;
    let cpu0 = 0;
    let redis0 = 0;
    const tenth = Math.floor(n / 10);
    const total = () => children.reduce((a, c) => a + Number(c.latest('stats')?.processed ?? 0), 0);
    const cpu = () => children.reduce((a, c) => a + Number(c.latest('stats')?.cpuUs ?? Number.NaN), 0);
    const ok = await waitUntil(() => {
      const t = total();
      if (t > 0 && first === 0) {
        first = performance.now();
        from = monotonicUs();
        cpu0 = cpu();
        redis0 = procCpuUs(rpid);
      }
      if (t >= tenth && firstTenth === 0) firstTenth = performance.now();
      if (t >= n - tenth && lastTenthFrom === 0) lastTenthFrom = performance.now();
      if (t >= n) last = performance.now();
      return t >= n;
    }, 15 * 60_000, 10);
    if (!ok) throw new Error(`only ${total()} of ${n} events processed`);
    const cpuUs = cpu() - cpu0;
    const redisCpuUs = procCpuUs(rpid) - redis0;
    printProfileWindow(ctx.childNodeArgs.includes('--cpu-prof'), `${label} (pids ${children.map((c) => c.pid).join(', ')})`, from);
    let committedMs: number | undefined;
    if (commitCheck) {
      const all = await waitUntil(async () => (await commitCheck()) >= n, 30_000, 100);
      committedMs = all ? performance.now() - first : Number.NaN;
    }
    const checkpointBytes = children.reduce((a, c) => a + Number(c.latest('stats')?.cpBytes ?? 0), 0);
    return {
      ms: last - first,
      startupMs: first - t0,
      committedMs,
      firstTenthRate: (tenth / Math.max(1, firstTenth - first)) * 1000,
      lastTenthRate: (tenth / Math.max(1, last - lastTenthFrom)) * 1000,
      checkpointBytes,
      cpuUs,
      redisCpuUs,
    };
  } finally {
    await Promise.all(children.map((c) => stopChild(c)));
  }
}

// ------------------------------------------------------------------ processing throughput

export async function benchKafkaProcessing(ctx: BenchContext): Promise<void> {
  await setup();
  const n = ctx.quick ? 50_000 : 200_000;
  const inputs = iotInputs(n, 10_000, 21).map((e, i) => ({ ...e, eventId: `${runId}-p-${i}` }));
  const ns = namespace('proc');
  cleanupLater(ns);
  try {
    const prefillMs = await prefill(ns, inputs);
    process.stdout.write(`  (pre-filled ${ns.topicPrefix}${IOT_TOPIC} with ${fmtInt(n)} events over ${IOT_PARTITIONS} partitions in ${fmtMs(prefillMs)} ms)\n`);
    inputs.length = 0;

    const ceiling = await drain(ctx, 'ceiling', n, () => spawnChild('consume', { args: [BROKERS, ns.topicPrefix + IOT_TOPIC, `bench-${ns.id}-ceiling`] }), 1);
    const ceilingRate = (n / ceiling.ms) * 1000;
    process.stdout.write(
      `kafka ceiling: bare kafkajs consumer (eachBatch, no decoding) in its own process: ${fmtInt(ceilingRate)} events/s (${fmtInt(n)} in ${fmtMs(ceiling.ms)} ms after ${fmtMs(ceiling.startupMs)} ms start-up)\n`,
    );

    for (const processes of [1, 2]) {
      const group = `g${processes}`;
      // each run needs its own checkpoints (else the second would resume where the first ended)
      const env = { ...ns.env(group), KEYFLOW_KEY_PREFIX: `${ns.keyPrefix}-${group}` };
      const r = await drain(
        ctx,
        `${processes} processor(s)`,
        n,
        () => spawnChild('node', { args: ['processor'], env, nodeArgs: ctx.childNodeArgs }),
        processes,
        () => committed(ns, group),
      );
      const rate = (n / r.ms) * 1000;
      const perProcess = rate / processes;
      process.stdout.write(
        `kafka processing: ${processes} processor process${processes > 1 ? 'es' : ''} (Redis checkpoints every 1 s, NATS bus, 5 default windows), ${fmtInt(n)} pre-filled iot.sensor events, 10k keys: ` +
          `${fmtInt(rate)} events/s (${fmtInt(perProcess)} per process; ${fmtMs(r.ms)} ms from first to last processed event, ${Number.isNaN(r.committedMs ?? Number.NaN) ? 'offsets NOT all committed within 30 s after the last event' : `${fmtMs(r.committedMs!)} ms until all offsets were committed`}, start-up ${fmtMs(r.startupMs)} ms); ` +
          `${(rate / ceilingRate).toFixed(2)} of the client ceiling — target ≥ 100,000/process and ≥ 0.8 of ceiling: ${verdict(perProcess >= 100_000 && rate >= 0.8 * ceilingRate)}\n`,
      );
    }
  } finally {
    await teardownAll();
  }
}

// ------------------------------------------------------------------ peer: Kafka Streams on the same topic

function load(): string {
  return `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
}

/**
 * keyflow against a Kafka Streams application (bench/peers/kstreams) on the same broker and topic,
 * one after the other: a Java producer loads N iot.sensor envelopes; Kafka Streams computes the
 * five default windows once at_least_once and once exactly_once_v2 (fresh application id each,
 * from the beginning); the bare kafkajs consumer; one keyflow processor with Redis checkpoints.
 */
export async function benchKafkaPeer(ctx: BenchContext): Promise<void> {
  ensurePeerBuilt();
  await setup();
  const n = ctx.quick ? 100_000 : 1_000_000;
  const ns = namespace('peer');
  cleanupLater(ns);
  const topic = ns.topicPrefix + IOT_TOPIC;
  try {
    const loaded = await runPeer(['load', BROKERS, topic, String(n), String(IOT_PARTITIONS)]);
    process.stdout.write(
      `  (Java producer loaded ${topic} with ${fmtInt(n)} iot.sensor events, 10,000 devices, 5,000 users, 2 h of event time, over ${IOT_PARTITIONS} partitions in ${fmtMs(loaded.seconds * 1000)} ms)\n`,
    );

    const kstreams: Record<string, PeerResult> = {};
    // --peer-only keyflow: the bare consumer and keyflow only (profiling keyflow on the peer's input)
    for (const guarantee of ctx.peerKeyflowOnly ? [] : ['at_least_once', 'exactly_once_v2']) {
      const short = guarantee === 'at_least_once' ? 'alos' : 'eos';
      // the application id is also the prefix of its changelog topics and its group: under the namespace's prefix, deleted at the end
      const r = await runPeer(['run', BROKERS, topic, String(n), guarantee, `${ns.topicPrefix}kstreams-${short}`, join(ns.dataDir, `kstreams-${short}`)]);
      if (r.records !== n) throw new Error(`Kafka Streams ${guarantee} reported ${r.records} records, expected ${n}`);
      kstreams[short] = r;
      process.stdout.write(
        `kafka peer: Kafka Streams 4.1.1 ${guarantee} (1 stream thread, commit.interval.ms 1000, default RocksDB stores, 5 windows): ${fmtInt(r.eventsPerSec)} events/s ` +
          `(${fmtInt(n)} in ${fmtMs(r.seconds * 1000)} ms from first to last record, start-up ${fmtMs((r.startupSeconds ?? 0) * 1000)} ms, ` +
          `${r.committedSeconds == null ? 'offsets NOT all committed within 60 s' : `all offsets committed ${fmtMs(r.committedSeconds * 1000)} ms after the first record`}; ${load()})\n`,
      );
    }

    const ceiling = await drain(ctx, 'ceiling', n, () => spawnChild('consume', { args: [BROKERS, topic, `bench-${ns.id}-ceiling`] }), 1);
    const ceilingRate = (n / ceiling.ms) * 1000;
    process.stdout.write(
      `kafka peer: bare kafkajs consumer (eachBatch, no decoding): ${fmtInt(ceilingRate)} events/s (${fmtInt(n)} in ${fmtMs(ceiling.ms)} ms after ${fmtMs(ceiling.startupMs)} ms start-up; ${load()})\n`,
    );

    // keyflow twice: as configured by default (finals also to the events.aggregated topic and the
    // data lake, every event and update on the live bus), and doing the peer's job (windows and
    // their finals in the fenced results store only: KEYFLOW_SINKS=none, no live publishing)
    const configs: { label: string; group: string; extra: Record<string, string> }[] = [
      { label: 'default sinks and live bus', group: 'keyflow', extra: {} },
      { label: 'the same job: results store only', group: 'keyflowjob', extra: { KEYFLOW_SINKS: 'none', KEYFLOW_LIVE_BUS: 'false', KEYFLOW_EMIT_UPDATES: 'false' } },
    ];
    const rates: number[] = [];
    for (const c of process.env.KEYFLOW_BENCH_JOB_ONLY ? configs.slice(1) : configs) {
      const env = { ...ns.env(c.group), KEYFLOW_KEY_PREFIX: `${ns.keyPrefix}-${c.group}`, ...c.extra };
      const kf = await drain(ctx, `keyflow processor (${c.label})`, n, () => spawnChild('node', { args: ['processor'], env, nodeArgs: ctx.childNodeArgs }), 1, () => committed(ns, c.group));
      const kfRate = (n / kf.ms) * 1000;
      rates.push(kfRate);
      process.stdout.write(
        `kafka peer: keyflow, 1 processor process, ${c.label} (Redis checkpoints every 1 s, NATS bus, 5 default windows): ${fmtInt(kfRate)} events/s ` +
          `(${fmtInt(n)} in ${fmtMs(kf.ms)} ms from first to last processed event, start-up ${fmtMs(kf.startupMs)} ms, ` +
          `${Number.isNaN(kf.committedMs ?? Number.NaN) ? 'offsets NOT all committed within 30 s after the last event' : `all offsets committed ${fmtMs(kf.committedMs!)} ms after the first event`}; ${load()})\n` +
          `  first tenth ${fmtInt(kf.firstTenthRate)} events/s, last tenth ${fmtInt(kf.lastTenthRate)} events/s (last/first ${(kf.lastTenthRate / kf.firstTenthRate).toFixed(2)}, target ≥ 0.8); ` +
          `checkpoints ${fmtMiB(kf.checkpointBytes)} in all, ${fmtMiB((kf.checkpointBytes / kf.ms) * 1000)}/s while processing; ` +
          `CPU per event: processor ${(kf.cpuUs / n).toFixed(1)} µs (${fmtInt(n / (kf.cpuUs / 1e6))} events per CPU-second), Redis server ${(kf.redisCpuUs / n).toFixed(1)} µs\n`,
      );
    }
    const kfRate = rates.at(-1)!;
    const ratio = (x: number | undefined) => (x === undefined ? 'not run' : (kfRate / x).toFixed(2));
    process.stdout.write(
      `kafka peer ratios (${fmtInt(n)} events, same topic, keyflow doing the same job): keyflow/KStreams-alos ${ratio(kstreams.alos?.eventsPerSec)}, ` +
        `keyflow/KStreams-eos ${ratio(kstreams.eos?.eventsPerSec)}, keyflow/bare-kafkajs ${ratio(ceilingRate)}\n`,
    );
  } finally {
    await teardownAll();
  }
}

// ------------------------------------------------------------------ publish → subscription latency


export async function benchKafkaLatency(ctx: BenchContext): Promise<void> {
  await setup();
  const ns = namespace('lat');
  cleanupLater(ns);
  // one gateway and two processors (the deployment the target is set for)
  const gateway = spawnChild('node', { args: ['gateway'], env: ns.env(), nodeArgs: ctx.childNodeArgs });
  const processors = [0, 1].map(() => spawnChild('node', { args: ['processor'], env: ns.env(), nodeArgs: ctx.childNodeArgs }));
  try {
    const ready = await gateway.next('ready', 120_000);
    // both start at once: one may be ready before we wait for it
    await Promise.all(processors.map((p) => p.next('ready', 120_000)));
    // both members hold partitions: the group has settled
    await waitUntil(() => processors.every((p) => Number(p.latest('stats')?.owned ?? 0) > 0), 60_000);
    const url = new URL(String(ready.url).replace('localhost', '127.0.0.1'));
    await measureLiveLatency(url, `kafka live latency (1 gateway pid ${gateway.pid} + 2 processor processes pids ${processors.map((p) => p.pid).join(', ')})`, livePasses(ctx), {
      profiling: ctx.childNodeArgs.includes('--cpu-prof'),
      serverCpuUs: () => [gateway, ...processors].reduce((n, c) => n + Number(c.latest('stats')?.cpuUs ?? Number.NaN), 0),
      gatewayCpuUs: () => Number(gateway.latest('stats')?.cpuUs ?? Number.NaN),
    });
  } finally {
    await Promise.all([gateway, ...processors].map((c) => stopChild(c)));
    await teardownAll();
  }
}

// ------------------------------------------------------------------ recovery after SIGKILL

export async function benchKafkaRecovery(ctx: BenchContext): Promise<void> {
  await setup();
  const ns = namespace('rec');
  cleanupLater(ns);
  const sessionTimeoutMs = 3000; // allowed by the dev broker's group.min.session.timeout.ms=1000 (infra/kafka/kafka.sh)
  const env = { ...ns.env(), KAFKA_SESSION_TIMEOUT_MS: String(sessionTimeoutMs) };
  // load on every event topic: the assignment may give one processor whole topics
  const types = DEFAULT_EVENT_TYPES.map((t) => ({ ...t, topic: ns.topicPrefix + t.topic }));
  const topics = types.map((t) => t.topic);
  const allPartitions = types.reduce((n, t) => n + t.partitions, 0);
  await admin!.createTopics({ topics: types.map((t) => ({ topic: t.topic, numPartitions: t.partitions, replicationFactor: 1 })), waitForLeaders: true });
  const a = spawnChild('node', { args: ['processor'], env, nodeArgs: ctx.childNodeArgs });
  const b = spawnChild('node', { args: ['processor'], env, nodeArgs: ctx.childNodeArgs });
  // steady load straight into Kafka: 2,000 events/s over every partition of the three topics
  let producing = true;
  let sentRounds = 0;
  let failedRounds = 0;
  const gen = createEventGenerator({ keys: 2000, seed: 99 });
  // A producer of its own: the shared one may hold metadata of the earlier stages' deleted topics.
  const feedProducer = kafka.producer({ allowAutoTopicCreation: false });
  await feedProducer.connect();
  let lastFeedError = '';
  const feeder = (async () => {
    let t = Date.now();
    while (producing) {
      const byTopic = new Map<string, { key: string; value: string; partition: number }[]>();
      for (let i = 0; i < 200; i++) {
        const e = gen.next();
        const spec = types.find((x) => x.eventType === e.eventType)!;
        const key = String(e.deviceId ?? e.userId ?? e.eventId);
        const list = byTopic.get(spec.topic) ?? [];
        list.push({ key, value: JSON.stringify({ ...e, eventId: `${runId}-${e.eventId}` }), partition: partitionForKey(key, spec.partitions) });
        byTopic.set(spec.topic, list);
      }
      // a topic this new may not be in every metadata cache yet: skip a round rather than fail
      await feedProducer
        .sendBatch({ topicMessages: [...byTopic].map(([topic, messages]) => ({ topic, messages })), acks: 1 })
        .then(
          () => sentRounds++,
          (e: unknown) => {
            failedRounds++;
            lastFeedError = e instanceof Error ? e.message : String(e);
            return sleep(200);
          },
        );
      t += 100;
      await sleep(Math.max(0, t - Date.now()));
    }
  })();
  const committedNow = async (): Promise<Map<string, number>> => {
    const r = await admin!.fetchOffsets({ groupId: `bench-${ns.id}-p`, topics });
    const m = new Map<string, number>();
    for (const tp of r) for (const p of tp.partitions) m.set(`${tp.topic}/${p.partition}`, Number(p.offset));
    return m;
  };
  try {
    await Promise.all([a.next('ready', 120_000), b.next('ready', 120_000)]);
    // both own partitions and both process
    const steady = await waitUntil(
      () => Number(a.latest('stats')?.processed ?? 0) > 0 && Number(b.latest('stats')?.processed ?? 0) > 0,
      120_000,
    );
    if (!steady) {
      const st = (c: Child) => `owned ${String(c.latest('stats')?.owned)}, processed ${String(c.latest('stats')?.processed)}`;
      throw new Error(`the two processors never both processed within 120 s (A: ${st(a)}; B: ${st(b)}; ${sentRounds} feeder rounds sent, ${failedRounds} failed${lastFeedError ? `: ${lastFeedError}` : ''})`);
    }
    await sleep(3000);
    const ownedBefore = Number(a.latest('stats')?.owned ?? 0);
    const killedAt = performance.now();
    a.kill('SIGKILL');
    await a.exited;
    // read after the death: the victim's last commits are in, the survivor cannot own its partitions yet
    const committedAtKill = await committedNow();
    // processing again: every partition's committed offset (advanced after each checkpoint) moves past where it was at the kill
    let takeoverMs = Number.NaN;
    const recovered = await waitUntil(
      async () => {
        if (Number.isNaN(takeoverMs) && Number(b.latest('stats')?.owned ?? 0) >= allPartitions) takeoverMs = performance.now() - killedAt;
        const now = await committedNow();
        return [...committedAtKill].every(([k, at]) => (now.get(k) ?? -1) > at);
      },
      120_000,
      50,
    );
    const ms = performance.now() - killedAt;
    process.stdout.write(
      `kafka recovery: SIGKILL of 1 of 2 processor processes (it owned ${ownedBefore} partitions; KAFKA_SESSION_TIMEOUT_MS=${sessionTimeoutMs}) under 2,000 events/s: ` +
        `${recovered ? `every partition of the 3 event topics processed and checkpointed again after ${fmtMs(ms)} ms` : 'NOT recovered within 120 s'} ` +
        `(survivor owned all partitions after ${fmtMs(takeoverMs)} ms) — target < 5 s: ${verdict(recovered && ms < 5000)}\n`,
    );
  } finally {
    producing = false;
    await feeder.catch(() => {});
    await feedProducer.disconnect().catch(() => {});
    await Promise.all([stopChild(a), stopChild(b)]);
    await teardownAll();
  }
}

/** Disconnects the bench's own Kafka clients (run.ts calls it at the end). */
export async function closeKafka(): Promise<void> {
  await producer?.disconnect().catch(() => {});
  await admin?.disconnect().catch(() => {});
  releaseBroker?.();
  releaseBroker = undefined;
}

// ------------------------------------------------------------------ gateway fan-out

/** The value of one sample of a Prometheus text exposition, or NaN. */
function promValue(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, 'm').exec(text);
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * One gateway holding many subscribers (`--kafka --only fanout`): subscriber child processes open
 * 10,000 WebSockets (2,000 with --quick), each with one `events(topic)` subscription; this process
 * publishes event batches straight on the gateway's NATS subject at 10 events/s, so the gateway
 * delivers 100,000 messages/s in total (20,000 with --quick). Meanwhile 100 slow subscribers on
 * another topic stop reading; with KEYFLOW_SUBSCRIPTION_BUFFER=200 they must be ended with
 * RATE_LIMITED while the gateway's RSS stays flat.
 */
export async function benchKafkaFanout(ctx: BenchContext): Promise<void> {
  await setup();
  const ns = namespace('fan');
  cleanupLater(ns);
  const subscribers = ctx.quick ? 2000 : 10_000;
  const perChild = subscribers / 2;
  const rate = 10;
  const durationMs = ctx.quick ? 15_000 : 60_000;
  const slowCount = 100;
  // every subscriber is the same anonymous client address: lift the per-identity socket cap and the request rate limits
  const gateway = spawnChild('node', {
    args: ['gateway'],
    env: { ...ns.env(), KEYFLOW_SUBSCRIPTION_BUFFER: '200', KEYFLOW_WS_MAX_CONNECTIONS_PER_IDENTITY: String(subscribers + slowCount), KEYFLOW_RATE_LIMIT_PER_IDENTITY: '0', KEYFLOW_RATE_LIMIT_PER_ADDRESS: '0' },
    nodeArgs: ctx.childNodeArgs,
  });
  const children: Child[] = [];
  const nc = await connectNats({ servers: NATS_URL });
  try {
    const ready = await gateway.next('ready', 120_000);
    const httpUrl = String(ready.url).replace('localhost', '127.0.0.1');
    const wsUrl = httpUrl.replace('http', 'ws');
    const metricsUrl = httpUrl.replace('/graphql', '/metrics');
    const t0 = performance.now();
    for (let i = 0; i < 2; i++) children.push(spawnChild('subscribers', { args: [wsUrl, String(perChild), IOT_TOPIC, 'fast'] }));
    const slow = spawnChild('subscribers', { args: [wsUrl, String(slowCount), 'events.transactions', 'slow'] });
    children.push(slow);
    await Promise.all(children.map((c) => c.next('ready', 600_000)));
    const connectS = (performance.now() - t0) / 1000;
    await sleep(2000); // the last subscriptions reach the feed (graphql-ws does not acknowledge them)

    const enc = new TextEncoder();
    const fast = subjectOf(ns, subjects.events(IOT_TOPIC));
    const slowSubject = subjectOf(ns, subjects.events('events.transactions'));
    const big = 'x'.repeat(2000);
    let offset = 0;
    let slowOffset = 0;
    const event = (topic: string, eventType: string, o: number, payload: Record<string, unknown>) => ({
      topic,
      partition: 0,
      offset: o,
      key: 'k',
      event: { eventId: `${ns.id}-${topic}-${o}`, eventType, timestamp: Date.now(), userId: 'u', deviceId: 'k', payload, metadata: null },
    });
    const base = children.slice(0, 2).reduce((n, c) => n + Number(c.latest('stats')?.received ?? 0), 0);
    const rss: number[] = [];
    const cpu: number[] = [];
    const samples: number[] = [];
    for (const c of children.slice(0, 2)) c.proc.on('message', (m: { type?: string; samples?: number[] }) => m.type === 'stats' && samples.push(...(m.samples ?? [])));
    let slowEndedAt = Number.NaN;
    const start = performance.now();
    const profileFrom = monotonicUs();
    const ticker = setInterval(() => {
      nc.publish(fast, enc.encode(JSON.stringify({ events: [event(IOT_TOPIC, 'iot.sensor', offset++, { sentAt: Date.now(), value: 1 })] })));
      // the slow subscribers' topic: 400 messages/s of ~2 kB
      for (let i = 0; i < 40; i++) nc.publish(slowSubject, enc.encode(JSON.stringify({ events: [event('events.transactions', 'transaction', slowOffset++, { amount: 1, note: big })] })));
    }, 1000 / rate);
    const sampler = setInterval(() => {
      void fetch(metricsUrl)
        .then((r) => r.text())
        .then((t) => {
          rss.push(promValue(t, 'process_resident_memory_bytes'));
          cpu.push(promValue(t, 'process_cpu_seconds_total'));
          if (Number.isNaN(slowEndedAt) && promValue(t, 'keyflow_subscriptions_rate_limited_total') >= slowCount) slowEndedAt = performance.now() - start;
        }, () => {});
    }, 1000);
    await sleep(durationMs);
    clearInterval(ticker);
    clearInterval(sampler);
    printProfileWindow(ctx.childNodeArgs.includes('--cpu-prof'), `fan-out (gateway pid ${gateway.proc.pid})`, profileFrom);
    const published = offset;
    const expected = published * subscribers;
    await waitUntil(() => children.slice(0, 2).reduce((n, c) => n + Number(c.latest('stats')?.received ?? 0), 0) - base >= expected, 30_000, 250);
    const received = children.slice(0, 2).reduce((n, c) => n + Number(c.latest('stats')?.received ?? 0), 0) - base;
    const elapsed = (performance.now() - start) / 1000;
    // a gateway still working off a backlog may not answer in time: the line is printed without its counters then
    const text = await fetch(metricsUrl, { signal: AbortSignal.timeout(30_000) }).then(
      (r) => r.text(),
      () => '',
    );
    const limited = promValue(text, 'keyflow_subscriptions_rate_limited_total');
    const cpuPerS = cpu.length > 1 ? (cpu.at(-1)! - cpu[0]!) / (cpu.length - 1) : Number.NaN;
    const l = summarize(samples);
    process.stdout.write(
      `kafka fan-out: one gateway process, ${fmtInt(subscribers)} WebSocket subscribers of events(${IOT_TOPIC}) (connected in ${connectS.toFixed(1)} s) + ${slowCount} that stop reading; ` +
        `${fmtInt(published)} events published on NATS at ${rate}/s for ${durationMs / 1000} s → ${fmtInt(received)} of ${fmtInt(expected)} deliveries ` +
        `(${fmtInt(received / elapsed)} messages/s), latency publish → subscriber (1 in 20 sampled): ${fmtLatency(l)}; ` +
        `gateway CPU ${cpuPerS.toFixed(2)} s/s, RSS ${fmtMiB(Math.min(...rss))}–${fmtMiB(Math.max(...rss))} over the run; ` +
        `slow subscribers ended with RATE_LIMITED: ${limited} of ${slowCount}${Number.isNaN(slowEndedAt) ? '' : ` (all after ${(slowEndedAt / 1000).toFixed(0)} s)`}` +
        ` (slow client: ${slow.latest('stats')?.open} open, ${slow.latest('stats')?.closed} closed, ${slow.latest('stats')?.received} received before pausing)` +
        ` — target ${fmtInt(subscribers * rate)} messages/s with every slow one ended: ${verdict(received >= expected && limited >= slowCount)}\n`,
    );
  } finally {
    await nc.close();
    await Promise.all([...children, gateway].map((c) => stopChild(c)));
    await teardownAll();
  }
}

/** A bus subject as the namespace's gateway sees it on NATS (its KEYFLOW_KEY_PREFIX). */
function subjectOf(ns: Namespace, subject: string): string {
  return `${ns.keyPrefix}.${subject}`;
}

// ------------------------------------------------------------------ ingest into Kafka (issue 8 part 2)

const PUBLISH_ONE_KAFKA = 'mutation BenchOne($input: EventInput!) { publishEvent(input: $input) { status } }';

/**
 * One gateway process (no processors: the gateway's own ingest) into Kafka with acks=all and the
 * Redis dedupe: `publishEvents` of 500 events through variables, 4 in flight; `publishEvent`
 * closed loop (64 in flight) and open loop at 2,000 req/s. Prints the gateway's CPU time too.
 */
export async function benchKafkaIngest(ctx: BenchContext): Promise<void> {
  await setup();
  const ns = namespace('ing');
  cleanupLater(ns);
  const gateway = spawnChild('node', { args: ['gateway'], env: ns.env(), nodeArgs: ctx.childNodeArgs });
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  const cpuOf = async () => Number((await gateway.next('stats', 5000)).cpuUs);
  try {
    const ready = await gateway.next('ready', 120_000);
    const url = new URL(String(ready.url).replace('localhost', '127.0.0.1'));
    const run = `${runId}k`;
    // 1. publishEvents, 500 per request
    const batch = 500;
    const requests = ctx.quick ? 40 : 300;
    const warmup = 10;
    const inputs = iotInputs((requests + warmup) * batch, 10_000, 23).map((e, i) => ({ ...e, eventId: `${run}-b-${i}` }));
    // every body built before the first request: building them takes seconds on a loaded machine,
    // long enough for the server to close idle keep-alive sockets under a later phase
    const one = iotInputs(ctx.quick ? 60_000 : 150_000, 10_000, 29).map((e, i) => JSON.stringify({ query: PUBLISH_ONE_KAFKA, variables: { input: { ...e, eventId: `${run}-c-${i}` } } }));
    const bodies: string[] = [];
    for (let i = 0; i < inputs.length; i += batch) bodies.push(JSON.stringify({ query: PUBLISH_MANY, variables: { inputs: inputs.slice(i, i + batch) } }));
    let next = 0;
    let accepted = 0;
    const worker = async (until: number) => {
      while (next < until) {
        const text = await post(agent, url, bodies[next++]!);
        const json = JSON.parse(text) as { data?: { publishEvents?: { status: string }[] }; errors?: unknown[] };
        if (json.errors) throw new Error(`publishEvents failed: ${JSON.stringify(json.errors).slice(0, 300)}`);
        for (const r of json.data?.publishEvents ?? []) if (r.status === 'ACCEPTED') accepted++;
      }
    };
    await Promise.all(Array.from({ length: 4 }, () => worker(warmup)));
    accepted = 0;
    const cpu0 = await cpuOf();
    const from = monotonicUs();
    const t0 = performance.now();
    await Promise.all(Array.from({ length: 4 }, () => worker(bodies.length)));
    const ms = performance.now() - t0;
    const cpuS = ((await cpuOf()) - cpu0) / 1e6;
    printProfileWindow(ctx.childNodeArgs.includes('--cpu-prof'), `kafka ingest (gateway pid ${gateway.pid})`, from);
    const rate = (accepted / ms) * 1000;
    process.stdout.write(
      `kafka ingest: publishEvents × ${fmtInt(requests)} requests of ${batch} events, 4 in flight, one gateway process (acks=all, Redis dedupe): ` +
        `${fmtInt(rate)} events/s (${fmtInt(accepted)}/${fmtInt(requests * batch)} accepted in ${ms.toFixed(0)} ms; gateway ${cpuS.toFixed(2)} CPU-s = ${fmtInt(accepted / cpuS)} events per CPU-second) — target ≥ 50,000: ${verdict(rate >= 50_000 && accepted === requests * batch)}\n`,
    );
    // 2. publishEvent closed loop, 64 in flight
    const capMs = ctx.quick ? 3000 : 10_000;
    let served = 0;
    let failed = 0;
    const c0 = await cpuOf();
    const capEnd = performance.now() + capMs;
    await Promise.all(
      Array.from({ length: 64 }, async () => {
        while (performance.now() < capEnd && served < one.length) {
          const text = await post(agent, url, one[served++]!).catch((e: Error) => e.message);
          if (!text.includes('"ACCEPTED"')) failed++;
        }
      }),
    );
    const capCpu = ((await cpuOf()) - c0) / 1e6;
    const capacity = (served / capMs) * 1000;
    process.stdout.write(
      `kafka ingest: publishEvent closed loop, 64 in flight, ${capMs / 1000} s: ${fmtInt(capacity)} req/s (${failed} failed; ${fmtInt(served / capCpu)} per gateway CPU-second) — target ≥ 5,000: ${verdict(capacity >= 5000 && failed === 0)}\n`,
    );
    // 3. publishEvent open loop at 2,000 req/s
    await sleep(1000);
    const rateOpen = 2000;
    const openMs = ctx.quick ? 5000 : 20_000;
    const samples: number[] = [];
    let openFailed = 0;
    let outstanding = 0;
    const offset = served;
    await openLoop({
      rate: rateOpen,
      durationMs: openMs,
      send(scheduledAt, i) {
        outstanding++;
        post(agent, url, one[(offset + i) % one.length]!)
          .then(
            (text) => {
              if (text.includes('"ACCEPTED"')) samples.push(performance.now() - scheduledAt);
              else openFailed++;
            },
            () => {
              openFailed++;
            },
          )
          .finally(() => outstanding--);
      },
    });
    await waitUntil(() => outstanding === 0, 60_000);
    const l = summarize(samples);
    process.stdout.write(
      `kafka ingest: publishEvent open loop at ${fmtInt(rateOpen)} req/s for ${openMs / 1000} s, from scheduled send time: ${fmtLatency(l)}, ${openFailed} failed — target p99 < 15 ms: ${verdict(l.p99 < 15 && openFailed === 0)}\n`,
    );
  } finally {
    agent.destroy();
    await stopChild(gateway);
    await teardownAll();
  }
}
