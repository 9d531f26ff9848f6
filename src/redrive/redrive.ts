/**
 * Dead-letter redrive: re-sends dead letters after a fix (a type registered, a schema loosened, a
 * bug fixed). A dead letter is re-appended to its event type's topic (the type's topic and the
 * partition of its key as the type routes it now) only when its event passes today's checks;
 * otherwise it stays where it is, reported `STILL_INVALID` with the reason.
 *
 * Once only: every redrive is recorded in the ledger topic {@link REDRIVES_TOPIC} (one partition,
 * compacted on Kafka, keyed by the dead letter's id). A run first appends a claim per dead letter
 * and reads the ledger back: in log order the first claim of a dead letter that is not yet done
 * wins, so two runs at once (two operators, a CLI and the mutation) never both append it; the
 * winner appends the event, then records `DONE` with where it went (or `FAILED`, which frees it for
 * a later run). A run that dies between its claim and its outcome leaves the dead letter claimed
 * (`CLAIMED`); once the claim is older than `claimTimeoutMs`, a later run settles it from the target
 * partition, which the claim names with its end offset at claim time: a record there with the header
 * `keyflow-redrive-of: <id>` means the append happened (recorded DONE), none means it did not
 * (recorded FAILED, and the dead letter is redriven again). A run still alive after the timeout
 * could then append a second copy: the timeout must exceed a run's longest stall.
 */
import type { EventLog, LogRecord, ProduceRecord } from '../log/index.ts';
import {
  checkEventBounds,
  checkPayloadSchema,
  type DeadLetterMessage,
  DLQ_TOPIC,
  deadLetterSchema,
  decodeEnvelope,
  type EventTypeRegistry,
  isKeyflowError,
  keyFor,
  partitionForKey,
} from '../model/index.ts';

/** The ledger of redrives (claims and outcomes, keyed by dead-letter id). */
export const REDRIVES_TOPIC = 'keyflow.redrives';
/** Header of a redriven record: the id of the dead letter it came from. */
export const REDRIVE_HEADER = 'keyflow-redrive-of';

export interface RedriveFilter {
  /** Source topics of the dead letters. */
  topics?: readonly string[];
  /** Error types (codes), e.g. UNKNOWN_EVENT_TYPE, SCHEMA_VALIDATION_FAILED. */
  errorTypes?: readonly string[];
  /** Dead-lettered at or after (last attempt time), epoch ms. */
  from?: number;
  /** Dead-lettered before, epoch ms. */
  to?: number;
  /** Dead-letter ids (`events.dlq/<partition>/<offset>`). */
  ids?: readonly string[];
}

export type RedriveOutcome = 'REDRIVEN' | 'WOULD_REDRIVE' | 'ALREADY_REDRIVEN' | 'CLAIMED' | 'STILL_INVALID' | 'FAILED';

export interface RedriveItem {
  id: string;
  sourceTopic: string;
  errorType: string;
  outcome: RedriveOutcome;
  /** Why it was not redriven (STILL_INVALID: the code and message; FAILED: the append error). */
  reason?: string;
  /** Where it went (REDRIVEN, ALREADY_REDRIVEN) or would go (WOULD_REDRIVE). */
  target?: { topic: string; partition: number; offset?: number };
  /** When it was redriven (REDRIVEN, ALREADY_REDRIVEN), ISO-8601. */
  redrivenAt?: string;
}

export interface RedriveReport {
  dryRun: boolean;
  runId: string;
  /** Dead letters that matched the filter. */
  matched: number;
  items: RedriveItem[];
}

export interface RedriveOptions {
  log: EventLog;
  registry: EventTypeRegistry;
  filter?: RedriveFilter;
  dryRun?: boolean;
  /** The processor's future-skew bound, ms (a redriven event is checked against the time of the redrive). */
  maxFutureSkewMs: number;
  now?: () => number;
  /** Most dead letters handled in one run. @default 10000 */
  limit?: number;
  runId?: string;
  /** Age after which another run's claim without an outcome is settled from the target partition, ms. @default 900000 */
  claimTimeoutMs?: number;
}

