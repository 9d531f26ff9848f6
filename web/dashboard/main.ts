/**
 * keyflow's live dashboard: everything through the public GraphQL API — queries over HTTP POST
 * /graphql, subscriptions over graphql-ws on the same path — with the bearer token the user gives
 * (`Authorization` header; `connectionParams.authorization` on the WebSocket). Subscriptions resume
 * with their last cursor after a reconnect, so the lists miss nothing.
 */
import { type Client, createClient } from 'graphql-ws';

const TOKEN_KEY = 'keyflow.dashboard.token';
const HISTORY = 60;
const LATEST = 15;

function $(id: string): HTMLElement {
  const el = document.getElementById(id);
  if (!el) throw new Error(`#${id} missing`);
  return el;
}

function tokenFromHash(): string | null {
  const m = /(?:^#|&)token=([^&]*)/.exec(location.hash);
  return m ? decodeURIComponent(m[1]!) : null;
}

let token = tokenFromHash() ?? localStorage.getItem(TOKEN_KEY) ?? '';
if (tokenFromHash() !== null) {
  localStorage.setItem(TOKEN_KEY, token);
  history.replaceState(null, '', location.pathname);
}

interface GqlError {
  message: string;
  extensions?: { code?: string };
}

function setStatus(state: 'connecting' | 'live' | 'error', text: string): void {
  const s = $('status');
  s.dataset.state = state;
  s.textContent = text;
}

async function gql<T>(query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch('/graphql', { method: 'POST', headers, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: T; errors?: GqlError[] };
  if (body.errors?.length) {
    const e = body.errors[0]!;
    throw new Error(`${e.extensions?.code ?? 'ERROR'}: ${e.message}`);
  }
  return body.data as T;
}

// ---------------------------------------------------------------------------------------------
// graphql-ws: one client; subscriptions are (re)started from their last cursor on every connect.

interface Live {
  start(client: Client): () => void;
  stop?: () => void;
}

const lives = new Set<Live>();
let client: Client | null = null;

function connect(): void {
  client?.dispose();
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  const c = createClient({
    url,
    connectionParams: () => (token ? { authorization: `Bearer ${token}` } : {}),
    // connect now and stay connected (the subscriptions start on `connected`)
    lazy: false,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    on: {
      connected: () => {
        setStatus('live', 'live');
        for (const l of lives) {
          l.stop?.();
          l.stop = l.start(c);
        }
      },
      closed: (e) => {
        const reason = (e as CloseEvent | undefined)?.reason;
        setStatus('error', reason ? `disconnected: ${reason}` : 'reconnecting…');
      },
    },
  });
  client = c;
}

function live(l: Live): () => void {
  lives.add(l);
  if (client && $('status').dataset.state === 'live') l.stop = l.start(client);
  return () => {
    lives.delete(l);
    l.stop?.();
  };
}

// ---------------------------------------------------------------------------------------------
// Event types: appended / processed totals, rates, lag, and a sparkline of the ingest rate.

interface TopicOut {
  name: string;
  eventType: string;
  partitions: number;
  appendedTotal: number;
  processedTotal: number | null;
  consumerLag: number | null;
}

const prev = new Map<string, { at: number; appended: number; processed: number | null }>();
const rates = new Map<string, number[]>();

function cell(text: string, cls?: string): HTMLTableCellElement {
  const td = document.createElement('td');
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function fmt(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function sparkline(points: number[]): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'spark');
  svg.setAttribute('viewBox', `0 0 ${HISTORY} 20`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...points);
  const line = document.createElementNS(ns, 'polyline');
  line.setAttribute('points', points.map((v, i) => `${i + HISTORY - points.length},${(20 - (v / max) * 19).toFixed(1)}`).join(' '));
  svg.append(line);
  return svg;
}

let topics: TopicOut[] = [];

async function refreshTypes(): Promise<void> {
  const data = await gql<{ topics: TopicOut[] }>('{ topics { name eventType partitions appendedTotal processedTotal consumerLag } }');
  topics = data.topics;
  const now = performance.now();
  const body = $('types').querySelector('tbody')!;
  const rows: HTMLTableRowElement[] = [];
  for (const t of topics) {
    const p = prev.get(t.name);
    const dt = p ? (now - p.at) / 1000 : 0;
    const ingest = p && dt > 0 ? (t.appendedTotal - p.appended) / dt : null;
    const processing = p && dt > 0 && t.processedTotal !== null && p.processed !== null ? (t.processedTotal - p.processed) / dt : null;
    prev.set(t.name, { at: now, appended: t.appendedTotal, processed: t.processedTotal });
    const history = rates.get(t.name) ?? [];
    if (ingest !== null) history.push(Math.max(0, ingest));
    while (history.length > HISTORY) history.shift();
    rates.set(t.name, history);
    const tr = document.createElement('tr');
    tr.dataset.type = t.eventType;
    tr.append(
      cell(t.eventType),
      cell(t.name),
      cell(fmt(t.appendedTotal), 'num appended'),
      cell(fmt(ingest, 1), 'num ingest'),
      cell(fmt(t.processedTotal), 'num processed'),
      cell(fmt(processing, 1), 'num processing'),
      cell(fmt(t.consumerLag), 'num lag'),
    );
    const chart = document.createElement('td');
    chart.append(sparkline(history));
    tr.append(chart);
    rows.push(tr);
  }
  body.replaceChildren(...rows);
  fillSelects();
}

let selectsFilled = false;
function fillSelects(): void {
  if (selectsFilled || topics.length === 0) return;
  selectsFilled = true;
  const typeSel = $('key-type') as HTMLSelectElement;
  const topicSel = $('events-topic') as HTMLSelectElement;
  for (const t of topics) {
    typeSel.append(new Option(t.eventType, t.eventType));
    topicSel.append(new Option(t.name, t.name));
  }
  topicSel.append(new Option('events.late (late events)', 'events.late'));
  watchEvents(topicSel.value);
  const rollupSel = $('rollup-type') as HTMLSelectElement;
  for (const t of topics) rollupSel.append(new Option(t.eventType, t.eventType));
  watchRollups();
}

// ---------------------------------------------------------------------------------------------
// Rollups across keys of one event type and window spec, live: a bar chart of the count per
// window and a table. The subscription sends every current window first, then each change.

interface RollupOut {
  window: string;
  windowStart: string;
  windowEnd: string;
  count: number;
  distinctKeys: number;
  distinctUsers: number;
  avg: number | null;
  min: number | null;
  max: number | null;
  final: boolean;
  topKeys: { key: string; count: number }[];
}

const ROLLUPS_SUB = `subscription($eventType: String!, $window: String!) {
  rollups(eventType: $eventType, window: $window, top: 3) {
    window windowStart windowEnd count distinctKeys distinctUsers avg min max final topKeys { key count }
  }
}`;
const ROLLUP_BARS = 30;

let stopRollups: (() => void) | null = null;
const rollupRows = new Map<string, RollupOut>();

function rollupChart(rows: RollupOut[]): SVGSVGElement {
  const ns = 'http://www.w3.org/2000/svg';
  const svg = document.createElementNS(ns, 'svg');
  svg.setAttribute('class', 'bars');
  svg.setAttribute('viewBox', `0 0 ${ROLLUP_BARS * 10} 60`);
  svg.setAttribute('preserveAspectRatio', 'none');
  const max = Math.max(1, ...rows.map((r) => r.count));
  rows.forEach((r, i) => {
    const h = (r.count / max) * 58;
    const bar = document.createElementNS(ns, 'rect');
    bar.setAttribute('x', String((i + ROLLUP_BARS - rows.length) * 10 + 1));
    bar.setAttribute('y', (60 - h).toFixed(1));
    bar.setAttribute('width', '8');
    bar.setAttribute('height', h.toFixed(1));
    bar.setAttribute('class', r.final ? 'final' : 'open');
    const title = document.createElementNS(ns, 'title');
    title.textContent = `${r.windowStart.slice(11, 19)}: ${r.count} events, ${r.distinctKeys} keys`;
    bar.append(title);
    svg.append(bar);
  });
  return svg;
}

function renderRollups(changed: string | null): void {
  const newestFirst = [...rollupRows.values()].sort((a, b) => (a.windowStart < b.windowStart ? 1 : -1));
  $('rollup-chart').replaceChildren(rollupChart(newestFirst.slice(0, ROLLUP_BARS).reverse()));
  $('rollups')
    .querySelector('tbody')!
    .replaceChildren(
      ...newestFirst.slice(0, 20).map((r) => {
        const tr = document.createElement('tr');
        tr.dataset.start = r.windowStart;
        if (r.windowStart === changed) tr.className = 'changed';
        else if (r.final) tr.className = 'final';
        tr.append(
          cell(r.windowStart.slice(11, 19)),
          cell(r.windowEnd.slice(11, 19)),
          cell(String(r.count), 'num count'),
          cell(String(r.distinctKeys), 'num keys'),
          cell(String(r.distinctUsers), 'num users'),
          cell(fmt(r.avg, 2), 'num avg'),
          cell(fmt(r.min, 2), 'num'),
          cell(fmt(r.max, 2), 'num'),
          cell(r.topKeys.map((k) => `${k.key} (${k.count})`).join(', '), 'top'),
          cell(r.final ? 'final' : 'open', 'final-flag'),
        );
        return tr;
      }),
    );
}

function watchRollups(): void {
  const eventType = ($('rollup-type') as HTMLSelectElement).value;
  const window = ($('rollup-window') as HTMLSelectElement).value;
  stopRollups?.();
  rollupRows.clear();
  renderRollups(null);
  if (!eventType || !window) return;
  stopRollups = live({
    start: (c) =>
      c.subscribe<{ rollups: RollupOut }>(
        { query: ROLLUPS_SUB, variables: { eventType, window } },
        {
          next: (m) => {
            if (m.errors?.length) return setStatus('error', m.errors[0]!.message);
            const r = m.data!.rollups;
            rollupRows.set(r.windowStart, r);
            renderRollups(r.windowStart);
          },
          error: (e) => setStatus('error', String((e as Error)?.message ?? e)),
          complete: () => undefined,
        },
      ),
  });
}

// ---------------------------------------------------------------------------------------------
// One key's windows, live.

interface WindowOut {
  window: string;
  windowStart: string;
  windowEnd: string;
  count: number;
  sum: number | null;
  avg: number | null;
  min: number | null;
  max: number | null;
  distinctUsers: number;
  final: boolean;
  revision: number;
  cursor: string | null;
}

const WINDOWS_SUB = `subscription($eventType: String!, $key: String!, $window: String, $after: String) {
  windowResults(eventType: $eventType, key: $key, window: $window, snapshot: true, after: $after) {
    window windowStart windowEnd count sum avg min max distinctUsers final revision cursor
  }
}`;

let stopWindows: (() => void) | null = null;
const windowRows = new Map<string, WindowOut>();

function renderWindows(changed: string | null): void {
  const body = $('windows').querySelector('tbody')!;
  const sorted = [...windowRows.entries()].sort(([, a], [, b]) => (a.windowStart < b.windowStart ? 1 : a.windowStart > b.windowStart ? -1 : a.window.localeCompare(b.window)));
  body.replaceChildren(
    ...sorted.slice(0, 40).map(([id, w]) => {
      const tr = document.createElement('tr');
      tr.dataset.window = w.window;
      tr.dataset.start = w.windowStart;
      if (id === changed) tr.className = 'changed';
      else if (w.final) tr.className = 'final';
      tr.append(
        cell(w.window),
        cell(w.windowStart.slice(11, 19)),
        cell(w.windowEnd.slice(11, 19)),
        cell(String(w.count), 'num count'),
        cell(fmt(w.sum, 2), 'num'),
        cell(fmt(w.avg, 2), 'num avg'),
        cell(fmt(w.min, 2), 'num'),
        cell(fmt(w.max, 2), 'num'),
        cell(String(w.distinctUsers), 'num'),
        cell(w.final ? `final (rev ${w.revision})` : 'open', 'final-flag'),
      );
      return tr;
    }),
  );
}

function watchWindows(eventType: string, key: string, window: string | null): void {
  stopWindows?.();
  windowRows.clear();
  renderWindows(null);
  let cursor: string | null = null;
  stopWindows = live({
    start: (c) =>
      c.subscribe<{ windowResults: WindowOut }>(
        { query: WINDOWS_SUB, variables: { eventType, key, window, after: cursor } },
        {
          next: (m) => {
            if (m.errors?.length) return setStatus('error', m.errors[0]!.message);
            const w = m.data!.windowResults;
            if (w.cursor) cursor = w.cursor;
            const id = `${w.window}/${w.windowStart}`;
            windowRows.set(id, w);
            renderWindows(id);
          },
          error: (e) => setStatus('error', String((e as Error)?.message ?? e)),
          complete: () => undefined,
        },
      ),
  });
}

// ---------------------------------------------------------------------------------------------
// Latest events of a topic: a page, then live from the log's cursor (resumed after a reconnect).

interface EventOut {
  eventId: string;
  key: string;
  timestamp: string;
  partition: number;
  offset: string;
  payload: unknown;
  cursor?: string | null;
}

const EVENTS_SUB = `subscription($topic: String!, $after: String) {
  events(topic: $topic, after: $after) { eventId key timestamp partition offset payload cursor }
}`;

let stopEvents: (() => void) | null = null;
let latest: EventOut[] = [];

function renderEvents(): void {
  $('events')
    .querySelector('tbody')!
    .replaceChildren(
      ...latest.map((e) => {
        const tr = document.createElement('tr');
        tr.dataset.eventId = e.eventId;
        tr.append(cell(e.timestamp.slice(0, 19).replace('T', ' ')), cell(e.key), cell(String(e.partition), 'num'), cell(e.offset, 'num'), cell(JSON.stringify(e.payload), 'payload'));
        return tr;
      }),
    );
}

async function watchEvents(topic: string): Promise<void> {
  stopEvents?.();
  const data = await gql<{ eventsCursor: string; latestEventsPage: { nodes: EventOut[] } }>(
    'query($topic: String!, $n: Int) { eventsCursor(topic: $topic) latestEventsPage(topic: $topic, first: $n) { nodes { eventId key timestamp partition offset payload } } }',
    { topic, n: LATEST },
  );
  latest = data.latestEventsPage.nodes;
  renderEvents();
  let cursor = data.eventsCursor;
  stopEvents = live({
    start: (c) =>
      c.subscribe<{ events: EventOut }>(
        { query: EVENTS_SUB, variables: { topic, after: cursor } },
        {
          next: (m) => {
            if (m.errors?.length) return setStatus('error', m.errors[0]!.message);
            const e = m.data!.events;
            if (e.cursor) cursor = e.cursor;
            latest = [e, ...latest].slice(0, LATEST);
            renderEvents();
          },
          error: (e) => setStatus('error', String((e as Error)?.message ?? e)),
          complete: () => undefined,
        },
      ),
  });
}

// ---------------------------------------------------------------------------------------------
// Dead letters (polled: they are rare).

interface DeadLetterOut {
  id: string;
  errorType: string;
  errorMessage: string;
  sourceTopic: string;
  sourcePartition: number;
  sourceOffset: string;
  retryCount: number;
  lastAttemptTime: string;
}

async function refreshDeadLetters(): Promise<void> {
  const data = await gql<{ deadLettersPage: { nodes: DeadLetterOut[] } }>(
    '{ deadLettersPage(first: 10) { nodes { id errorType errorMessage sourceTopic sourcePartition sourceOffset retryCount lastAttemptTime } } }',
  );
  $('dead-letters')
    .querySelector('tbody')!
    .replaceChildren(
      ...data.deadLettersPage.nodes.map((d) => {
        const tr = document.createElement('tr');
        tr.append(cell(d.errorType), cell(d.errorMessage), cell(`${d.sourceTopic}/${d.sourcePartition}/${d.sourceOffset}`), cell(String(d.retryCount), 'num'), cell(d.lastAttemptTime.slice(0, 19).replace('T', ' ')));
        return tr;
      }),
    );
}

// ---------------------------------------------------------------------------------------------

async function loadWindowNames(): Promise<void> {
  const data = await gql<{ windowNames: string[] }>('{ windowNames }');
  const sel = $('key-window') as HTMLSelectElement;
  for (const w of data.windowNames) sel.append(new Option(w, w));
  // sessions do not line up across keys: no rollups for them
  const rollupSel = $('rollup-window') as HTMLSelectElement;
  for (const w of data.windowNames.filter((n) => !n.startsWith('session'))) rollupSel.append(new Option(w, w));
  watchRollups();
}

function every(ms: number, fn: () => Promise<void>): void {
  const run = () =>
    fn()
      .catch((e: unknown) => setStatus('error', String((e as Error)?.message ?? e)))
      .finally(() => setTimeout(run, ms));
  void run();
}

function main(): void {
  ($('token') as HTMLInputElement).value = token;
  $('token-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    token = ($('token') as HTMLInputElement).value.trim();
    localStorage.setItem(TOKEN_KEY, token);
    connect();
  });
  $('key-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const key = ($('key') as HTMLInputElement).value.trim();
    if (!key) return;
    watchWindows(($('key-type') as HTMLSelectElement).value, key, ($('key-window') as HTMLSelectElement).value || null);
  });
  $('rollup-type').addEventListener('change', watchRollups);
  $('rollup-window').addEventListener('change', watchRollups);
  $('events-topic').addEventListener('change', (ev) => void watchEvents((ev.target as HTMLSelectElement).value));
  connect();
  every(1000, refreshTypes);
  every(3000, refreshDeadLetters);
  void loadWindowNames().catch(() => undefined);
}

main();
