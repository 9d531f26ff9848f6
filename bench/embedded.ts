/**
 * The embedded-mode benchmarks: processing throughput, publishEvents ingest, publishEvent
 * latency, RSS with 1M keys. Each prints one result line (and a PASS/MISS against its target).
 */

import { mkdtempSync, rmSync } from 'node:fs';
import { Agent } from 'node:http';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createPartitionHost, type PartitionHost } from '../src/actors/index.ts';
import { DEFAULT_WINDOWS } from '../src/actors/windows/index.ts';
import type { SpanContext, Tracer } from '@opentelemetry/api';
import { createSimulatedClock } from '../src/core/clock.ts';
import { activeSpanContext, continuing, createTracing } from '../src/core/index.ts';
import type { EventInput } from '../src/model/event.ts';
import { createEventTypeRegistry } from '../src/model/index.ts';
import { type Child, spawnChild, stopChild } from './lib/child.ts';
import { PUBLISH_MANY, post } from './lib/http.ts';
import { openLoop, sleep } from './lib/pace.ts';
import { type FramedPartition, IOT_PARTITIONS, IOT_TOPIC, iotInputs, readFramed, toFramedPartitions, toPartitionedRecords } from './lib/records.ts';
import { fmtInt, fmtLatency, fmtMiB, monotonicUs, printProfileWindow, summarize, verdict } from './lib/stats.ts';

export interface BenchContext {
  quick: boolean;
  /** Extra node flags for child processes (e.g. --cpu-prof --cpu-prof-dir=…). */
  childNodeArgs: string[];
  /** `--peer-only keyflow`: the peer comparison without its Kafka Streams stages. */
  peerKeyflowOnly?: boolean;
  /** `--against <dir>`: a checkout of another commit whose engine the processing bench runs side by side. */
  against?: string;
  /** `--rates 100,500,1000`: the paced rates (req/s) of the latency bench's below-saturation windows. @default [100, 500, 1000] */
  rates?: number[];
  /** `--paced-only`: the latency bench runs only its below-saturation windows (no 2,000 req/s run, no capacity). */
  pacedOnly?: boolean;
}

// ------------------------------------------------------------------ 1. processing throughput

/** The engine a processing pass runs: this tree's, or another checkout's (`--against <dir>`). */
export interface Engine {
  label: string;
  createPartitionHost: typeof createPartitionHost;
  createEventTypeRegistry: typeof createEventTypeRegistry;
  createSimulatedClock: typeof createSimulatedClock;
  DEFAULT_WINDOWS: readonly string[];
}

const THIS_ENGINE: Engine = { label: 'this tree', createPartitionHost, createEventTypeRegistry, createSimulatedClock, DEFAULT_WINDOWS };

/** The engine of another checkout (e.g. `git worktree add /tmp/base HEAD~1`), imported from its sources. */
async function engineAt(dir: string): Promise<Engine> {
  const at = (p: string) => pathToFileURL(resolve(dir, p)).href;
  const actors = await import(at('src/actors/index.ts'));
  const windows = await import(at('src/actors/windows/index.ts'));
  const clock = await import(at('src/core/clock.ts'));
  const model = await import(at('src/model/index.ts'));
  const head = execFileSync('git', ['-C', dir, 'log', '-1', '--format=%h'], { encoding: 'utf8' }).trim();
  return {
    label: `${head} (${dir})`,
    createPartitionHost: actors.createPartitionHost,
    createEventTypeRegistry: model.createEventTypeRegistry,
    createSimulatedClock: clock.createSimulatedClock,
    DEFAULT_WINDOWS: windows.DEFAULT_WINDOWS,
  };
}

/** Tracing for the traced processing pass: spans are made and ended, then dropped (no exporter cost). */
interface BenchTracing {
  tracer: Tracer;
  /** The processor's bookkeeping for the sink write: one span context per batch that emitted finals. */
  finalSpans: SpanContext[];
}

