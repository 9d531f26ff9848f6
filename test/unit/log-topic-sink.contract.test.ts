import { describe, expect, it } from 'vitest';
import { createFileLog } from '../../src/log/embedded/file-log.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { createLogTopicSink } from '../../src/sinks/log-topic/log-topic-sink.ts';
import type { WindowResult } from '../../src/model/window-result.ts';
import { tempDir } from '../helpers/wait.ts';
import { finalResult } from '../contract/sink.contract.ts';

describe('log-topic sink', () => {
  it('creates the topic and appends finals keyed by actor key, with the window identity in headers', async () => {
    const tmp = await tempDir('keyflow-lts-');
    const log = createFileLog({ dataDir: tmp.dir });
    try {
      await log.start();
      const sink = createLogTopicSink({ log, topic: 'events.aggregated', partitions: 4 });
      await sink.start();
      expect(await log.partitions('events.aggregated')).toBe(4);
      const start = Date.UTC(2024, 0, 15, 10, 30);
      const finals = [finalResult('iot.sensor', 'dev-1', start), finalResult('iot.sensor', 'dev-2', start, { revision: 1 })];
      await sink.write([...finals, finalResult('iot.sensor', 'dev-3', start, { final: false })]);
      const got: WindowResult[] = [];
      for (let p = 0; p < 4; p++) {
        for (const r of await log.read('events.aggregated', p, 0, 100)) {
          expect(r.partition).toBe(partitionForKey(r.key!, 4));
          expect(r.headers).toMatchObject({ 'content-type': 'application/json', 'keyflow-window-start': String(start) });
          got.push(JSON.parse(new TextDecoder().decode(r.value)) as WindowResult);
        }
      }
      expect(got.sort((a, b) => (a.key < b.key ? -1 : 1))).toEqual(finals);
      expect((await sink.healthy()).connected).toBe(true);
      await sink.close();
    } finally {
      await log.close();
      await tmp.remove();
    }
  });
});
