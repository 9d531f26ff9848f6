/**
 * Dead-letter redrive over the in-memory log: a dead letter goes to its type's topic once its event
 * passes today's checks, never twice (run again, or two runs at once), the ledger records where it
 * went, a dry run changes nothing, filters select, and a still-invalid one stays with the reason.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { redriveCommand } from '../../src/cli/redrive.ts';
import { createFileLog } from '../../src/log/index.ts';
import type { DeadLetterMessage } from '../../src/model/dead-letter.ts';
import { createEventTypeRegistry, DLQ_TOPIC, SYSTEM_TOPICS, specFromDefinition } from '../../src/model/event-types.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { REDRIVE_HEADER, type RedriveFilter, type RedriveReport, redriveDeadLetters, redriveStates } from '../../src/redrive/index.ts';
import { compileSpec, createFileEventTypeStore } from '../../src/types/index.ts';
import { createMemoryLog } from '../helpers/memory-log.ts';
import { tempDir } from '../helpers/wait.ts';

const T0 = Date.parse('2026-01-15T10:00:00Z');

function dead(i: number, over: Partial<DeadLetterMessage> & { event?: Record<string, unknown> } = {}): DeadLetterMessage {
  const { event, ...rest } = over;
  const e = event ?? { eventId: `e-${i}`, eventType: 'refund', timestamp: new Date(T0 + i * 1000).toISOString(), payload: { orderId: `o-${i % 3}`, amount: i } };
  return {
    originalMessage: JSON.stringify(e),
    originalEncoding: 'utf8',
    originalKey: `o-${i % 3}`,
    errorType: 'UNKNOWN_EVENT_TYPE',
    errorMessage: 'event type "refund" is not registered',
    retryCount: 0,
    firstAttemptTime: new Date(T0 + i * 60_000).toISOString(),
    lastAttemptTime: new Date(T0 + i * 60_000).toISOString(),
    sourceTopic: 'events.transactions',
    sourcePartition: 1,
    sourceOffset: String(100 + i),
    ...rest,
  };
}

async function setup(letters: DeadLetterMessage[]) {
  const log = createMemoryLog(() => T0 + 3_600_000);
  await log.ensureTopics(SYSTEM_TOPICS);
  await log.append(
    DLQ_TOPIC,
    letters.map((d) => ({ key: d.originalKey, value: JSON.stringify(d), partition: d.sourcePartition % 6 })),
  );
  const registry = createEventTypeRegistry();
  const run = (o: Partial<Parameters<typeof redriveDeadLetters>[0]> = {}) => redriveDeadLetters({ log, registry, maxFutureSkewMs: 300_000, now: () => T0 + 3_600_000, ...o });
  const registerRefund = async () => {
    const spec = specFromDefinition({ name: 'refund', partitions: 4, keyPaths: ['payload.orderId'], valuePath: 'payload.amount', schema: { type: 'object', required: ['amount'], properties: { amount: { type: 'number' } } } });
    registry.register(compileSpec(spec, 1));
    await log.ensureTopics([{ name: spec.topic, partitions: spec.partitions }]);
  };
  return { log, registry, run, registerRefund };
}

describe('dead-letter redrive', () => {
  it('still unknown: stays with the reason; after the fix: redriven to the type\'s topic once, recorded in the ledger', async () => {
    const { log, run, registerRefund } = await setup([dead(1), dead(2)]);
    const before = await run();
    expect(before.items.map((i) => [i.outcome, i.reason])).toEqual([
      ['STILL_INVALID', expect.stringContaining("UNKNOWN_EVENT_TYPE: event type 'refund' is still not registered")],
      ['STILL_INVALID', expect.stringContaining('UNKNOWN_EVENT_TYPE')],
    ]);
    await registerRefund();
    const dry = await run({ dryRun: true });
    expect(dry.items.map((i) => i.outcome)).toEqual(['WOULD_REDRIVE', 'WOULD_REDRIVE']);
    expect(log.records('events.refund')).toHaveLength(0);
    const first = await run();
    expect(first.items.map((i) => i.outcome)).toEqual(['REDRIVEN', 'REDRIVEN']);
    const records = log.records('events.refund');
    expect(records.map((r) => [r.key, r.partition, r.headers[REDRIVE_HEADER]])).toEqual([
      ['o-1', partitionForKey('o-1', 4), first.items[0]!.id],
      ['o-2', partitionForKey('o-2', 4), first.items[1]!.id],
    ]);
    const again = await run();
    expect(again.items.map((i) => i.outcome)).toEqual(['ALREADY_REDRIVEN', 'ALREADY_REDRIVEN']);
    expect(again.items[0]!.target).toEqual(first.items[0]!.target);
    expect(log.records('events.refund')).toHaveLength(2);
    const states = await redriveStates(log);
    expect(states.get(first.items[0]!.id)).toMatchObject({ state: 'DONE', runId: first.runId, target: first.items[0]!.target });
  });

  it('an event that still breaks the schema stays STILL_INVALID with the path; non-JSON stays too', async () => {
    const bad = dead(1, { errorType: 'SCHEMA_VALIDATION_FAILED', event: { eventId: 'x', eventType: 'refund', timestamp: new Date(T0).toISOString(), payload: { amount: 'x' } } });
    const garbage = { ...dead(2), originalMessage: Buffer.from([0xff, 0x00]).toString('base64'), originalEncoding: 'base64' as const };
    const { log, run, registerRefund } = await setup([bad, garbage]);
    await registerRefund();
    const r = await run();
    expect(r.items.map((i) => i.outcome)).toEqual(['STILL_INVALID', 'STILL_INVALID']);
    expect(r.items[0]!.reason).toContain('payload.amount');
    expect(log.records('events.refund')).toHaveLength(0);
  });

  it('filters: topics, error types, time range, ids', async () => {
    const letters = [dead(1), dead(2, { sourceTopic: 'events.clickstream' }), dead(3, { errorType: 'DECODE_FAILED' }), dead(4)];
    const { run, registerRefund } = await setup(letters);
    await registerRefund();
    const ids = (await run({ dryRun: true })).items.map((i) => i.id);
    const pick = async (filter: RedriveFilter) => (await run({ dryRun: true, filter })).items.map((i) => ids.indexOf(i.id) + 1);
    expect(await pick({ topics: ['events.clickstream'] })).toEqual([2]);
    expect(await pick({ errorTypes: ['UNKNOWN_EVENT_TYPE'] })).toEqual([1, 2, 4]);
    expect(await pick({ from: T0 + 2 * 60_000, to: T0 + 4 * 60_000 })).toEqual([2, 3]);
    expect(await pick({ ids: [ids[3]!] })).toEqual([4]);
  });

  it('property: however many runs overlap, each dead letter is appended exactly once', async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 2, max: 4 }), fc.integer({ min: 0, max: 3 }), async (n, runs, stagger) => {
        const { log, run, registerRefund } = await setup(Array.from({ length: n }, (_, i) => dead(i)));
        await registerRefund();
        // some runs start together, some after others finished
        const reports = [];
        const together = Array.from({ length: runs }, () => run());
        reports.push(...(await Promise.all(together)));
        for (let i = 0; i < stagger; i++) reports.push(await run());
        const appended = log.records('events.refund').map((r) => r.headers[REDRIVE_HEADER]);
        expect(appended).toHaveLength(n);
        expect(new Set(appended).size).toBe(n);
        const redriven = reports.flatMap((r) => r.items.filter((i) => i.outcome === 'REDRIVEN').map((i) => i.id));
        expect(redriven.sort()).toEqual([...appended].sort());
      }),
      { numRuns: 100 },
    );
  });

  it('a failed append is recorded FAILED and the dead letter can be redriven by a later run', async () => {
    const { log, run, registerRefund } = await setup([dead(1)]);
    await registerRefund();
    const append = log.append.bind(log);
    log.append = async (topic, records, options) => {
      if (topic === 'events.refund') throw new Error('disk full');
      return append(topic, records, options);
    };
    const failed = await run();
    expect(failed.items[0]).toMatchObject({ outcome: 'FAILED', reason: 'disk full' });
    expect((await redriveStates(log)).get(failed.items[0]!.id)?.state).toBe('FAILED');
    log.append = append;
    expect((await run()).items[0]!.outcome).toBe('REDRIVEN');
    expect(log.records('events.refund')).toHaveLength(1);
  });
});

describe('a redrive run killed between its claim and its outcome', () => {
  it.each([
    ['before its append', false, 'REDRIVEN'],
    ['after its append', true, 'ALREADY_REDRIVEN'],
  ] as const)('killed %s: CLAIMED until the claim times out, then settled from the target partition; the event is in its topic once', async (_when, appended, outcome) => {
    const { log, run, registerRefund } = await setup([dead(1)]);
    await registerRefund();
    const append = log.append.bind(log);
    // the run dies at its append to the event topic: it never returns, nothing more is written
    log.append = async (topic, records, options) => {
      if (topic !== 'events.refund') return append(topic, records, options);
      if (appended) await append(topic, records, options);
      return new Promise(() => {});
    };
    void run({ runId: 'dead-run' });
    await expect.poll(async () => (await redriveStates(log)).size).toBe(1);
    await expect.poll(() => log.records('events.refund').length).toBe(appended ? 1 : 0);
    log.append = append;
    const early = await run({ now: () => T0 + 3_600_000 + 60_000 });
    expect(early.items[0]).toMatchObject({ outcome: 'CLAIMED', reason: expect.stringContaining('dead-run') });
    const later = await run({ now: () => T0 + 3_600_000 + 16 * 60_000 });
    expect(later.items[0]!.outcome).toBe(outcome);
    expect(later.items[0]!.target?.topic).toBe('events.refund');
    expect(log.records('events.refund')).toHaveLength(1);
    expect([...(await redriveStates(log)).values()][0]).toMatchObject({ state: 'DONE' });
    expect((await run({ now: () => T0 + 3_600_000 + 17 * 60_000 })).items[0]!.outcome).toBe('ALREADY_REDRIVEN');
  });
});

describe('keyflow redrive (the command, on an embedded data dir)', () => {
  it('--dry-run reports, a run redrives, a second run redrives nothing; a bad flag exits 2', async () => {
    const tmp = await tempDir('keyflow-redrive-cli-');
    const saved = { ...process.env };
    try {
      const log = createFileLog({ dataDir: tmp.dir });
      await log.start();
      await log.ensureTopics(SYSTEM_TOPICS);
      await log.append(DLQ_TOPIC, [dead(1), dead(2)].map((d) => ({ key: d.originalKey, value: JSON.stringify(d), partition: 1 })), { sync: true });
      await log.close();
      // the type was registered after the events were dead-lettered
      await createFileEventTypeStore({ dataDir: tmp.dir }).put({ definition: { name: 'refund', partitions: 4, keyPaths: ['payload.orderId'], valuePath: 'payload.amount' }, version: 1, registeredAt: new Date().toISOString() });
      for (const k of Object.keys(process.env)) if (/^(KEYFLOW_|KAFKA_|REDIS_|NATS_|DATABASE_URL$)/.test(k)) delete process.env[k];
      process.env.KEYFLOW_DATA_DIR = tmp.dir;
      process.env.KEYFLOW_LOG_LEVEL = 'silent';
      const run = async (...args: string[]) => {
        let out = '';
        let err = '';
        const code = await redriveCommand.run(args, { stdout: (t) => void (out += t), stderr: (t) => void (err += t) });
        return { code, out, err };
      };
      const dry = await run('--dry-run', '--error-types', 'UNKNOWN_EVENT_TYPE');
      expect(dry.code).toBe(0);
      expect((JSON.parse(dry.out) as RedriveReport).items.map((i) => i.outcome)).toEqual(['WOULD_REDRIVE', 'WOULD_REDRIVE']);
      const first = await run('--topics', 'events.transactions');
      expect((JSON.parse(first.out) as RedriveReport).items.map((i) => i.outcome)).toEqual(['REDRIVEN', 'REDRIVEN']);
      const again = await run();
      expect((JSON.parse(again.out) as RedriveReport).items.map((i) => i.outcome)).toEqual(['ALREADY_REDRIVEN', 'ALREADY_REDRIVEN']);
      const check = createFileLog({ dataDir: tmp.dir });
      await check.start();
      expect((await check.endOffsets('events.refund')).reduce((a, b) => a + b, 0)).toBe(2);
      await check.close();
      const bad = await run('--from', 'yesterday');
      expect(bad.code).toBe(2);
      expect(bad.err).toContain('--from');
    } finally {
      process.env = saved;
      await tmp.remove();
    }
  });
});