function newHosts(engine: Engine, emitUpdates: boolean, traced?: BenchTracing, rollups = false): { hosts: PartitionHost[]; results: { n: number } } {
  const registry = engine.createEventTypeRegistry();
  const clock = engine.createSimulatedClock(0);
  const results = { n: 0 };
  const hosts: PartitionHost[] = [];
  for (let p = 0; p < IOT_PARTITIONS; p++) {
    const host = engine.createPartitionHost({
      topic: IOT_TOPIC,
      partition: p,
      registry,
      clock,
      windows: engine.DEFAULT_WINDOWS,
      emitUpdates,
      // the key windows alone unless asked (rollups across keys are measured on their own below;
      // an engine from before them ignores the option)
      rollups,
      output: {
        onResults: (rs) => {
          results.n += rs.length;
          // as the processor does while tracing: the emitting batch's span kept with its finals
          if (traced) {
            let finals = false;
            for (let i = 0; i < rs.length && !finals; i++) finals = rs[i]!.final;
            const span = finals ? activeSpanContext() : undefined;
            if (span && traced.finalSpans.at(-1) !== span) traced.finalSpans.push(span);
          }
        },
        onLate: () => {},
        onDeadLetter: (m) => {
          throw new Error(`unexpected dead letter: ${m[0]?.errorMessage}`);
        },
      },
    });
    host.restore(null, new Map());
    hosts.push(host);
  }
  return { hosts, results };
}

