/**
 * Subscribers that stop reading (issue 12): N WebSockets subscribe to a topic and then never read
 * while events are published; the embedded server's RSS, the latency of GET /health probes and the
 * sockets still open are sampled, for each buffered-bytes budget given. Prints one line per
 * setting; figures go to BENCHMARKS.md.
 */
import { Agent, request } from 'node:http';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { BenchContext } from './embedded.ts';
import { spawnChild, stopChild } from './lib/child.ts';
import { PUBLISH_MANY, post } from './lib/http.ts';
import { sleep } from './lib/pace.ts';
import { fmtInt, fmtMiB, fmtMs, summarize } from './lib/stats.ts';

function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

function get(url: URL, path: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: 'GET' }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** A socket that subscribes to the topic, then stops reading from the kernel. */
async function stalledSubscriber(wsUrl: string, topic: string): Promise<WebSocket> {
  const ws = new WebSocket(wsUrl, 'graphql-transport-ws');
  ws.on('error', () => {});
  await new Promise<void>((r, j) => {
    ws.once('open', () => r());
    ws.once('error', j);
  });
  ws.send(JSON.stringify({ type: 'connection_init' }));
  await new Promise<void>((r) => ws.once('message', () => r()));
  ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { events(topic: "${topic}") { eventId payload } }` } }));
  await sleep(50);
  (ws as unknown as { _socket: { pause(): void } })._socket.pause();
  return ws;
}

async function runOne(ctx: BenchContext, budget: number, sockets: number, seconds: number, rate: number, payloadBytes: number): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'keyflow-bench-ws-'));
  const child = spawnChild('node', {
    args: ['start'],
    nodeArgs: ctx.childNodeArgs,
    env: {
      KEYFLOW_DATA_DIR: dir,
      KEYFLOW_PORT: '0',
      KEYFLOW_HOST: '127.0.0.1',
      KEYFLOW_LOG_LEVEL: 'error',
      KAFKA_BROKERS: '',
      REDIS_URL: '',
      NATS_URL: '',
      KEYFLOW_WS_MAX_BUFFERED_BYTES: String(budget),
      KEYFLOW_RATE_LIMIT_PER_ADDRESS: '0',
      KEYFLOW_RATE_LIMIT_PER_IDENTITY: '0',
      KEYFLOW_MAX_EVENT_BYTES: String(Math.max(65_536, payloadBytes * 2)),
    },
  });
  try {
    const ready = await child.next('ready', 60_000);
    const url = new URL(String(ready.url).replace('localhost', '127.0.0.1'));
    const wsUrl = url.href.replace('http:', 'ws:');
    const topic = 'events.iot.sensors';
    const subs = await Promise.all(Array.from({ length: sockets }, () => stalledSubscriber(wsUrl, topic)));
    const rss0 = rssBytes(child.pid);
    let rssMax = rss0;
    const health: number[] = [];
    let open = sockets;
    let firstDropAt: number | undefined;
    const started = performance.now();
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const blob = 'x'.repeat(payloadBytes);
    const batch = 50;
    let sent = 0;
    const until = started + seconds * 1000;
    const probes = (async () => {
      while (performance.now() < until) {
        const t = performance.now();
        await get(url, '/health');
        health.push(performance.now() - t);
        rssMax = Math.max(rssMax, rssBytes(child.pid));
        const m = /^keyflow_websocket_connections (\d+)/m.exec((await get(url, '/metrics')).text);
        open = m ? Number(m[1]) : open;
        if (open < sockets && firstDropAt === undefined) firstDropAt = performance.now() - started;
        await sleep(100);
      }
    })();
    while (performance.now() < until) {
      const due = Math.floor(((performance.now() - started) / 1000) * rate);
      if (sent >= due) {
        await sleep(5);
        continue;
      }
      const inputs = Array.from({ length: batch }, (_, i) => ({
        eventType: 'iot.sensor',
        deviceId: `d-${(sent + i) % 1000}`,
        timestamp: new Date(Date.UTC(2026, 0, 15, 10) + sent + i).toISOString(),
        payload: { value: 1, blob },
      }));
      await post(agent, url, JSON.stringify({ query: PUBLISH_MANY, variables: { inputs } }));
      sent += batch;
    }
    await probes;
    const h = summarize(health);
    process.stdout.write(
      `budget ${fmtMiB(budget).padStart(8)}: ${sockets} stalled sockets, ${fmtInt(sent)} events of ${fmtInt(payloadBytes)} B in ${seconds} s → ` +
        `server RSS +${fmtMiB(rssMax - rss0)} (max ${fmtMiB(rssMax)}), sockets still open ${open}/${sockets}` +
        `${firstDropAt !== undefined ? ` (first dropped after ${(firstDropAt / 1000).toFixed(1)} s)` : ''}, /health p50 ${fmtMs(h.p50)} ms, p99 ${fmtMs(h.p99)} ms, max ${fmtMs(h.max)} ms\n`,
    );
    for (const s of subs) s.terminate();
    agent.destroy();
  } finally {
    await stopChild(child);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchSlowSubscribers(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 8 : 20;
  // 1 KB events at 1000/s: each stalled socket is offered ~1 MB/s.
  for (const budget of [64 * 1024, 8 * 1024 * 1024, 1024 * 1024 * 1024]) await runOne(ctx, budget, 20, seconds, 1000, 1000);
}
