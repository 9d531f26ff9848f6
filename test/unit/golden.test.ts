/**
 * The golden fixture (test/fixtures/golden): 600 events through PartitionHosts, routed as the
 * gateway routes them, must yield exactly the independently computed window results and partitions.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { actorKey, createEventTypeRegistry, parseEventInput, partitionForKey } from '../../src/model/index.ts';
import type { EventInput } from '../../src/model/index.ts';
import type { WindowResult } from '../../src/actors/windows/index.ts';
import { createPartitionDriver } from '../helpers/partition-driver.ts';
import { diffResults } from '../helpers/reference-model.ts';

const GOLDEN_DIR = fileURLToPath(new URL('../fixtures/golden/', import.meta.url));

function jsonl<T>(file: string): T[] {
  return readFileSync(`${GOLDEN_DIR}${file}`, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as T);
}

type ExpectedWindow = Omit<WindowResult, 'windowStart' | 'windowEnd' | 'final' | 'revision'> & { windowStart: string; windowEnd: string };

describe('golden fixture', () => {
  const events = jsonl<EventInput>('events.jsonl');
  const expected: WindowResult[] = jsonl<ExpectedWindow>('expected-windows.jsonl').map((w) => ({
    ...w,
    windowStart: Date.parse(w.windowStart),
    windowEnd: Date.parse(w.windowEnd),
    final: true,
    revision: 0,
  }));

  it('routes every event to the expected topic and partition', () => {
    const registry = createEventTypeRegistry();
    const parts = jsonl<{ eventId: string; key: string; topic: string; partition: number }>('expected-partitions.jsonl');
    expect(parts).toHaveLength(events.length);
    const byId = new Map(parts.map((p) => [p.eventId, p]));
    for (const input of events) {
      const ev = parseEventInput(input, () => 'x');
      const spec = registry.resolve(ev.eventType)!;
      const want = byId.get(ev.eventId)!;
      expect({ key: actorKey(ev), topic: spec.topic, partition: partitionForKey(actorKey(ev), spec.partitions) }).toEqual({
        key: want.key,
        topic: want.topic,
        partition: want.partition,
      });
    }
  });

  for (const batchSize of [1, 7, 500]) {
    it(`holds exactly the expected windows, all final, and emits each final once (batch size ${batchSize})`, async () => {
      const d = createPartitionDriver({ batchSize });
      await d.feed(events);
      expect(d.deadLetters).toEqual([]);
      expect(d.late).toEqual([]);
      // idle partitions: the watermark advances by the processing time past the idle timeout,
      // 2 h is enough for every window (longest: session + 30 min) and well inside the 24 h retention
      d.advance(30_000 + 2 * 3_600_000);
      const held = await d.held();
      expect(held.every((r) => r.final)).toBe(true);
      expect(diffResults(held, expected)).toEqual([]);
      expect(held).toHaveLength(expected.length);

      const finals = d.emitted.filter((r) => r.final);
      expect(finals).toHaveLength(expected.length);
      expect(diffResults(finals, expected)).toEqual([]);
    });
  }

  it('gives the same windows after a crash and replay from a mid-stream checkpoint', async () => {
    const d = createPartitionDriver({ batchSize: 13 });
    await d.feed(events.slice(0, 250));
    d.checkpoint();
    await d.feed(events.slice(250, 400));
    d.crash();
    await d.feed(events.slice(400));
    d.advance(30_000 + 2 * 3_600_000);
    const held = await d.held();
    expect(diffResults(held, expected)).toEqual([]);
    expect(held).toHaveLength(expected.length);
    expect(diffResults(d.sinkView(), expected)).toEqual([]);
  });
});
