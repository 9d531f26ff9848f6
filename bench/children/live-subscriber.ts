/**
 * The subscribing side of the live-latency bench (bench/live.ts), in its own process as a frontend
 * would be (the publisher and the other subscribers are other processes):
 *
 *   node --import tsx bench/children/live-subscriber.ts <ws-url> events <topic>
 *     one socket, one `events(topic)` subscription for the whole topic; each message is parsed and
 *     its latency taken from `payload.sentAt`; offsets are checked to come once and in order per
 *     partition.
 *   node --import tsx bench/children/live-subscriber.ts <ws-url> windows <eventType> <window> <key,key,…>
 *     one `windowResults(eventType, key, window)` subscription per key, as dashboards watching one
 *     device each (ten per socket); each update's `max` is the newest send time its window counted.
 *
 * Times are on the system-wide monotonic clock (`monotonicMs`), the publisher's clock too. IPC in:
 * `{type:'measure', from}` (send times at or after `from` are measured), `{type:'report', sends}`
 * (`sends`: `[key, sentAt]` of the watched keys' events, from the publisher). IPC out: `ready` once
 * every subscription was sent, `stats` every 500 ms (`received`, `measured`, `ended`), `report`
 * with the latency summary. A subscription the server ended (RATE_LIMITED, an error, `complete`, a
 * closed socket) is listed in `ended` with why.
 */
import WebSocket from 'ws';
import { monotonicMs, onParentStop, tell } from '../lib/child.ts';
import { summarize } from '../lib/stats.ts';

const [url, mode, name, window, keyList] = process.argv.slice(2);
const sockets: WebSocket[] = [];
let measureFrom = Number.POSITIVE_INFINITY;
let received = 0;
let measured = 0;
const ended: string[] = [];
/** events: latency samples (ms) of measured events. */
const samples: number[] = [];
/** events: highest offset seen per partition, and what broke the once-in-order rule. */
const lastOffset: number[] = [];
let outOfOrder = 0;
/** windows: updates per key as [receivedAt, max] in arrival order. */
const updates = new Map<string, number[]>();
let timer: ReturnType<typeof setInterval> | undefined;

interface Frame {
  id?: string;
  type: string;
  payload?: { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] } | unknown[];
}

function open(subscriptions: { id: string; query: string }[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url!, 'graphql-transport-ws', { perMessageDeflate: false });
    sockets.push(ws);
    const label = (id: string | undefined) => (mode === 'events' ? 'events' : `windowResults(key: ${id})`);
    ws.on('open', () => ws.send('{"type":"connection_init"}'));
    ws.on('message', (data: Buffer) => {
      const now = monotonicMs();
      const m = JSON.parse(data.toString('utf8')) as Frame;
      if (m.type === 'next') {
        const p = m.payload as { data?: Record<string, unknown> | null; errors?: { message: string; extensions?: { code?: string } }[] };
        if (p.errors?.length) {
          ended.push(`${label(m.id)}: ${p.errors.map((e) => `${e.extensions?.code ?? ''} ${e.message}`).join('; ')}`);
          return;
        }
        received++;
        if (mode === 'events') onEvent(p.data?.events as { partition: number; offset: string; payload: { sentAt?: number } }, now);
        else onWindow(p.data?.windowResults as { key: string; max: number | null }, now);
      } else if (m.type === 'connection_ack') {
        for (const s of subscriptions) ws.send(JSON.stringify({ id: s.id, type: 'subscribe', payload: { query: s.query } }));
        resolve();
      } else if (m.type === 'error') ended.push(`${label(m.id)}: error ${JSON.stringify(m.payload).slice(0, 200)}`);
      else if (m.type === 'complete') ended.push(`${label(m.id)}: completed by the server`);
    });
    ws.on('close', (code, reason) => {
      if (!stopping) ended.push(`socket closed (${code} ${String(reason)})`);
      resolve();
    });
    ws.on('error', reject);
  });
}

function onEvent(e: { partition: number; offset: string; payload: { sentAt?: number } }, now: number): void {
  // an int64 as a decimal string; far below 2^53 here
  const offset = Number(e.offset);
  const last = lastOffset[e.partition];
  if (last !== undefined && offset <= last) outOfOrder++;
  else lastOffset[e.partition] = offset;
  const sentAt = e.payload.sentAt;
  if (typeof sentAt === 'number' && sentAt >= measureFrom) {
    measured++;
    samples.push(now - sentAt);
  }
}

function onWindow(r: { key: string; max: number | null }, now: number): void {
  if (r.max === null) return;
  let list = updates.get(r.key);
  if (list === undefined) updates.set(r.key, (list = []));
  list.push(now, r.max);
  if (r.max >= measureFrom) measured++;
}

/** Per watched event: the arrival of the first update of its key whose max covers its send time. */
function windowLatencies(sends: [string, number][]): { samples: number[]; notCovered: number } {
  const byKey = new Map<string, number[]>();
  for (const [k, t] of sends) {
    let l = byKey.get(k);
    if (l === undefined) byKey.set(k, (l = []));
    l.push(t);
  }
  const out: number[] = [];
  let notCovered = 0;
  for (const [k, times] of byKey) {
    times.sort((a, b) => a - b);
    const ups = updates.get(k) ?? [];
    let head = 0;
    for (let u = 0; u < ups.length; u += 2) {
      while (head < times.length && times[head]! <= ups[u + 1]!) {
        const t = times[head++]!;
        if (t >= measureFrom) out.push(ups[u]! - t);
      }
    }
    for (; head < times.length; head++) if (times[head]! >= measureFrom) notCovered++;
  }
  return { samples: out, notCovered };
}

let stopping = false;
process.on('message', (m: { type: string; from?: number; sends?: [string, number][] }) => {
  if (m.type === 'measure') measureFrom = Number(m.from);
  else if (m.type === 'report') {
    if (mode === 'events') tell({ type: 'report', latency: summarize(samples), received, outOfOrder, ended });
    else {
      const w = windowLatencies(m.sends ?? []);
      tell({ type: 'report', latency: summarize(w.samples), notCovered: w.notCovered, received, ended });
    }
  }
});
onParentStop(async () => {
  stopping = true;
  clearInterval(timer);
  for (const ws of sockets) ws.terminate();
});

if (mode === 'events') await open([{ id: 'e', query: `subscription { events(topic: ${JSON.stringify(name)}) { partition offset payload } }` }]);
else {
  const keys = (keyList ?? '').split(',').filter((k) => k !== '');
  const query = (k: string) =>
    `subscription { windowResults(eventType: ${JSON.stringify(name)}, key: ${JSON.stringify(k)}, window: ${JSON.stringify(window)}) { key max } }`;
  const opening: Promise<void>[] = [];
  for (let i = 0; i < keys.length; i += 10) opening.push(open(keys.slice(i, i + 10).map((k) => ({ id: k, query: query(k) }))));
  await Promise.all(opening);
}
timer = setInterval(() => tell({ type: 'stats', received, measured, ended }), 500);
tell({ type: 'ready', sockets: sockets.length });
