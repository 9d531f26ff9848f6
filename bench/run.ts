/**
 * keyflow benchmarks — print figures, never run as tests.
 *
 *   npm run bench [-- --only processing [--against <checkout>]|ingest|latency|live|rss|state|flush|slow-ws|auth|dedupe|types|schemas|resume] [--quick]
 *   npm run bench -- --kafka [--only processing|ingest|latency|fanout|recovery|bus-trace] [--quick]
 *   npm run bench -- --kafka --peer [--quick] [--peer-only keyflow]   keyflow vs Kafka Streams (bench/peers/kstreams, needs
 *                     Java 17 and Maven) vs a bare kafkajs consumer on one topic of 1M events (100k quick)
 *   --rates 100,500,1000   the latency bench's paced windows below saturation (req/s, 10 s each, 3 s quick), each
 *                     with the server's event-loop delay; --paced-only skips its 2,000 req/s run and capacity
 *   --profile <dir>   child processes (servers, processors) write a .cpuprofile into <dir>; for the
 *                     in-process benches run `node --cpu-prof --import tsx bench/run.ts …` instead
 *   --node-arg <flag> a V8/Node flag for the child processes (repeatable), e.g. --node-arg --max-semi-space-size=32
 *
 * Embedded: processing (PartitionHost throughput), ingest (publishEvents over HTTP), latency
 * (publishEvent p50/p95/p99 at 2k req/s), live (publish → events / windowResults subscription at
 * 10k events/s, bench/live.ts), rss (1M keys), slow-ws (WebSocket subscribers that stop reading:
 * server RSS and /health latency per buffered-bytes budget), auth (credential checks, scope check
 * and a rate-limit point, per second), dedupe (the embedded dedupe index: bytes per entry, claim cost,
 * rebuild from the log at start). Kafka (local broker, Redis, NATS): processing (1 and
 * 2 processor processes vs a bare kafkajs consumer), latency (publish → events / windowResults
 * subscription, 1 gateway + 2 processors), fanout (one gateway, 10,000 subscribers, 100k messages/s),
 * recovery (SIGKILL of a processor → processing again). See BENCHMARKS.md.
 */
import { mkdirSync } from 'node:fs';
import { resolve } from 'node:path';
import { benchAuth } from './auth.ts';
import { benchDedupe } from './dedupe.ts';
import { type BenchContext, benchIngest, benchLatency, benchProcessing, benchRss, benchStateSize } from './embedded.ts';
import { machineLine } from './lib/machine.ts';
import { benchFlush } from './log-flush.ts';
import { benchSlowSubscribers } from './ws-limits.ts';

const argv = process.argv.slice(2);
function flag(name: string): boolean {
  return argv.includes(name);
}
function option(name: string): string | undefined {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
}

const kafka = flag('--kafka');
const quick = flag('--quick');
const peer = flag('--peer');
const only = peer ? 'peer' : option('--only');
const profileDir = option('--profile');
const childNodeArgs: string[] = [];
if (profileDir) {
  mkdirSync(profileDir, { recursive: true });
  childNodeArgs.push('--cpu-prof', `--cpu-prof-dir=${resolve(profileDir)}`);
}
for (let i = 0; i < argv.length - 1; i++) if (argv[i] === '--node-arg') childNodeArgs.push(argv[i + 1]!);
const against = option('--against');
const rates = option('--rates');
const ctx: BenchContext = {
  quick,
  childNodeArgs,
  peerKeyflowOnly: option('--peer-only') === 'keyflow',
  ...(against ? { against: resolve(against) } : {}),
  ...(rates ? { rates: rates.split(',').map(Number) } : {}),
  pacedOnly: flag('--paced-only'),
};

type Bench = (ctx: BenchContext) => Promise<void>;
let benches: Record<string, Bench>;
let close = async () => {};
if (kafka) {
  const k = await import('./kafka.ts');
  const { benchBusTrace } = await import('./bus-trace.ts');
  benches = { processing: k.benchKafkaProcessing, ingest: k.benchKafkaIngest, latency: k.benchKafkaLatency, fanout: k.benchKafkaFanout, recovery: k.benchKafkaRecovery, 'bus-trace': benchBusTrace };
  // the peer comparison runs only when asked for (--peer): it builds a Java project and takes minutes
  if (peer) benches = { peer: k.benchKafkaPeer };
  close = k.closeKafka;
} else {
  const { benchLiveEmbedded } = await import('./live.ts');
  const { benchTypes } = await import('./types.ts');
  const { benchSchemas } = await import('./schemas.ts');
  const { benchResume } = await import('./resume.ts');
  benches = { processing: benchProcessing, ingest: benchIngest, latency: benchLatency, live: benchLiveEmbedded, rss: benchRss, state: benchStateSize, flush: benchFlush, 'slow-ws': benchSlowSubscribers, auth: benchAuth, dedupe: benchDedupe, types: benchTypes, schemas: benchSchemas, resume: benchResume };
}
if (peer && !kafka) {
  process.stderr.write('--peer needs --kafka\n');
  process.exit(2);
}
if (only !== undefined && !(only in benches)) {
  process.stderr.write(`unknown --only ${only}; one of: ${Object.keys(benches).join(', ')}\n`);
  process.exit(2);
}

process.stdout.write(`${machineLine()}\n`);
process.stdout.write(`command: npm run bench -- ${argv.join(' ')}\n`);
const started = performance.now();
let failed = false;
for (const [name, bench] of Object.entries(benches)) {
  if (only !== undefined && name !== only) continue;
  process.stdout.write(`\n# ${kafka ? 'kafka ' : ''}${name}${quick ? ' (quick)' : ''}\n`);
  try {
    await bench(ctx);
  } catch (e) {
    failed = true;
    process.stdout.write(`${name}: FAILED — ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  }
}
await close();
process.stdout.write(`\ndone in ${((performance.now() - started) / 1000).toFixed(0)} s; ${machineLine().replace('machine: ', 'machine after: ')}\n`);
process.exit(failed ? 1 : 0);