/** A ledger record. */
interface LedgerEntry {
  id: string;
  runId: string;
  state: 'CLAIM' | 'DONE' | 'FAILED';
  at: string;
  target?: { topic: string; partition: number; offset: number };
  reason?: string;
  /** CLAIM: the target partition and its end offset before the append (where a recovery looks). */
  from?: { topic: string; partition: number; offset: number };
}

export interface RedriveState {
  state: 'CLAIMED' | 'DONE' | 'FAILED';
  runId: string;
  at: string;
  target?: { topic: string; partition: number; offset: number };
  reason?: string;
  /** CLAIMED: where the claiming run was to append (the target partition and its end offset then). */
  from?: { topic: string; partition: number; offset: number };
}

const decoder = new TextDecoder();
const READ_BATCH = 1000;

async function readAll(log: EventLog, topic: string, partition: number, from: number, to: number): Promise<LogRecord[]> {
  const out: LogRecord[] = [];
  let next = from;
  while (next < to) {
    const records = await log.read(topic, partition, next, Math.min(READ_BATCH, to - next));
    if (records.length === 0) break;
    for (const r of records) out.push(r);
    next = records[records.length - 1]!.offset + 1;
  }
  return out;
}

async function ensureLedger(log: EventLog): Promise<void> {
  await log.ensureTopics([{ name: REDRIVES_TOPIC, partitions: 1, compacted: true }]);
}

/** Every ledger record, in log order. */
async function readLedger(log: EventLog): Promise<LedgerEntry[]> {
  const [begin = 0] = await log.beginOffsets(REDRIVES_TOPIC);
  const [end = 0] = await log.endOffsets(REDRIVES_TOPIC);
  const out: LedgerEntry[] = [];
  for (const r of await readAll(log, REDRIVES_TOPIC, 0, begin, end)) {
    try {
      const e = JSON.parse(decoder.decode(r.value)) as LedgerEntry;
      if (typeof e?.id === 'string' && typeof e.runId === 'string') out.push(e);
    } catch {
      // not a ledger record
    }
  }
  return out;
}

/**
 * The redrive state of each dead letter from the ledger, in log order: a claim counts only while
 * the dead letter is free (never claimed, or its last run FAILED); DONE and FAILED count only from
 * the run holding the claim. `winners` says which run holds each claim.
 */
function fold(entries: readonly LedgerEntry[]): Map<string, RedriveState> {
  const states = new Map<string, RedriveState>();
  for (const e of entries) {
    const s = states.get(e.id);
    if (e.state === 'CLAIM') {
      if (s === undefined || s.state === 'FAILED') states.set(e.id, { state: 'CLAIMED', runId: e.runId, at: e.at, ...(e.from ? { from: e.from } : {}) });
    } else if (s?.state === 'CLAIMED' && s.runId === e.runId) {
      states.set(e.id, { state: e.state === 'DONE' ? 'DONE' : 'FAILED', runId: e.runId, at: e.at, ...(e.target ? { target: e.target } : {}), ...(e.reason ? { reason: e.reason } : {}) });
    }
  }
  return states;
}

/** The redrive state of every dead letter that was ever redriven (or claimed), by id. */
export async function redriveStates(log: EventLog): Promise<Map<string, RedriveState>> {
  if ((await log.partitions(REDRIVES_TOPIC)) === undefined) return new Map();
  return fold(await readLedger(log));
}

/**
 * The outcome of another run's claim that is older than the timeout, read from its target
 * partition (DONE when a record there carries the dead letter's id, else FAILED), recorded under
 * that run's id; undefined while the claim is younger, or when it names no target (an older claim).
 */
async function settleStaleClaim(log: EventLog, id: string, claim: RedriveState, now: number, timeoutMs: number): Promise<LedgerEntry | undefined> {
  if (!claim.from || now - Date.parse(claim.at) < timeoutMs) return undefined;
  const { topic, partition, offset } = claim.from;
  const end = (await log.endOffsets(topic))[partition] ?? 0;
  const at = new Date(now).toISOString();
  for (const r of await readAll(log, topic, partition, offset, end)) {
    if (r.headers[REDRIVE_HEADER] === id) return { id, runId: claim.runId, state: 'DONE', at, target: { topic, partition, offset: r.offset } };
  }
  return { id, runId: claim.runId, state: 'FAILED', at, reason: `claim of run ${claim.runId} expired with nothing appended to ${topic}/${partition}` };
}

