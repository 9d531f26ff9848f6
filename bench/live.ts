/**
 * Live-path latency: publish → `events` subscription and publish → `windowResults` update, over
 * graphql-ws, while `publishEvents` batches are published open loop at a target rate. Shared by
 * the embedded bench (`--only live`, one `keyflow start` process) and the Kafka bench
 * (`--kafka --only latency`, one gateway and two processor processes).
 *
 * Nobody measuring is in the way of what is measured: the publisher (bench/children/live-publisher.ts)
 * and the subscribers (bench/children/live-subscriber.ts) are processes of their own, as partners
 * and frontends are, and each pass starts with fresh subscriptions. Two kinds of frontend:
 * - one `events(topic)` subscription for the whole topic (every event, on one socket);
 * - dashboards watching one device each: `windowResults(eventType, key, window: "tumbling-1m")`
 *   for {@link WATCHED} keys (ten subscriptions per socket). A subscription for every key and
 *   window would receive every window's update of every key (several per event), far more than any
 *   screen shows; the API filters by key and window on the server, so a frontend asks for what it
 *   shows.
 *
 * Message timestamps: every event carries its scheduled send time on the system-wide monotonic
 * clock (the same in every process) as `payload.sentAt` and `payload.value`. An `events` message
 * gives its latency directly. A `tumbling-1m` window update carries `max`, the newest send time the
 * window has counted: every event of that key sent at or before it is reflected, and its latency
 * is the arrival of the first update that covers it (each event of a watched key is measured, not
 * each update). A subscription the server ends (RATE_LIMITED for a reader that fell behind) is
 * printed with its reason; the next pass subscribes afresh.
 */
import { loadavg } from 'node:os';
import { type BenchContext, startServer } from './embedded.ts';
import { type Child, monotonicMs, spawnChild, stopChild } from './lib/child.ts';
import { sleep, waitUntil } from './lib/pace.ts';
import { IOT_TOPIC } from './lib/records.ts';
import { fmtInt, fmtLatency, type LatencySummary, monotonicUs, verdict } from './lib/stats.ts';

export interface LivePass {
  /** Events per second. */
  rate: number;
  /** Events per publishEvents request. */
  batch: number;
  warmMs: number;
  durationMs: number;
  /** Whether the p99 < 50 ms target applies. */
  target: boolean;
}

export interface LiveFigures {
  rate: number;
  events: LatencySummary;
  results: LatencySummary;
  expected: number;
  failedRequests: number;
  /** Subscriptions the server ended during the pass, with why. */
  ended: string[];
}

/** Keys whose tumbling-1m window is watched (one windowResults subscription each). */
export const WATCHED = 200;

/** 1,000, 5,000 and 10,000 events/s (the target), each with fresh subscriptions. */
export function livePasses(ctx: { quick: boolean }): LivePass[] {
  const durationMs = ctx.quick ? 5000 : 20_000;
  return [
    { rate: 1000, batch: 10, warmMs: 3000, durationMs, target: false },
    { rate: 5000, batch: 25, warmMs: 3000, durationMs, target: false },
    { rate: 10_000, batch: 50, warmMs: 3000, durationMs, target: true },
  ];
}

/** A summary that crossed IPC: NaN (no sample) arrives as null. */
function summaryOf(raw: unknown): LatencySummary {
  const l = raw as Record<keyof LatencySummary, number | null>;
  const n = (v: number | null) => v ?? Number.NaN;
  return { n: n(l.n), p50: n(l.p50), p95: n(l.p95), p99: n(l.p99), max: n(l.max), mean: n(l.mean) };
}

function load(): string {
  return loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
}

/**
 * Runs the passes against the gateway at `url` and prints one block per pass. `label` names the
 * deployment in the lines.
 */
export interface LiveOptions {
  /** Print each pass's profile window (the servers run under --cpu-prof). */
  profiling?: boolean;
  /** CPU time the server processes have used so far, µs (from their stats messages). */
  serverCpuUs?: () => number;
  /** CPU time the gateway (of the server processes) has used so far, µs: printed apart when given. */
  gatewayCpuUs?: () => number;
  /** Distinct keys of the published events. @default 10_000 */
  keys?: number;
}