export async function benchProcessing(ctx: BenchContext): Promise<void> {
  const events = ctx.quick ? 100_000 : 1_000_000;
  const keys = 10_000;
  const batch = 500;
  // two hours of event time: every window spec opens and closes many times per key, so finals,
  // their store and the hot state's turnover are part of the work (16.7 minutes until session 4)
  const spanMs = 2 * 3_600_000;
  const t = performance.now();
  const parts = toFramedPartitions(toPartitionedRecords(iotInputs(events, keys, 42, spanMs)));
  const warm = toFramedPartitions(toPartitionedRecords(iotInputs(50_000, keys, 7, spanMs / 20)));
  process.stdout.write(`  (generated ${fmtInt(events)} records over ${spanMs / 3_600_000} h of event time in ${((performance.now() - t) / 1000).toFixed(1)} s)\n`);
  const COMMIT_ROUNDS = 25;

  async function pass(engine: Engine, ps: FramedPartition[], emitUpdates: boolean, traced?: BenchTracing, rollups = false): Promise<{ ms: number; cpuMs: number; results: number; actors: number }> {
    const { hosts, results } = newHosts(engine, emitUpdates, traced, rollups);
    type Batch = ReturnType<typeof readFramed>;
    const process1 = traced
      ? (h: PartitionHost, b: Batch) =>
          traced.tracer.startActiveSpan('process bench', async (span) => {
            try {
              await h.processBatch(b);
            } finally {
              span.end();
            }
          })
      : (h: PartitionHost, b: Batch) => h.processBatch(b);
    const rounds = Math.max(...ps.map((p) => Math.ceil(p.starts.length / batch)));
    const cpu0 = process.cpuUsage();
    const start = performance.now();
    // round-robin over the partitions, one batch each, as a consumer of the whole topic would;
    // each batch's records are read from the partition's frames as the file log's reader does;
    // a checkpoint every COMMIT_ROUNDS rounds (~150k events, about the processor's 1 s interval at
    // this rate): the dirty actors' snapshots are encoded and the finals handed over, as a commit
    // to an infinitely fast store would
    for (let r = 0; r < rounds; r++) {
      for (let p = 0; p < hosts.length; p++) {
        const b = readFramed(ps[p]!, r * batch, (r + 1) * batch);
        if (b.length > 0) await process1(hosts[p]!, b);
      }
      if ((r + 1) % COMMIT_ROUNDS === 0 || r === rounds - 1) {
        for (const h of hosts) {
          h.checkpoint();
          h.markCommitted();
        }
        if (traced) {
          // the sink write's span, in the context of the batches whose finals it writes
          traced.tracer.startSpan('sink write bench', {}, continuing(traced.finalSpans)).end();
          traced.finalSpans = [];
        }
      }
    }
    const ms = performance.now() - start;
    const cpu = process.cpuUsage(cpu0);
    return { ms, cpuMs: (cpu.user + cpu.system) / 1000, results: results.n, actors: hosts.reduce((a, h) => a + h.actorCount, 0) };
  }

  // `--against <dir>`: the same passes with another checkout's engine, alternating with this
  // tree's on the same data in this process, so both see the same machine load
  const engines = [THIS_ENGINE];
  if (ctx.against) engines.push(await engineAt(ctx.against));
  for (const e of engines) await pass(e, warm, true); // JIT warm-up on other data
  const perCpu = new Map<string, number[]>();
  for (let round = 0; round < (engines.length > 1 ? 2 : 1); round++) {
    for (const emitUpdates of [true, false]) {
      for (const engine of engines) {
        const from = monotonicUs();
        const r = await pass(engine, parts, emitUpdates);
        // under node --cpu-prof (the in-process benches are profiled that way)
        printProfileWindow(process.execArgv.some((a) => a.startsWith('--cpu-prof')), `emitUpdates=${emitUpdates}`, from);
        const rate = (events / r.ms) * 1000;
        const cpuRate = (events / r.cpuMs) * 1000;
        const k = `${engine.label} emitUpdates=${emitUpdates}`;
        perCpu.set(k, [...(perCpu.get(k) ?? []), cpuRate]);
        process.stdout.write(
          `processing${engines.length > 1 ? ` [${engine.label}]` : ''}: ${fmtInt(events)} events, ${fmtInt(keys)} keys, ${IOT_PARTITIONS} partitions of ${IOT_TOPIC}, ${spanMs / 3_600_000} h of event time, 5 default windows, batch ${batch}, emitUpdates=${emitUpdates}: ` +
            `${fmtInt(rate)} events/s (${r.ms.toFixed(0)} ms wall, ${fmtInt(cpuRate)} events per CPU-second, ${fmtInt(r.results)} results, ${fmtInt(r.actors)} actors)` +
            ` — target ≥ 300,000 (issue 7): ${verdict(rate >= 300_000)}\n`,
        );
      }
    }
  }
  if (engines.length > 1) {
    for (const emitUpdates of [true, false]) {
      const mine = perCpu.get(`${engines[0]!.label} emitUpdates=${emitUpdates}`)!;
      const theirs = perCpu.get(`${engines[1]!.label} emitUpdates=${emitUpdates}`)!;
      const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
      process.stdout.write(`processing emitUpdates=${emitUpdates}: this tree / ${engines[1]!.label} = ${(sum(mine) / sum(theirs)).toFixed(2)}× events per CPU-second\n`);
    }
  }
  // Last (registering a tracer provider installs the async context manager for the rest of the
  // process): this tree's pass with tracing on as the processor has it — a span per batch, the span
  // context kept with the finals, the sink write's span continuing them — spans dropped, not exported.
  const tracing = createTracing({ spanProcessors: [{ onStart() {}, onEnd() {}, forceFlush: async () => {}, shutdown: async () => {} }] });
  const traced: BenchTracing = { tracer: tracing.tracer, finalSpans: [] };
  await pass(THIS_ENGINE, warm, true, traced);
  // alternated, best of three each: the machine is shared, so the least disturbed run of each counts
  let plain = Number.POSITIVE_INFINITY;
  let withSpans = Number.POSITIVE_INFINITY;
  for (let i = 0; i < 3; i++) {
    plain = Math.min(plain, (await pass(THIS_ENGINE, parts, true)).cpuMs);
    withSpans = Math.min(withSpans, (await pass(THIS_ENGINE, parts, true, traced)).cpuMs);
  }
  await tracing.shutdown();
  const rateOf = (cpuMs: number) => (events / cpuMs) * 1000;
  // rollups across keys (KEYFLOW_ROLLUPS, on by default in the app) off and on, alternated, best of two
  for (const emitUpdates of [false, true]) {
    let off = Number.POSITIVE_INFINITY;
    let on = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 2; i++) {
      off = Math.min(off, (await pass(THIS_ENGINE, parts, emitUpdates)).cpuMs);
      on = Math.min(on, (await pass(THIS_ENGINE, parts, emitUpdates, undefined, true)).cpuMs);
    }
    process.stdout.write(
      `processing, rollups across keys on vs off side by side (emitUpdates=${emitUpdates}, best of 2 alternated): ${fmtInt(rateOf(on))} vs ${fmtInt(rateOf(off))} events per CPU-second (ratio ${(rateOf(on) / rateOf(off)).toFixed(2)})\n`,
    );
  }
  process.stdout.write(
    `processing, tracing on vs off side by side (emitUpdates=true, batch ${batch}, best of 3 alternated): ${fmtInt(rateOf(withSpans))} vs ${fmtInt(rateOf(plain))} events per CPU-second ` +
      `(ratio ${(rateOf(withSpans) / rateOf(plain)).toFixed(3)}; ${(((withSpans - plain) * 1e6) / events).toFixed(0)} ns per record)\n`,
  );
}

