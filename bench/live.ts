/**
 * Live-path latency: publish → `events` subscription and publish → `windowResults` update, over
 * graphql-ws from this process, while it publishes `publishEvents` batches open loop at a target
 * rate. Shared by the embedded bench (`--only live`, one `keyflow start` process) and the Kafka
 * bench (`--kafka --only latency`, one gateway and two processor processes).
 *
 * Message timestamps: every event carries its scheduled send time (this process's
 * `performance.now()`) both as `payload.sentAt` and as its `payload.value`. An `events` message
 * gives its latency directly. A `windowResults` update of a key's `tumbling-1m` window carries
 * `max`, the newest send time the window has counted: every event of that key sent at or before it
 * is reflected, and its latency is the time of the first update that covers it (an update may
 * cover several events of one batch, so each event is measured, not each update).
 */
import { Agent } from 'node:http';
import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { type BenchContext, startServer } from './embedded.ts';
import { PUBLISH_MANY, post } from './lib/http.ts';
import { openLoop, sleep, waitUntil } from './lib/pace.ts';
import { IOT_TOPIC, iotInputs } from './lib/records.ts';
import { fmtInt, fmtLatency, type LatencySummary, monotonicUs, printProfileWindow, summarize, verdict } from './lib/stats.ts';

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
  events: LatencySummary;
  results: LatencySummary;
  expected: number;
  failedRequests: number;
}

/** The target pass (10,000 events/s), then one far below saturation for the service latency. */
export function livePasses(ctx: { quick: boolean }): LivePass[] {
  return [
    { rate: 10_000, batch: 50, warmMs: 5000, durationMs: ctx.quick ? 5000 : 20_000, target: true },
    { rate: 1000, batch: 10, warmMs: 2000, durationMs: ctx.quick ? 3000 : 10_000, target: false },
  ];
}

/** A placeholder no generated number equals; replaced by the scheduled send time in each body. */
const SENT = -424242;

/**
 * Runs the passes against the gateway at `url` and prints one line per stream and pass. `label`
 * names the deployment in the lines.
 */