export async function measureLiveLatency(url: URL, label: string, passes: readonly LivePass[], o: LiveOptions = {}): Promise<LiveFigures[]> {
  const keys = o.keys ?? 10_000;
  const figures: LiveFigures[] = [];
  const wsUrl = url.href.replace('http', 'ws');
  const watch = Array.from({ length: WATCHED }, (_, i) => `sensor-${Math.floor((i * keys) / WATCHED)}`);
  for (const pass of passes) {
    const children: Child[] = [];
    try {
      const publisher = spawnChild('live-publisher', {
        args: [url.href, String(pass.rate), String(pass.batch), String(pass.warmMs), String(pass.durationMs), String(keys), String(31 + pass.rate)],
      });
      const events = spawnChild('live-subscriber', { args: [wsUrl, 'events', IOT_TOPIC] });
      const windows = spawnChild('live-subscriber', { args: [wsUrl, 'windows', 'iot.sensor', 'tumbling-1m', watch.join(',')] });
      children.push(publisher, events, windows);
      await Promise.all([publisher.next('ready', 120_000), events.next('ready', 60_000), windows.next('ready', 60_000)]);
      // graphql-ws does not acknowledge a subscription: give the subscribe messages time to arrive
      await sleep(1000);
      const loadBefore = load();
      const cpu0 = o.serverCpuUs?.();
      const gw0 = o.gatewayCpuUs?.();
      const startAt = monotonicMs() + 200;
      const measuredFrom = BigInt(Math.round((startAt + pass.warmMs) * 1000));
      const from = startAt + pass.warmMs;
      for (const s of [events, windows]) s.send({ type: 'measure', from });
      const done = publisher.next('done', pass.warmMs + pass.durationMs + 120_000);
      publisher.send({ type: 'go', startAt, watch });
      const d = await done;
      const measuredTo = monotonicUs();
      const watched = d.watched as [string, number][];
      const expected = Math.floor((pass.durationMs / 1000) * pass.rate);
      // what is still queued arrives, or stops arriving
      let last = -1;
      let still = 0;
      await waitUntil(
        () => {
          const e = events.latest('stats');
          const w = windows.latest('stats');
          const n = Number(e?.received ?? 0) + Number(w?.received ?? 0);
          still = n === last ? still + 1 : 0;
          last = n;
          return (Number(e?.measured ?? 0) >= expected && still >= 2) || still >= 20;
        },
        60_000,
        500,
      );
      // the servers' CPU from the first send until the last message was delivered, per event published
      const cpuMs = cpu0 === undefined ? Number.NaN : (o.serverCpuUs!() - cpu0) / 1000;
      const gwMs = gw0 === undefined ? Number.NaN : (o.gatewayCpuUs!() - gw0) / 1000;
      const [er, wr] = await Promise.all(
        [events, windows].map((s) => {
          const r = s.next('report', 30_000);
          s.send({ type: 'report', sends: watched });
          return r;
        }),
      );
      const ended = [...(er!.ended as string[]), ...(wr!.ended as string[])];
      const el = summaryOf(er!.latency);
      const wl = summaryOf(wr!.latency);
      const wExpected = wl.n + Number(wr!.notCovered);
      const failed = Number(d.failed);
      figures.push({ rate: pass.rate, events: el, results: wl, expected, failedRequests: failed, ended });
      const judge = (l: LatencySummary, n: number) => (pass.target ? ` — target p99 < 50 ms: ${verdict(l.p99 < 50 && l.n >= n && failed === 0 && ended.length === 0)}` : '');
      process.stdout.write(
        `${label}: publishEvents (batches of ${pass.batch}) at ${fmtInt(pass.rate)} events/s open loop for ${pass.durationMs / 1000} s after ${pass.warmMs / 1000} s warm-up, ` +
          `latency from scheduled send time (publisher at worst ${Number(d.maxLateMs).toFixed(0)} ms behind schedule; load average ${loadBefore} → ${load()}):\n` +
          `  publish → events subscription (whole topic, one socket): ${fmtLatency(el)}; ${fmtInt(Math.max(0, expected - el.n))} not received; ` +
          `${fmtInt(Number(er!.outOfOrder))} repeated or out of order${judge(el, expected)}\n` +
          `  publish → windowResults update (${WATCHED} subscriptions windowResults(key, window: tumbling-1m), every event of those keys): ` +
          `${fmtLatency(wl)}; ${fmtInt(Number(wr!.notCovered))} of ${fmtInt(wExpected)} not covered${judge(wl, wExpected)}\n` +
          `  ${failed} failed requests; ${Number.isNaN(cpuMs) ? '' : `server CPU ${fmtInt(cpuMs)} ms for ${fmtInt(Number(d.sent))} events = ${((cpuMs / Number(d.sent)) * 1000).toFixed(0)} µs per event published (ingest, processing, fan-out)${Number.isNaN(gwMs) ? '' : `, of which the gateway ${((gwMs / Number(d.sent)) * 1000).toFixed(0)} µs`}; `}${ended.length === 0 ? 'no subscription ended' : `SUBSCRIPTIONS ENDED BY THE SERVER: ${ended.slice(0, 5).join(' | ')}${ended.length > 5 ? ` (+${ended.length - 5} more)` : ''}`}\n`,
      );
      if (o.profiling) process.stdout.write(`  (profile window of the measured ${fmtInt(pass.rate)} events/s section: --from ${measuredFrom} --to ${measuredTo})\n`);
    } finally {
      await Promise.all(children.map((c) => stopChild(c, 5000)));
    }
  }
  return figures;
}

/** `npm run bench -- --only live`: the same measurement on one embedded `keyflow start` process. */
export async function benchLiveEmbedded(ctx: BenchContext): Promise<void> {
  const server = await startServer(ctx, 'live');
  try {
    await measureLiveLatency(server.url, `embedded live latency (one keyflow start process, pid ${server.child.pid})`, livePasses(ctx), {
      profiling: ctx.childNodeArgs.includes('--cpu-prof'),
      serverCpuUs: () => Number(server.child.latest('stats')?.cpuUs ?? Number.NaN),
    });
  } finally {
    await server.cleanup();
  }
}