// ------------------------------------------------------------------ server child + HTTP client

export async function startServer(ctx: BenchContext, label: string): Promise<{ child: Child; url: URL; cleanup: () => Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), `keyflow-bench-${label}-`));
  const child = spawnChild('node', {
    args: ['start'],
    nodeArgs: ctx.childNodeArgs,
    env: {
      KEYFLOW_DATA_DIR: dir,
      KEYFLOW_PORT: '0',
      KEYFLOW_HOST: '127.0.0.1',
      KEYFLOW_LOG_LEVEL: 'warn',
      KAFKA_BROKERS: '',
      REDIS_URL: '',
      NATS_URL: '',
      KEYFLOW_TOPIC_PREFIX: '',
    },
  });
  const ready = await child.next('ready', 60_000);
  return {
    child,
    url: new URL(String(ready.url).replace('localhost', '127.0.0.1')),
    cleanup: async () => {
      await stopChild(child);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves once the node's processor has processed `events` (or after 60 s). */
async function caughtUp(child: Child, events: number): Promise<void> {
  const until = performance.now() + 60_000;
  while ((await serverCpu(child)).processed < events && performance.now() < until) await sleep(100);
}

/** The server's CPU time so far (µs) and events processed, from its next stats message (every 100 ms). */
async function serverCpu(child: Child): Promise<{ cpuUs: number; processed: number }> {
  const m = await child.next('stats', 5000);
  return { cpuUs: Number(m.cpuUs), processed: Number(m.processed) };
}

function fmtMs(ms: number): string {
  return `${ms < 10 ? ms.toFixed(2) : ms.toFixed(0)} ms`;
}

const PUBLISH_ONE = 'mutation BenchOne($input: EventInput!) { publishEvent(input: $input) { status } }';

function withFreshIds(inputs: EventInput[], run: string): EventInput[] {
  return inputs.map((e, i) => ({ ...e, eventId: `${run}-${i}` }));
}

// ------------------------------------------------------------------ 2. publishEvents ingest

export async function benchIngest(ctx: BenchContext): Promise<void> {
  const batch = 500;
  const concurrency = 4;
  const requests = ctx.quick ? 60 : 600;
  const warmup = 20;
  const run = `ing${Date.now().toString(36)}`;
  const inputs = withFreshIds(iotInputs((requests + warmup) * batch, 10_000, 11), run);
  const bodies: string[] = [];
  for (let i = 0; i < inputs.length; i += batch) bodies.push(JSON.stringify({ query: PUBLISH_MANY, variables: { inputs: inputs.slice(i, i + batch) } }));
  const server = await startServer(ctx, 'ingest');
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    let nextBody = 0;
    let accepted = 0;
    const worker = async (until: number) => {
      while (nextBody < until) {
        const body = bodies[nextBody++]!;
        const text = await post(agent, server.url, body);
        const json = JSON.parse(text) as { data?: { publishEvents?: { status: string }[] }; errors?: unknown[] };
        if (json.errors) throw new Error(`publishEvents failed: ${JSON.stringify(json.errors).slice(0, 300)}`);
        for (const r of json.data?.publishEvents ?? []) if (r.status === 'ACCEPTED') accepted++;
      }
    };
    await Promise.all(Array.from({ length: concurrency }, () => worker(warmup)));
    accepted = 0;
    const cpu0 = await serverCpu(server.child);
    const from = monotonicUs();
    const start = performance.now();
    await Promise.all(Array.from({ length: concurrency }, () => worker(bodies.length)));
    const ms = performance.now() - start;
    const cpu1 = await serverCpu(server.child);
    printProfileWindow(ctx.childNodeArgs.includes('--cpu-prof'), 'ingest', from);
    const events = requests * batch;
    const rate = (accepted / ms) * 1000;
    const cpuS = (cpu1.cpuUs - cpu0.cpuUs) / 1e6;
    process.stdout.write(
      `ingest: publishEvents × ${fmtInt(requests)} requests of ${batch} iot.sensor events, ${concurrency} in flight, keep-alive HTTP to a child-process embedded node (gateway+processor): ` +
        `${fmtInt(rate)} events/s (${fmtInt(accepted)}/${fmtInt(events)} accepted in ${ms.toFixed(0)} ms, ${((ms / requests) * concurrency).toFixed(1)} ms per request; ` +
        `server ${cpuS.toFixed(2)} CPU-s = ${fmtInt(accepted / cpuS)} events per CPU-second, its processor handled ${fmtInt(cpu1.processed - cpu0.processed)} events meanwhile) — target ≥ 100,000: ${verdict(rate >= 100_000 && accepted === events)}\n`,
    );
  } finally {
    agent.destroy();
    await server.cleanup();
  }
}

// ------------------------------------------------------------------ 3. publishEvent latency

export async function benchLatency(ctx: BenchContext): Promise<void> {
  const rate = 2000;
  const warmMs = 3000;
  const durationMs = ctx.quick ? 5000 : 30_000;
  const run = `lat${Date.now().toString(36)}`;
  const total = Math.floor((rate * (warmMs + durationMs)) / 1000);
  // bodies built before the run: the client's own work must not delay its sends
  const inputs = withFreshIds(iotInputs(total, 10_000, 13), run);
  const bodies = inputs.map((input) => JSON.stringify({ query: PUBLISH_ONE, variables: { input } }));
  inputs.length = 0;
  const server = await startServer(ctx, 'latency');
  const agent = new Agent({ keepAlive: true, maxSockets: 256 });
  try {
    const fire = (offset: number, count: number, samples: number[] | null, rate = 2000, pool = bodies) => {
      let failed = 0;
      let outstanding = 0;
      let done!: () => void;
      const all = new Promise<void>((r) => {
        done = r;
      });
      let issuing = true;
      const issued = openLoop({
        rate,
        durationMs: (count / rate) * 1000,
        send(scheduledAt, i) {
          outstanding++;
          post(agent, server.url, pool[offset + i]!).then(
            (text) => {
              if (!text.includes('"ACCEPTED"')) failed++;
              else samples?.push(performance.now() - scheduledAt);
            },
            () => {
              failed++;
            },
          ).finally(() => {
            outstanding--;
            if (!issuing && outstanding === 0) done();
          });
        },
      }).then((n) => {
        issuing = false;
        if (outstanding === 0) done();
        return n;
      });
      return issued.then(() => all).then(() => failed);
    };
    const warmCount = Math.floor((rate * warmMs) / 1000);
    await fire(0, warmCount, null);
    if (!ctx.pacedOnly) await saturated(warmCount);
    else await caughtUp(server.child, warmCount);
    await pacedWindows();
    async function saturated(warmCount: number): Promise<void> {
      // what the node can serve at all (closed loop, 16 in flight) — explains a backlog at the paced rate;
      // measured once the processor has caught up with the warm-up, so its CPU is this window's work
      await caughtUp(server.child, warmCount);
      const capacityMs = ctx.quick ? 3000 : 10_000;
      const capacityBodies = withFreshIds(iotInputs(60_000, 10_000, 17), `${run}c`).map((input) => JSON.stringify({ query: PUBLISH_ONE, variables: { input } }));
      let served = 0;
      const capCpu0 = await serverCpu(server.child);
      const capEnd = performance.now() + capacityMs;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (performance.now() < capEnd && served < capacityBodies.length) await post(agent, server.url, capacityBodies[served++]!);
        }),
      );
      const capacity = served / (capacityMs / 1000);
      const capCpuS = ((await serverCpu(server.child)).cpuUs - capCpu0.cpuUs) / 1e6;
      await sleep(2000); // let the processor catch up before the paced run
      const samples: number[] = [];
      const from = monotonicUs();
      const failed = await fire(warmCount, total - warmCount, samples);
      printProfileWindow(ctx.childNodeArgs.includes('--cpu-prof'), 'latency', from);
      const l = summarize(samples);
      process.stdout.write(
        `latency: publishEvent at ${fmtInt(rate)} req/s open loop for ${durationMs / 1000} s (after ${warmMs / 1000} s warm-up), keep-alive, from scheduled send time, child-process embedded node (gateway+processor): ` +
          `${fmtLatency(l)}, ${failed} failed — target p99 < 5 ms: ${verdict(l.p99 < 5 && failed === 0)}\n` +
          `latency: closed-loop capacity of the same node just before (16 in flight, ${capacityMs / 1000} s, after the processor caught up): ${fmtInt(capacity)} publishEvent req/s (${fmtInt(served / capCpuS)} per server CPU-second)\n`,
      );
    }
    // and at rates below that capacity: the service latency without a queue, and the server's
    // event-loop delay over the same window (perf_hooks monitorEventLoopDelay, 1 ms resolution):
    // a busy stretch on the loop (a checkpoint) delays every request that arrives during it
    async function pacedWindows(): Promise<void> {
      const lowMs = ctx.quick ? 3000 : 10_000;
      for (const [n, lowRate] of (ctx.rates ?? [100, 500, 1000]).entries()) {
        const lowBodies = withFreshIds(iotInputs((lowRate * lowMs) / 1000, 10_000, 19 + n), `${run}l${n}`).map((input) => JSON.stringify({ query: PUBLISH_ONE, variables: { input } }));
        await sleep(3000);
        const before = (await serverCpu(server.child)).processed;
        server.child.send({ type: 'loop-reset' });
        const cpu0 = await serverCpu(server.child);
        const lowSamples: number[] = [];
        const lowFrom = monotonicUs();
        const lowFailed = await fire(0, lowBodies.length, lowSamples, lowRate, lowBodies);
        printProfileWindow(ctx.childNodeArgs.includes('--cpu-prof'), `latency at ${lowRate} req/s`, lowFrom);
        const st = await server.child.next('stats', 5000);
        const cpuS = (Number(st.cpuUs) - cpu0.cpuUs) / 1e6;
        process.stdout.write(
          `latency: publishEvent at ${fmtInt(lowRate)} req/s open loop for ${lowMs / 1000} s on the same node (below saturation): ${fmtLatency(summarize(lowSamples))}, ${lowFailed} failed — target p99 < 5 ms: ${verdict(summarize(lowSamples).p99 < 5 && lowFailed === 0)}\n` +
            `latency:   server event-loop delay over that window: p50 ${fmtMs(Number(st.loopP50))}, p99 ${fmtMs(Number(st.loopP99))}, p99.9 ${fmtMs(Number(st.loopP999))}, max ${fmtMs(Number(st.loopMax))}; server CPU ${cpuS.toFixed(2)} s` +
            ` (${fmtInt(lowBodies.length / Math.max(cpuS, 1e-9))} req per CPU-second); processed ${fmtInt(Number(st.processed) - before)} events meanwhile\n`,
        );
        await caughtUp(server.child, before + lowBodies.length);
      }
    }
  } finally {
    agent.destroy();
    await server.cleanup();
  }
}

