/**
 * Many GraphQL subscribers in one process, for the fan-out bench: `node --import tsx
 * bench/children/subscribers.ts <ws-url> <count> <topic> <fast|slow>`. Each is its own WebSocket
 * speaking graphql-transport-ws by hand (a full client per socket would cost this process more
 * than the gateway) with one `events(topic)` subscription. `slow` ones stop reading their socket
 * once subscribed. Every second: `{type:'stats', open, received, rateLimited, completed, closed,
 * samples}` — samples are latencies (ms, wall clock, from `payload.sentAt`) of one message in 20.
 */
import WebSocket from 'ws';
import { onParentStop, tell } from '../lib/child.ts';

const [url, countArg, topic, mode] = process.argv.slice(2);
const count = Number(countArg);
const slow = mode === 'slow';
const sockets: WebSocket[] = [];
let open = 0;
let received = 0;
let rateLimited = 0;
let completed = 0;
let closed = 0;
let samples: number[] = [];
const SENT_AT = /"sentAt":(\d+)/;
const subscribe = JSON.stringify({ id: '1', type: 'subscribe', payload: { query: `subscription { events(topic: "${topic}") { offset payload } }` } });

function connect(): Promise<void> {
  return new Promise((resolve) => {
    const ws = new WebSocket(url!, 'graphql-transport-ws', { perMessageDeflate: false });
    sockets.push(ws);
    ws.on('open', () => ws.send('{"type":"connection_init"}'));
    ws.on('message', (data: Buffer) => {
      // the hot path: no JSON.parse per message, just what the counters need
      const s = data.toString('latin1');
      if (s.startsWith('{"type":"connection_ack"')) {
        ws.send(subscribe);
        open++;
        if (slow) (ws as unknown as { _socket: { pause(): void } })._socket.pause();
        resolve();
        return;
      }
      if (s.includes('"type":"next"')) {
        if (s.includes('RATE_LIMITED')) rateLimited++;
        else if (++received % 20 === 0) {
          const m = SENT_AT.exec(s);
          if (m) samples.push(Date.now() - Number(m[1]));
        }
      } else if (s.includes('"type":"complete"')) completed++;
    });
    ws.on('close', () => {
      closed++;
      resolve();
    });
    ws.on('error', () => resolve());
  });
}

// handshakes 200 at a time: a burst of 10,000 at once measures the accept queue, not the gateway
for (let i = 0; i < count; i += 200) await Promise.all(Array.from({ length: Math.min(200, count - i) }, connect));

const timer = setInterval(() => {
  tell({ type: 'stats', open, received, rateLimited, completed, closed, samples });
  samples = [];
}, 1000);
tell({ type: 'ready', open });
onParentStop(async () => {
  clearInterval(timer);
  for (const ws of sockets) ws.terminate();
});
