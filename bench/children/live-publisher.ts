/**
 * The publisher of the live-latency bench (bench/live.ts), in its own process so that building and
 * posting requests never delays the subscribers' reading, nor they its sends:
 * `node --import tsx bench/children/live-publisher.ts <graphql-url> <rate> <batch> <warmMs> <durationMs> <keys> <seed>`.
 *
 * Builds every `publishEvents` body first, tells `{type:'ready'}`, then on
 * `{type:'go', startAt, watch}` (startAt on the system-wide monotonic clock, ms) publishes open loop
 * at `rate` events/s. Every event carries its scheduled send time on that clock as `payload.sentAt`
 * and `payload.value`, so a subscriber in another process measures against the same clock. When
 * every request is answered: `{type:'done', sent, failed, maxLateMs, watched}` — `watched` is
 * `[key, sentAt]` of each event of a key in `watch` (for the per-key windowResults measurement),
 * `maxLateMs` how far behind its schedule this process was at worst when it issued a request.
 */
import { Agent } from 'node:http';
import { PUBLISH_MANY, post } from '../lib/http.ts';
import { openLoop, sleep } from '../lib/pace.ts';
import { iotInputs } from '../lib/records.ts';
import { monotonicMs, onParentStop, tell } from '../lib/child.ts';

const [urlArg, rateArg, batchArg, warmArg, durationArg, keysArg, seedArg] = process.argv.slice(2);
const url = new URL(urlArg!);
const rate = Number(rateArg);
const batch = Number(batchArg);
const warmMs = Number(warmArg);
const durationMs = Number(durationArg);
/** A placeholder no generated number equals; replaced by the scheduled send time in each body. */
const SENT = '-424242';

const total = Math.floor(((warmMs + durationMs) / 1000) * rate);
const inputs = iotInputs(total, Number(keysArg), Number(seedArg));
const timestamp = new Date().toISOString();
const run = `live-${Date.now().toString(36)}-${process.pid}`;
const bodies: string[] = [];
const keysOf: string[][] = [];
for (let r = 0; r < Math.floor(total / batch); r++) {
  const slice = inputs.slice(r * batch, (r + 1) * batch).map((e, i) => ({
    ...e,
    eventId: `${run}-${r * batch + i}`,
    // one tumbling-1m window per key for the whole run: its max is the newest send time counted
    timestamp,
    payload: { sentAt: Number(SENT), value: Number(SENT) },
  }));
  keysOf.push(slice.map((e) => String(e.deviceId)));
  bodies.push(JSON.stringify({ query: PUBLISH_MANY, variables: { inputs: slice } }));
}
inputs.length = 0;

const agent = new Agent({ keepAlive: true, maxSockets: 64 });
process.on('message', (m: { type: string; startAt?: number; watch?: string[] }) => {
  if (m.type === 'go') void publish(Number(m.startAt), new Set(m.watch ?? []));
});
onParentStop(async () => {
  agent.destroy();
});
tell({ type: 'ready', requests: bodies.length });

async function publish(startAt: number, watch: Set<string>): Promise<void> {
  await sleep(Math.max(0, startAt - monotonicMs()));
  // openLoop schedules on performance.now(); the same clock as monotonicMs() with another origin
  const toMono = monotonicMs() - performance.now();
  const watched: [string, number][] = [];
  let sent = 0;
  let failed = 0;
  let maxLateMs = 0;
  const inFlight = new Set<Promise<unknown>>();
  await openLoop({
    rate: rate / batch,
    durationMs: warmMs + durationMs,
    send(scheduledAt, i) {
      maxLateMs = Math.max(maxLateMs, performance.now() - scheduledAt);
      const sentAt = String(scheduledAt + toMono);
      const body = bodies[i]!.replaceAll(SENT, sentAt);
      for (const k of keysOf[i]!) if (watch.has(k)) watched.push([k, Number(sentAt)]);
      sent += batch;
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
  tell({ type: 'done', sent, failed, maxLateMs, watched });
}
