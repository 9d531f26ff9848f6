/**
 * `keyflow produce`: a load generator that publishes realistic events through the GraphQL API
 * at a target rate (token-bucket pacing, bounded requests in flight), prints a progress line
 * every second and statistics at the end. It speaks only HTTP + GraphQL, so it measures the
 * platform exactly as a partner system sees it.
 */
import { ErrorCode, KeyflowError } from '../model/index.ts';
import { type ProducerOptions, defaultProducerOptions } from './options.ts';
import { corruptEvent, createEventGenerator, createRandom } from './generator.ts';
import { type LatencySummary, createLatencyHistogram } from './histogram.ts';

export { defaultProducerOptions };
export type { ProducerOptions };
export {
  corruptEvent,
  createEventGenerator,
  createRandom,
  GENERATED_EVENT_TYPES,
  isGeneratedEventType,
  type EventGenerator,
  type EventGeneratorOptions,
  type GeneratedEventType,
} from './generator.ts';
export { createLatencyHistogram, type LatencyHistogram, type LatencySummary } from './histogram.ts';

/** What the run needs from its environment; tests inject a fake server or clock. */
export interface ProducerDeps {
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** Wall clock, epoch ms: pacing and event times. @default Date.now */
  now?: () => number;
  /** Progress lines. @default process.stderr */
  stderr?: (text: string) => void;
  /** Final statistics. @default process.stdout */
  stdout?: (text: string) => void;
}

export interface ProducerStats {
  /** Seed of the generated data; pass it as --seed to reproduce the run. */
  seed: number;
  url: string;
  /** Target events/s; 0 = unpaced. */
  targetRate: number;
  batch: number;
  /** Wall time from the first request to the last response, ms. */
  durationMs: number;
  /** Why sending stopped. */
  stoppedBy: 'duration' | 'count' | 'signal';
  requests: number;
  failedRequests: number;
  /** Events in all requests sent (whatever their outcome). */
  eventsSent: number;
  /** Receipts with status ACCEPTED. */
  accepted: number;
  /** Receipts with status DUPLICATE (the eventId was seen before). */
  duplicates: number;
  /** Events in failed requests. */
  errors: number;
  /** Events in failed requests by error code: GraphQL `extensions.code`, or HTTP_<status>, NETWORK, TIMEOUT, ABORTED, BAD_RESPONSE. */
  errorsByCode: Record<string, number>;
  /** Events made invalid on purpose (--invalid-fraction). */
  invalidSent: number;
  /** Events given an out-of-order timestamp (--late-fraction). */
  lateSent: number;
  /** Events sent per second of the run. */
  sendRate: number;
  /** Events acknowledged (accepted + duplicates) per second of the run. */
  achievedRate: number;
  /** Request round-trip latency (one request carries `batch` events), ms. */
  latencyMs: LatencySummary;
}

const PUBLISH_ONE = 'mutation KeyflowProduceOne($input: EventInput!) { publishEvent(input: $input) { status } }';
const PUBLISH_MANY = 'mutation KeyflowProduceMany($inputs: [EventInput!]!) { publishEvents(inputs: $inputs) { status } }';

interface Outcome {
  accepted: number;
  duplicates: number;
  /** Set when the whole request failed. */
  errorCode: string | null;
  /** Round trip, ms; null when no response arrived. */
  latencyMs: number | null;
}

function stderrWriter(): (text: string) => void {
  return (text) => {
    if (typeof process !== 'undefined') process.stderr.write(text);
  };
}