// ------------------------------------------------------------------ 4. RSS with 1M keys

export async function benchRss(ctx: BenchContext): Promise<void> {
  const keys = ctx.quick ? 100_000 : 1_000_000;
  // measured after a 30 s idle pause and a full GC (V8 returns the pages freed during the load on
  // idle timers); the key actors alone (the issue 7 figure), then with rollups across keys on
  for (const rollups of [false, true]) {
    const args = [String(keys), '--settle', '30000', ...(rollups ? ['--rollups'] : [])];
    const child = spawnChild('rss', { nodeArgs: ['--expose-gc', ...ctx.childNodeArgs], args });
    try {
      const r = await child.next('result', 20 * 60_000);
      const rss = Number(r.rss);
      process.stdout.write(
        `rss: ${fmtInt(keys)} distinct keys (1 iot.sensor event each) in ${IOT_PARTITIONS} PartitionHosts with the 5 default windows, rollups ${rollups ? 'on' : 'off'}, after 30 s idle and a GC: ` +
          `RSS ${fmtMiB(rss)}, heap used ${fmtMiB(Number(r.heapUsed))} (baseline before: RSS ${fmtMiB(Number(r.rss0))}, heap ${fmtMiB(Number(r.heap0))}; ` +
          `${fmtInt(Number(r.actors))} actors) — target < 1 GB: ${verdict(rss < 1024 ** 3)}` +
          `${ctx.quick ? ' (quick: 100k keys)' : ''}\n`,
      );
    } finally {
      await child.exited;
      await sleep(0);
    }
  }
}

