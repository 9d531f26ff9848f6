import { appendFile, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createDataLakeSink } from '../../src/sinks/data-lake/data-lake-sink.ts';
import { tempDir } from '../helpers/wait.ts';
import { describeSinkContract, finalResult } from '../contract/sink.contract.ts';

describeSinkContract('data-lake sink', async () => {
  const tmp = await tempDir('keyflow-lake-');
  const sink = createDataLakeSink({ dir: tmp.dir, fsync: false, compactAfterRows: 50 });
  return { sink, readBack: (eventType) => sink.read({ eventType }), cleanup: () => tmp.remove() };
});

describe('data-lake sink layout', () => {
  it('partitions files by eventType and UTC date, compacts to one line per window, survives a torn line', async () => {
    const tmp = await tempDir('keyflow-lake-');
    try {
      const sink = createDataLakeSink({ dir: tmp.dir, buckets: 1, fsync: false });
      await sink.start();
      const day1 = Date.UTC(2024, 0, 15, 23, 59);
      const day2 = Date.UTC(2024, 0, 16, 0, 0);
      await sink.write([finalResult('iot.sensor', 'd1', day1), finalResult('iot.sensor', 'd1', day2)]);
      // Non-final updates are not written to the lake.
      await sink.write([finalResult('iot.sensor', 'd9', day1, { final: false })]);
      const f1 = join(tmp.dir, 'eventType=iot.sensor', 'date=2024-01-15', 'part-000.jsonl');
      const f2 = join(tmp.dir, 'eventType=iot.sensor', 'date=2024-01-16', 'part-000.jsonl');
      const row = JSON.parse((await readFile(f1, 'utf8')).trim()) as Record<string, unknown>;
      expect(row).toMatchObject({ key: 'd1', windowStart: day1, windowStartIso: '2024-01-15T23:59:00.000Z', final: true });
      expect((await readFile(f2, 'utf8')).trim().split('\n')).toHaveLength(1);
      // A crash mid-append left half a line; later rows still parse.
      await appendFile(f1, '{"eventType":"iot.sen');
      const again = createDataLakeSink({ dir: tmp.dir, buckets: 1, fsync: false });
      await again.start();
      await again.write([finalResult('iot.sensor', 'd1', day1, { revision: 2, count: 9 })]);
      await again.write([finalResult('iot.sensor', 'd1', day1, { revision: 2, count: 9 })]);
      expect((await again.read()).map((r) => [r.key, r.windowStart, r.revision, r.count])).toEqual([
        ['d1', day1, 2, 9],
        ['d1', day2, 0, 3],
      ]);
      await again.compact();
      expect((await readFile(f1, 'utf8')).trim().split('\n')).toHaveLength(1);
      expect((await readdir(join(tmp.dir, 'eventType=iot.sensor'))).sort()).toEqual(['date=2024-01-15', 'date=2024-01-16']);
      await again.close();
      await sink.close();
    } finally {
      await tmp.remove();
    }
  });
});
