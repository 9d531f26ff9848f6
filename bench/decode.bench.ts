/**
 * The processor's record decoder alone: 500k pre-encoded `iot.sensor` records (the shape the
 * gateway writes), 3 timed passes after a 100k-record warm-up. Prints records per CPU-second. Not a test.
 *
 *   node --import tsx bench/decode.bench.ts [path/to/src/actors/decode.ts]
 *
 * With a path, the decoder of another tree is measured (an A/B against an older commit extracted
 * with `git archive`): its `decodeRecord` with the event bounds when it has one, else its
 * `decodeRecordValue`. Figures: BENCHMARKS.md, "Issue 9".
 */
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const N = 500_000;
const te = new TextEncoder();
const t0 = Date.parse('2026-01-15T10:00:00.000Z');
const records: { value: Uint8Array; appendTime: number }[] = [];
for (let i = 0; i < N; i++) {
  const ts = t0 + i;
  const value = JSON.stringify({
    eventId: `e-${i}`,
    timestamp: new Date(ts).toISOString(),
    eventType: 'iot.sensor',
    userId: i % 10 ? `user-${i % 5000}` : null,
    deviceId: `dev-${i % 10_000}`,
    payload: { value: (i % 10_000) / 100, unit: 'C' },
    metadata: null,
  });
  records.push({ value: te.encode(value), appendTime: ts });
}

const path = process.argv[2] ? pathToFileURL(resolve(process.argv[2])).href : new URL('../src/actors/decode.ts', import.meta.url).href;
const mod = (await import(path)) as {
  decodeRecord?: (r: { value: Uint8Array; appendTime: number }, b: unknown) => { timestamp: number };
  decodeRecordValue: (v: Uint8Array) => { timestamp: number };
};
const bounds = { maxFutureSkewMs: 300_000, valueFieldOf: (t: string) => (t === 'iot.sensor' ? 'value' : undefined) };
const decode = mod.decodeRecord ? (r: (typeof records)[number]) => mod.decodeRecord!(r, bounds) : (r: (typeof records)[number]) => mod.decodeRecordValue(r.value);
const name = mod.decodeRecord ? 'decodeRecord (with event bounds)' : 'decodeRecordValue';

let sink = 0;
for (let i = 0; i < 100_000; i++) sink += decode(records[i]!).timestamp;
for (let pass = 0; pass < 3; pass++) {
  const c0 = process.cpuUsage();
  for (const r of records) sink += decode(r).timestamp;
  const c = process.cpuUsage(c0);
  const ms = (c.user + c.system) / 1000;
  console.log(`${name}: ${N} records, ${Math.round((N / ms) * 1000).toLocaleString('en-US')} per CPU-second`);
}
if (sink === 0) console.log('(unreachable: keeps the results alive)');
