/**
 * `keyflow replay` rebuilds a sink from the log: the golden events are appended to an embedded
 * log, replayed into an empty data lake, and every row must equal the independent reference
 * model's window (test/fixtures/golden); every window the final watermark closed must be there.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileLog } from '../../src/log/index.ts';
import {
  DEFAULT_EVENT_TYPES,
  KeyflowError,
  actorKey,
  createEventTypeRegistry,
  encodeEnvelope,
  parseEventInput,
  partitionForKey,
} from '../../src/model/index.ts';
import { loadConfig } from '../../src/app/config.ts';
import { silentLogger } from '../../src/core/logger.ts';
import { parseReplayArgs } from '../../src/cli/replay.ts';
import { runReplay } from '../../src/cli/replay-sink.ts';
import { createDataLakeSink } from '../../src/sinks/index.ts';

function golden(file: string): Record<string, unknown>[] {
  return readFileSync(fileURLToPath(new URL(`../fixtures/golden/${file}`, import.meta.url)), 'utf8')
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

describe('replay', () => {
  it('parses its arguments and rejects bad ones with INVALID_CONFIG naming the flag', () => {
    expect(parseReplayArgs(['--sink', 'postgres', '--types=iot.sensor,transaction'])).toEqual({
      help: false,
      sink: 'postgres',
      types: ['iot.sensor', 'transaction'],
    });
    expect(parseReplayArgs(['--sink=data-lake'])).toEqual({ help: false, sink: 'data-lake' });
    expect(parseReplayArgs(['--help'])).toEqual({ help: true });
    expect(parseReplayArgs(['-h', '--sink', 'snowflake'])).toEqual({ help: true });
    const bad: [string[], string][] = [
      [[], '--sink'],
      [['--sink', 'snowflake'], '--sink'],
      [['--sink'], '--sink'],
      [['--sink', 'postgres', '--types', ','], '--types'],
      [['--bogus', 'x'], '--bogus'],
    ];
    for (const [argv, flag] of bad) {
      let error: unknown;
      try {
        parseReplayArgs(argv);
      } catch (e) {
        error = e;
      }
      expect(error, argv.join(' ')).toBeInstanceOf(KeyflowError);
      expect((error as KeyflowError).code).toBe('INVALID_CONFIG');
      expect((error as KeyflowError).details?.flag).toBe(flag);
    }
  });

  it('rebuilds the data lake from the log with exactly the reference windows', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'keyflow-replay-'));
    dirs.push(dataDir);
    const registry = createEventTypeRegistry(DEFAULT_EVENT_TYPES);
    const log = createFileLog({ dataDir, logger: { warn() {}, error() {} } });
    await log.start();
    await log.ensureTopics(DEFAULT_EVENT_TYPES.map((t) => ({ name: t.topic, partitions: t.partitions })));
    const maxEventTime = new Map<string, number>();
    for (const input of golden('events.jsonl')) {
      const e = parseEventInput(input, () => 'unused');
      const spec = registry.resolve(e.eventType)!;
      const [receipt] = await log.append(spec.topic, [{ key: actorKey(e), value: encodeEnvelope(e) }]);
      const tp = `${spec.topic}/${receipt!.partition}`;
      maxEventTime.set(tp, Math.max(maxEventTime.get(tp) ?? 0, e.timestamp));
    }
    await log.close();

    const config = loadConfig({ KEYFLOW_DATA_DIR: dataDir });
    const stats = await runReplay(config, { sink: 'data-lake' }, silentLogger());
    expect(stats.records).toBe(600);
    expect(stats.deadLetters).toBe(0);

    const lake = createDataLakeSink({ dir: join(dataDir, 'lake') });
    await lake.start();
    const rows = await lake.read();
    await lake.close();
    expect(rows.length).toBe(stats.finals);
    expect(rows.length).toBeGreaterThan(0);

    const expected = new Map(
      golden('expected-windows.jsonl').map((w) => [`${w.eventType}|${w.key}|${w.window}|${Date.parse(String(w.windowStart))}`, w]),
    );
    for (const r of rows) {
      const w = expected.get(`${r.eventType}|${r.key}|${r.window}|${r.windowStart}`);
      expect(w, `unexpected window ${r.eventType} ${r.key} ${r.window} ${new Date(r.windowStart).toISOString()}`).toBeDefined();
      expect(r.final).toBe(true);
      expect(r.windowEnd).toBe(Date.parse(String(w!.windowEnd)));
      expect(r.count).toBe(w!.count);
      expect(r.valueCount).toBe(w!.valueCount);
      expect(r.distinctUsers).toBe(w!.distinctUsers);
      for (const f of ['sum', 'avg', 'min', 'max'] as const) {
        const want = w![f] as number | null;
        if (want === null) expect(r[f]).toBeNull();
        else expect(Math.abs((r[f] as number) - want)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(want)));
      }
    }
    // Every window its partition's final watermark (max event time − 10 s) closed must have been written.
    const watermarkOf = (w: Record<string, unknown>) => {
      const spec = registry.resolve(String(w.eventType))!;
      return (maxEventTime.get(`${spec.topic}/${partitionForKey(String(w.key), spec.partitions)}`) ?? 0) - 10_000;
    };
    const mustBeFinal = [...expected.values()].filter((w) => Date.parse(String(w.windowEnd)) <= watermarkOf(w));
    expect(mustBeFinal.length).toBeGreaterThan(100);
    expect(rows.length).toBe(mustBeFinal.length);
    const have = new Set(rows.map((r) => `${r.eventType}|${r.key}|${r.window}|${r.windowStart}`));
    for (const w of mustBeFinal) expect(have.has(`${w.eventType}|${w.key}|${w.window}|${Date.parse(String(w.windowStart))}`)).toBe(true);
  });
});