function stdoutWriter(): (text: string) => void {
  return (text) => {
    if (typeof process !== 'undefined') process.stdout.write(text);
  };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function codeOfErrors(errors: unknown): string | null {
  if (!Array.isArray(errors) || errors.length === 0) return null;
  const first: unknown = errors[0];
  const ext = first && typeof first === 'object' ? (first as { extensions?: unknown }).extensions : undefined;
  const code = ext && typeof ext === 'object' ? (ext as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code !== '' ? code : 'GRAPHQL_ERROR';
}

function countStatuses(receipts: unknown, expected: number): { accepted: number; duplicates: number } | null {
  const list = Array.isArray(receipts) ? receipts : receipts && typeof receipts === 'object' ? [receipts] : null;
  if (!list || list.length !== expected) return null;
  let accepted = 0;
  let duplicates = 0;
  for (const r of list) {
    const status = r && typeof r === 'object' ? (r as { status?: unknown }).status : undefined;
    if (status === 'ACCEPTED') accepted++;
    else if (status === 'DUPLICATE') duplicates++;
    else return null;
  }
  return { accepted, duplicates };
}

function fmtMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

/** The final statistics as a readable table. */
export function formatStatsTable(s: ProducerStats): string {
  const rows: [string, string][] = [
    ['url', s.url],
    ['seed', String(s.seed)],
    ['stopped by', s.stoppedBy],
    ['duration', `${(s.durationMs / 1000).toFixed(2)} s`],
    ['target rate', s.targetRate > 0 ? `${s.targetRate} events/s` : 'unpaced'],
    ['achieved rate', `${s.achievedRate.toFixed(1)} events/s acknowledged (${s.sendRate.toFixed(1)} sent)`],
    ['requests', `${s.requests} (batch ${s.batch}, ${s.failedRequests} failed)`],
    ['events sent', String(s.eventsSent)],
    ['  accepted', String(s.accepted)],
    ['  duplicates', String(s.duplicates)],
    ['  errors', String(s.errors)],
  ];
  for (const [code, n] of Object.entries(s.errorsByCode).sort((a, b) => b[1] - a[1])) rows.push([`    ${code}`, String(n)]);
  rows.push(
    ['  late (out of order)', String(s.lateSent)],
    ['  invalid on purpose', String(s.invalidSent)],
    [
      'latency (request)',
      `p50 ${fmtMs(s.latencyMs.p50)} ms  p95 ${fmtMs(s.latencyMs.p95)} ms  p99 ${fmtMs(s.latencyMs.p99)} ms  max ${fmtMs(s.latencyMs.max)} ms`,
    ],
  );
  const width = Math.max(...rows.map((r) => r[0].length));
  return `${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`;
}

/**
 * Runs the load generator until the duration passes, `count` events are sent, or the signal
 * aborts; waits for requests in flight, then returns (and, with `summary`, prints) the statistics.
 * Options left out take {@link defaultProducerOptions}, except `progress`, `summary` and
 * `handleSigint`, which default to false for in-process use.
 * @example
 * const ac = new AbortController();
 * const stats = await runProducer({ url: 'http://localhost:4000/graphql', rate: 200, signal: ac.signal });
 */
export async function runProducer(options: Partial<ProducerOptions>, deps: ProducerDeps = {}): Promise<ProducerStats> {
  const o: ProducerOptions = {
    ...defaultProducerOptions(),
    progress: false,
    summary: false,
    handleSigint: false,
    ...options,
  };
  if (options.count != null && options.durationMs === undefined) o.durationMs = null;
  const writeErr = deps.stderr ?? stderrWriter();
  const writeOut = deps.stdout ?? stdoutWriter();
  if (o.durationMs === null && o.count === null && !o.signal && !o.handleSigint) {
    throw new KeyflowError(ErrorCode.INVALID_CONFIG, 'produce needs a duration, a count or an abort signal, or it would never stop');
  }
  const fetchFn = deps.fetch ?? globalThis.fetch;
  const now = deps.now ?? Date.now;

  const gen = createEventGenerator({
    types: o.types,
    weights: o.weights,
    keys: o.keys,
    seed: o.seed,
    now,
    lateFraction: o.lateFraction,
    maxLatenessMs: o.maxLatenessMs,
  });
  // A separate stream, so the valid events of a seed do not change with --invalid-fraction.
  const invalidRand = createRandom(gen.seed ^ 0x9e3779b9);

  // `stop` ends sending (graceful); `hard` also aborts requests in flight (second SIGINT).
  const stop = new AbortController();
  const hard = new AbortController();
  const onOuterAbort = () => stop.abort();
  o.signal?.addEventListener('abort', onOuterAbort, { once: true });
  if (o.signal?.aborted) stop.abort();
  let sigints = 0;
  const onSigint = () => {
    sigints++;
    if (sigints === 1) {
      writeErr('[produce] stopping: waiting for requests in flight (Ctrl-C again to abort them)\n');
      stop.abort();
    } else hard.abort();
  };
  const canSignal = o.handleSigint && typeof process !== 'undefined' && typeof process.on === 'function';
  if (canSignal) process.on('SIGINT', onSigint);

  const headers: Record<string, string> = { 'content-type': 'application/json', accept: 'application/json' };
  if (o.token) headers.authorization = `Bearer ${o.token}`;

  const total = createLatencyHistogram();
  const recent = createLatencyHistogram();
  const errorsByCode: Record<string, number> = {};
  let requests = 0;
  let failedRequests = 0;
  let eventsSent = 0;
  let accepted = 0;
  let duplicates = 0;
  let errors = 0;
  let invalidSent = 0;

  async function send(events: unknown[]): Promise<Outcome> {
    const single = o.batch === 1 && events.length === 1;
    const body = JSON.stringify(
      single ? { query: PUBLISH_ONE, variables: { input: events[0] } } : { query: PUBLISH_MANY, variables: { inputs: events } },
    );
    const timeout = AbortSignal.timeout(o.requestTimeoutMs);
    const started = now();
    let res: Response;
    let text: string;
    try {
      res = await fetchFn(o.url, { method: 'POST', headers, body, signal: AbortSignal.any([timeout, hard.signal]) });
      text = await res.text();
    } catch {
      const code = hard.signal.aborted ? 'ABORTED' : timeout.aborted ? 'TIMEOUT' : 'NETWORK';
      return { accepted: 0, duplicates: 0, errorCode: code, latencyMs: null };
    }
    const latencyMs = now() - started;
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      return { accepted: 0, duplicates: 0, errorCode: res.ok ? 'BAD_RESPONSE' : `HTTP_${res.status}`, latencyMs };
    }
    const obj = parsed && typeof parsed === 'object' ? (parsed as { data?: unknown; errors?: unknown }) : {};
    const code = codeOfErrors(obj.errors);
    if (code) return { accepted: 0, duplicates: 0, errorCode: code, latencyMs };
    if (!res.ok) return { accepted: 0, duplicates: 0, errorCode: `HTTP_${res.status}`, latencyMs };
    const data = obj.data && typeof obj.data === 'object' ? (obj.data as Record<string, unknown>) : {};
    const counted = countStatuses(single ? data.publishEvent : data.publishEvents, events.length);
    if (!counted) return { accepted: 0, duplicates: 0, errorCode: 'BAD_RESPONSE', latencyMs };
    return { ...counted, errorCode: null, latencyMs };
  }

  function settle(size: number, out: Outcome): void {
    if (out.latencyMs !== null) {
      total.record(out.latencyMs);
      recent.record(out.latencyMs);
    }
    if (out.errorCode !== null) {
      failedRequests++;
      errors += size;
      errorsByCode[out.errorCode] = (errorsByCode[out.errorCode] ?? 0) + size;
    } else {
      accepted += out.accepted;
      duplicates += out.duplicates;
    }
  }

  const inflight = new Set<Promise<void>>();
  const started = now();
  const deadline = o.durationMs === null ? Number.POSITIVE_INFINITY : started + o.durationMs;
  let lastTick = started;
  let lastTickSent = 0;
  const progressTimer = o.progress
    ? setInterval(() => {
        const t = now();
        const secs = Math.max(0.001, (t - lastTick) / 1000);
        const rate = (eventsSent - lastTickSent) / secs;
        lastTick = t;
        lastTickSent = eventsSent;
        const p50 = recent.quantile(0.5);
        const p99 = recent.quantile(0.99);
        recent.reset();
        writeErr(
          `[produce] ${((t - started) / 1000).toFixed(0)}s sent=${eventsSent} acked=${accepted + duplicates} errors=${errors} ` +
            `rate=${rate.toFixed(1)}/s p50=${fmtMs(p50)}ms p99=${fmtMs(p99)}ms inflight=${inflight.size}\n`,
        );
      }, o.progressIntervalMs)
    : undefined;
  // Never keep the process alive just for the progress line.
  (progressTimer as { unref?: () => void } | undefined)?.unref?.();

  // A burst of at most 50 ms worth of events (and at least one batch) smooths timer jitter
  // without letting the generator run ahead of the target rate.
  const capacity = o.rate > 0 ? Math.max(o.batch, o.rate * 0.05) : Number.POSITIVE_INFINITY;
  let tokens = o.rate > 0 ? o.batch : 0;
  let lastRefill = started;
  let stoppedBy: ProducerStats['stoppedBy'] = 'duration';

  try {
    for (;;) {
      if (stop.signal.aborted) {
        stoppedBy = 'signal';
        break;
      }
      if (o.count !== null && eventsSent >= o.count) {
        stoppedBy = 'count';
        break;
      }
      const t = now();
      if (t >= deadline) {
        stoppedBy = 'duration';
        break;
      }
      if (inflight.size >= o.concurrency) {
        // Every request ends by its timeout at the latest, so this wait is bounded.
        await Promise.race(inflight);
        continue;
      }
      const size = o.count === null ? o.batch : Math.min(o.batch, o.count - eventsSent);
      if (o.rate > 0) {
        tokens = Math.min(capacity, tokens + ((t - lastRefill) * o.rate) / 1000);
        lastRefill = t;
        if (tokens < size) {
          const waitMs = Math.min(((size - tokens) * 1000) / o.rate, deadline - t);
          await sleep(Math.max(1, Math.ceil(waitMs)), stop.signal);
          continue;
        }
        tokens -= size;
      }
      const events: unknown[] = new Array(size);
      for (let i = 0; i < size; i++) {
        const e = gen.next();
        if (o.invalidFraction > 0 && invalidRand() < o.invalidFraction) {
          events[i] = corruptEvent(e, invalidRand);
          invalidSent++;
        } else events[i] = e;
      }
      requests++;
      eventsSent += size;
      const p: Promise<void> = send(events).then((out) => {
        settle(size, out);
        inflight.delete(p);
      });
      inflight.add(p);
    }
    await Promise.all(inflight);
  } finally {
    if (progressTimer) clearInterval(progressTimer);
    o.signal?.removeEventListener('abort', onOuterAbort);
    if (canSignal) process.off('SIGINT', onSigint);
  }

  const durationMs = Math.max(1, now() - started);
  const stats: ProducerStats = {
    seed: gen.seed,
    url: o.url,
    targetRate: o.rate,
    batch: o.batch,
    durationMs,
    stoppedBy,
    requests,
    failedRequests,
    eventsSent,
    accepted,
    duplicates,
    errors,
    errorsByCode,
    invalidSent,
    lateSent: gen.late,
    sendRate: (eventsSent * 1000) / durationMs,
    achievedRate: ((accepted + duplicates) * 1000) / durationMs,
    latencyMs: total.summary(),
  };
  if (o.summary) writeOut(o.json ? `${JSON.stringify(stats, null, 2)}\n` : formatStatsTable(stats));
  return stats;
}