export async function measureLiveLatency(url: URL, label: string, passes: readonly LivePass[], keys = 10_000): Promise<LiveFigures[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 64 });
  const client = createClient({ url: url.href.replace('http', 'ws'), webSocketImpl: WebSocket, retryAttempts: 0 });
  const figures: LiveFigures[] = [];
  let measureFrom = Number.POSITIVE_INFINITY;
  let eventSamples: number[] = [];
  let resultSamples: number[] = [];
  let eventsReceived = 0;
  let sent = 0;
  /** Send times per key not yet covered by a window update, oldest first (`head` is the next). */
  const pending = new Map<string, { times: number[]; head: number }>();
  const errors: string[] = [];
  try {
    client.subscribe<{ events: { payload: { sentAt?: number } } }>(
      { query: `subscription { events(topic: "${IOT_TOPIC}") { payload } }` },
      {
        next: (m) => {
          // a subscription ended by the server (RATE_LIMITED when this process read too slowly) says so in its last message
          if (m.errors) errors.push(`events: ${JSON.stringify(m.errors).slice(0, 300)}`);
          const sentAt = m.data?.events.payload.sentAt;
          if (typeof sentAt !== 'number') return;
          eventsReceived++;
          if (sentAt >= measureFrom) eventSamples.push(performance.now() - sentAt);
        },
        error: (e) => errors.push(`events: ${JSON.stringify(e).slice(0, 300)}`),
        complete: () => {},
      },
    );
    client.subscribe<{ windowResults: { key: string; max: number | null } }>(
      { query: 'subscription { windowResults(eventType: "iot.sensor", window: "tumbling-1m") { key max } }' },
      {
        next: (m) => {
          if (m.errors) errors.push(`windowResults: ${JSON.stringify(m.errors).slice(0, 300)}`);
          const r = m.data?.windowResults;
          if (!r || r.max === null) return;
          const q = pending.get(r.key);
          if (!q) return;
          const now = performance.now();
          while (q.head < q.times.length && q.times[q.head]! <= r.max) {
            const t = q.times[q.head++]!;
            if (t >= measureFrom) resultSamples.push(now - t);
          }
          if (q.head === q.times.length) pending.delete(r.key);
        },
        error: (e) => errors.push(`windowResults: ${JSON.stringify(e).slice(0, 300)}`),
        complete: () => {},
      },
    );
    await sleep(1000); // graphql-ws does not acknowledge a subscription; the warm-up covers the rest

    for (const pass of passes) {
      const total = Math.floor(((pass.warmMs + pass.durationMs) / 1000) * pass.rate);
      const inputs = iotInputs(total, keys, 31 + pass.rate);
      const timestamp = new Date().toISOString();
      const bodies: string[] = [];
      const keysOf: string[][] = [];
      for (let r = 0; r < Math.floor(total / pass.batch); r++) {
        const slice = inputs.slice(r * pass.batch, (r + 1) * pass.batch).map((e, i) => ({
          ...e,
          eventId: `live-${Date.now().toString(36)}-${pass.rate}-${r * pass.batch + i}`,
          timestamp,
          payload: { sentAt: SENT, value: SENT },
        }));
        keysOf.push(slice.map((e) => String(e.deviceId)));
        bodies.push(JSON.stringify({ query: PUBLISH_MANY, variables: { inputs: slice } }));
      }
      inputs.length = 0;
      eventSamples = [];
      resultSamples = [];
      let failed = 0;
      const inFlight = new Set<Promise<unknown>>();
      measureFrom = performance.now() + pass.warmMs;
      await openLoop({
        rate: pass.rate / pass.batch,
        durationMs: pass.warmMs + pass.durationMs,
        send(scheduledAt, i) {
          const body = bodies[i]!.replaceAll(String(SENT), String(scheduledAt));
          for (const k of keysOf[i]!) {
            let q = pending.get(k);
            if (!q) pending.set(k, (q = { times: [], head: 0 }));
            q.times.push(scheduledAt);
          }
          sent += pass.batch;
          const p = post(agent, url, body).then(
            (text) => {
              if (!text.includes('"ACCEPTED"')) failed++;
            },
            () => {
              failed++;
            },
          );
          inFlight.add(p);
          void p.finally(() => inFlight.delete(p));
        },
      });
      await Promise.all(inFlight);
      const expected = Math.floor((pass.durationMs / 1000) * pass.rate);
      await waitUntil(() => eventSamples.length >= expected && resultSamples.length >= expected, 30_000, 50);
      const f: LiveFigures = { events: summarize(eventSamples), results: summarize(resultSamples), expected, failedRequests: failed };
      figures.push(f);
      const head = `${label}: publishEvents (batches of ${pass.batch}) at ${fmtInt(pass.rate)} events/s open loop for ${pass.durationMs / 1000} s after ${pass.warmMs / 1000} s warm-up, from scheduled send time`;
      const judge = (l: LatencySummary) =>
        pass.target ? ` — target p99 < 50 ms: ${verdict(l.p99 < 50 && l.n >= expected && failed === 0)}` : ' (no target)';
      process.stdout.write(
        `${head}:\n` +
          `  publish → events subscription: ${fmtLatency(f.events)}; ${fmtInt(Math.max(0, expected - f.events.n))} not received${judge(f.events)}\n` +
          `  publish → windowResults update (tumbling-1m, every event measured): ${fmtLatency(f.results)}; ${fmtInt(Math.max(0, expected - f.results.n))} not covered${judge(f.results)}\n` +
          `  ${failed} failed requests${errors.length > 0 ? `; subscription errors: ${errors.join('; ')}` : ''}\n`,
      );
      // what is still queued arrives before the next pass
      await waitUntil(() => eventsReceived >= sent, 60_000, 100);
    }
    if (eventsReceived === 0) throw new Error(`no event arrived on the subscription${errors.length ? `: ${errors.join('; ')}` : ''}`);
    return figures;
  } finally {
    await client.dispose();
    agent.destroy();
  }
}

/** `npm run bench -- --only live`: the same measurement on one embedded `keyflow start` process. */
export async function benchLiveEmbedded(ctx: BenchContext): Promise<void> {
  const server = await startServer(ctx, 'live');
  try {
    const from = monotonicUs();
    await measureLiveLatency(server.url, 'embedded live latency (one keyflow start process)', livePasses(ctx));
    printProfileWindow(ctx.childNodeArgs.length > 0, `live latency (server pid ${server.child.pid})`, from);
  } finally {
    await server.cleanup();
  }
}