// ------------------------------------------------------------------ one key's state over event time

/**
 * One key fed an event every 10 s for 48 h of event time (24 h result retention, default windows),
 * checkpointed every hour of event time: the size of its snapshot (the hot state a checkpoint
 * writes) at 1 h, 24 h and 48 h, and how many finals went to the results store. The snapshot
 * must not grow with event time or retention.
 */
export async function benchStateSize(_ctx: BenchContext): Promise<void> {
  const registry = createEventTypeRegistry();
  const host = createPartitionHost({
    topic: IOT_TOPIC,
    partition: 0,
    registry,
    clock: createSimulatedClock(0),
    windows: DEFAULT_WINDOWS,
    resultRetentionMs: 24 * 3_600_000,
    output: { onResults: () => {}, onLate: () => {}, onDeadLetter: () => {} },
  });
  host.restore(null, new Map());
  const te = new TextEncoder();
  const T = Date.parse('2026-01-15T00:00:00.000Z');
  let offset = 0;
  let finals = 0;
  const sizes = new Map<number, number>();
  for (let hour = 1; hour <= 48; hour++) {
    const records = [];
    for (let s = 0; s < 3600; s += 10) {
      const t = T + (hour - 1) * 3_600_000 + s * 1000;
      const value = JSON.stringify({ eventId: `s-${offset}`, timestamp: new Date(t).toISOString(), eventType: 'iot.sensor', deviceId: 'sensor-1', userId: `user-${offset % 7}`, payload: { value: offset % 50 } });
      records.push({ topic: IOT_TOPIC, partition: 0, offset, key: 'sensor-1', value: te.encode(value), headers: {}, appendTime: t });
      offset++;
    }
    await host.processBatch(records);
    const w = host.checkpoint();
    host.markCommitted();
    finals += w.finals?.length ?? 0;
    sizes.set(hour, w.dirty.get('sensor-1')?.length ?? 0);
  }
  const at = (h: number) => `${fmtInt(sizes.get(h) ?? 0)} B`;
  process.stdout.write(
    `state: one key, an event every 10 s for 48 h of event time, 24 h retention, 5 default windows: snapshot ${at(1)} after 1 h, ${at(24)} after 24 h, ${at(48)} after 48 h; ` +
      `${fmtInt(finals)} finals written once to the results store — flat: ${verdict((sizes.get(48) ?? 0) <= (sizes.get(1) ?? 0) * 1.5)}\n`,
  );
}
