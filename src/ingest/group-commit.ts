/**
 * Group commit: concurrent appends to one topic share log appends. While an append to a topic is
 * in flight, the appends that arrive for it wait and then go to the log together, as one
 * `log.append` call (one write per partition in the embedded log, one produce request per broker
 * round trip on Kafka, whose idempotent producer has one request in flight). An append that finds
 * the topic idle goes at once, so a lone publish waits for nothing.
 *
 * Each caller gets the results of its own records, in its own order. When a shared append fails,
 * the group is split and every caller's records are appended on their own, so one caller's bad
 * record (or a failure that hits only part of the group) never fails another caller's append;
 * each caller sees exactly the outcome its own append would have had.
 */
import type { AppendResult, EventLog, ProduceRecord } from '../log/index.ts';

export interface GroupCommitOptions {
  /** Most records in one shared append; more wait for the next one. @default 5000 */
  maxRecords?: number;
}

interface Waiting {
  records: ProduceRecord[];
  resolve(results: AppendResult[]): void;
  reject(error: unknown): void;
}

interface TopicQueue {
  inFlight: boolean;
  waiting: Waiting[];
}

export interface GroupCommit {
  append(topic: string, records: ProduceRecord[]): Promise<AppendResult[]>;
}

export function createGroupCommit(log: Pick<EventLog, 'append'>, options: GroupCommitOptions = {}): GroupCommit {
  const maxRecords = Math.max(1, options.maxRecords ?? 5000);
  const queues = new Map<string, TopicQueue>();

  /** Takes the next group off the queue: at least one append, then as many as fit in maxRecords. */
  function takeGroup(q: TopicQueue): Waiting[] {
    let n = 0;
    let i = 0;
    while (i < q.waiting.length && (i === 0 || n + q.waiting[i]!.records.length <= maxRecords)) {
      n += q.waiting[i]!.records.length;
      i++;
    }
    return q.waiting.splice(0, i);
  }

  async function appendAlone(topic: string, w: Waiting): Promise<void> {
    try {
      w.resolve(await log.append(topic, w.records));
    } catch (e) {
      w.reject(e);
    }
  }

  async function appendGroup(topic: string, group: Waiting[]): Promise<void> {
    if (group.length === 1) return appendAlone(topic, group[0]!);
    const all: ProduceRecord[] = [];
    for (const w of group) for (const r of w.records) all.push(r);
    let results: AppendResult[];
    try {
      results = await log.append(topic, all);
    } catch {
      // an append is all or nothing: nothing of the group was appended; each tries on its own
      await Promise.all(group.map((w) => appendAlone(topic, w)));
      return;
    }
    let at = 0;
    for (const w of group) {
      w.resolve(results.slice(at, at + w.records.length));
      at += w.records.length;
    }
  }

  async function drain(topic: string, q: TopicQueue): Promise<void> {
    while (q.waiting.length > 0) await appendGroup(topic, takeGroup(q));
    q.inFlight = false;
    queues.delete(topic);
  }

  return {
    append(topic, records) {
      let q = queues.get(topic);
      if (!q) {
        q = { inFlight: false, waiting: [] };
        queues.set(topic, q);
      }
      const queue = q;
      const done = new Promise<AppendResult[]>((resolve, reject) => queue.waiting.push({ records, resolve, reject }));
      if (!queue.inFlight) {
        queue.inFlight = true;
        void drain(topic, queue);
      }
      return done;
    },
  };
}