interface Candidate {
  id: string;
  dead: DeadLetterMessage;
  value: Uint8Array;
}

function originalBytes(d: DeadLetterMessage): Uint8Array {
  return d.originalEncoding === 'base64' ? new Uint8Array(Buffer.from(d.originalMessage, 'base64')) : new TextEncoder().encode(d.originalMessage);
}

function matches(f: RedriveFilter, id: string, d: DeadLetterMessage): boolean {
  if (f.ids && !f.ids.includes(id)) return false;
  if (f.topics && !f.topics.includes(d.sourceTopic)) return false;
  if (f.errorTypes && !f.errorTypes.includes(d.errorType)) return false;
  const t = Date.parse(d.lastAttemptTime);
  if (f.from !== undefined && !(t >= f.from)) return false;
  if (f.to !== undefined && !(t < f.to)) return false;
  return true;
}

/** Runs one redrive (see the module comment). */
export async function redriveDeadLetters(options: RedriveOptions): Promise<RedriveReport> {
  const { log, registry } = options;
  const filter = options.filter ?? {};
  const now = options.now ?? Date.now;
  const dryRun = options.dryRun ?? false;
  const limit = options.limit ?? 10_000;
  const runId = options.runId ?? globalThis.crypto.randomUUID();
  const report: RedriveReport = { dryRun, runId, matched: 0, items: [] };
  if ((await log.partitions(DLQ_TOPIC)) === undefined) return report;

  // 1. the dead letters the filter selects, oldest first per partition
  const candidates: Candidate[] = [];
  const [begins, ends] = await Promise.all([log.beginOffsets(DLQ_TOPIC), log.endOffsets(DLQ_TOPIC)]);
  for (let p = 0; p < ends.length; p++) {
    for (const r of await readAll(log, DLQ_TOPIC, p, begins[p] ?? 0, ends[p] ?? 0)) {
      const id = `${DLQ_TOPIC}/${r.partition}/${r.offset}`;
      let parsed: unknown;
      try {
        parsed = JSON.parse(decoder.decode(r.value));
      } catch {
        continue;
      }
      const d = deadLetterSchema.safeParse(parsed);
      if (!d.success || !matches(filter, id, d.data)) continue;
      report.matched++;
      if (candidates.length < limit) candidates.push({ id, dead: d.data, value: originalBytes(d.data) });
    }
  }
  if (candidates.length === 0) return report;

  const ledgerExists = (await log.partitions(REDRIVES_TOPIC)) !== undefined;
  const before = ledgerExists ? fold(await readLedger(log)) : new Map<string, RedriveState>();

  // 2. what each would become today (stale claims of dead runs settled first)
  const claimTimeoutMs = options.claimTimeoutMs ?? 900_000;
  const recoveries: LedgerEntry[] = [];
  const planned: { c: Candidate; record: ProduceRecord & { partition: number }; topic: string }[] = [];
  const appendTime = now();
  for (const c of candidates) {
    const item: RedriveItem = { id: c.id, sourceTopic: c.dead.sourceTopic, errorType: c.dead.errorType, outcome: 'STILL_INVALID' };
    report.items.push(item);
    const prior = before.get(c.id);
    if (prior?.state === 'DONE') {
      item.outcome = 'ALREADY_REDRIVEN';
      item.redrivenAt = prior.at;
      if (prior.target) item.target = prior.target;
      continue;
    }
    if (prior?.state === 'CLAIMED') {
      const settled = await settleStaleClaim(log, c.id, prior, now(), claimTimeoutMs);
      if (settled === undefined) {
        item.outcome = 'CLAIMED';
        item.reason = `claimed by redrive run ${prior.runId} at ${prior.at}, which recorded no outcome (settled from the target partition once ${claimTimeoutMs} ms old)`;
        continue;
      }
      recoveries.push(settled);
      if (settled.state === 'DONE') {
        item.outcome = 'ALREADY_REDRIVEN';
        item.redrivenAt = prior.at;
        if (settled.target) item.target = settled.target;
        continue;
      }
    }
    try {
      const e = decodeEnvelope(c.value);
      const spec = registry.resolve(e.eventType);
      if (!spec) {
        item.reason = `UNKNOWN_EVENT_TYPE: event type '${e.eventType}' is still not registered`;
        continue;
      }
      checkEventBounds(e, appendTime, options.maxFutureSkewMs, spec.valueField);
      checkPayloadSchema(e, spec);
      const key = keyFor(spec, e);
      const partition = partitionForKey(key, spec.partitions);
      item.outcome = dryRun ? 'WOULD_REDRIVE' : 'REDRIVEN';
      item.target = { topic: spec.topic, partition };
      planned.push({ c, topic: spec.topic, record: { key, value: c.value, partition, headers: { 'content-type': 'application/json', [REDRIVE_HEADER]: c.id } } });
    } catch (err) {
      item.reason = isKeyflowError(err) ? `${err.code}: ${err.message}` : String(err);
    }
  }
  if (dryRun) return report;
  if (recoveries.length > 0) {
    await log.append(REDRIVES_TOPIC, recoveries.map((r) => ({ key: r.id, value: JSON.stringify(r), partition: 0 })), { sync: true });
  }
  if (planned.length === 0) return report;

  // 3. claim (naming the target partition and its end offset, for a recovery), then keep what this run won
  await ensureLedger(log);
  const at = new Date(now()).toISOString();
  const endsOf = new Map<string, number[]>();
  for (const { topic } of planned) if (!endsOf.has(topic)) endsOf.set(topic, await log.endOffsets(topic));
  await log.append(
    REDRIVES_TOPIC,
    planned.map(({ c, topic, record }) => ({
      key: c.id,
      value: JSON.stringify({ id: c.id, runId, state: 'CLAIM', at, from: { topic, partition: record.partition, offset: endsOf.get(topic)![record.partition] ?? 0 } } satisfies LedgerEntry),
      partition: 0,
    })),
    { sync: true },
  );
  const after = fold(await readLedger(log));
  const byId = new Map(report.items.map((i) => [i.id, i]));
  const won = planned.filter(({ c }) => {
    const s = after.get(c.id);
    if (s?.state === 'CLAIMED' && s.runId === runId) return true;
    const item = byId.get(c.id)!;
    delete item.target;
    if (s?.state === 'DONE') {
      item.outcome = 'ALREADY_REDRIVEN';
      item.redrivenAt = s.at;
      if (s.target) item.target = s.target;
    } else {
      item.outcome = 'CLAIMED';
      item.reason = `claimed by redrive run ${s?.runId ?? '?'} at the same time`;
    }
    return false;
  });

  // 4. append per topic, then record the outcomes
  const outcomes: LedgerEntry[] = [];
  const byTopic = new Map<string, typeof won>();
  for (const w of won) byTopic.set(w.topic, [...(byTopic.get(w.topic) ?? []), w]);
  for (const [topic, group] of byTopic) {
    try {
      const results = await log.append(topic, group.map((g) => g.record), { sync: true });
      group.forEach((g, i) => {
        const target = { topic, partition: results[i]!.partition, offset: results[i]!.offset };
        const item = byId.get(g.c.id)!;
        item.target = target;
        item.redrivenAt = at;
        outcomes.push({ id: g.c.id, runId, state: 'DONE', at, target });
      });
    } catch (err) {
      const reason = err instanceof Error ? err.message : String(err);
      for (const g of group) {
        const item = byId.get(g.c.id)!;
        item.outcome = 'FAILED';
        item.reason = reason;
        outcomes.push({ id: g.c.id, runId, state: 'FAILED', at, reason });
      }
    }
  }
  if (outcomes.length > 0) {
    await log.append(
      REDRIVES_TOPIC,
      outcomes.map((o) => ({ key: o.id, value: JSON.stringify(o), partition: 0 })),
      { sync: true },
    );
  }
  return report;
}
