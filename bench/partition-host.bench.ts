/**
 * PartitionHost hot path: 1M iot.sensor events over 10k keys through one host with the 5 default
 * windows, in batches of 500 (as the consumer delivers them). Prints events/s. Not a test.
 *
 *   npx tsx bench/partition-host.bench.ts [events] [keys] [modes]
 *
 * `modes`: comma-separated `updates` (emitUpdates=true) / `finals` (emitUpdates=false), run in
 * that order; default `updates,finals,updates,finals`.
 */
import { createPartitionHost } from '../src/actors/index.ts';
import type { LogRecord } from '../src/log/port.ts';
import { createEventTypeRegistry } from '../src/model/index.ts';
import { createSimulatedClock } from '../src/runtime/clock.ts';

const EVENTS = Number(process.argv[2] ?? 1_000_000);
const KEYS = Number(process.argv[3] ?? 10_000);
const BATCH = 500;
const te = new TextEncoder();
const t0 = Date.parse('2026-01-15T10:00:00.000Z');

const records: LogRecord[] = [];
let seed = 42;
const rnd = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32);
for (let i = 0; i < EVENTS; i++) {
  const device = `dev-${i % KEYS}`;
  // ~1000 events per second of event time, up to 2 s out of order
  const ts = t0 + i + Math.floor(rnd() * 2000) - 1000;
  const value = JSON.stringify({
    eventId: `e-${i}`,
    timestamp: new Date(ts).toISOString(),
    eventType: 'iot.sensor',
    // a device belongs to one user; every tenth event has no user
    userId: i % 10 === 0 ? null : `user-${(i % KEYS) % 5000}`,
    deviceId: device,
    payload: { value: Math.round(rnd() * 10_000) / 100, unit: 'C' },
    metadata: null,
  });
  records.push({ topic: 'events.iot.sensors', partition: 0, offset: i, key: device, value: te.encode(value), headers: {}, appendTime: 0 });
}

async function run(emitUpdates: boolean): Promise<void> {
let results = 0;
let finals = 0;
const clock = createSimulatedClock(0);
const host = createPartitionHost({
  emitUpdates,
  topic: 'events.iot.sensors',
  partition: 0,
  registry: createEventTypeRegistry(),
  clock,
  output: {
    onResults: (rs) => {
      results += rs.length;
      for (const r of rs) if (r.final) finals++;
    },
    onLate: () => {},
    onDeadLetter: (m) => {
      throw new Error(`unexpected dead letter ${m[0]?.errorMessage}`);
    },
  },
});
host.restore(null, new Map());
  const us0 = process.hrtime.bigint() / 1000n;
  const cpu0 = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < records.length; i += BATCH) await host.processBatch(records.slice(i, i + BATCH));
  const ms = performance.now() - start;
  const cpu = process.cpuUsage(cpu0);
  const us1 = process.hrtime.bigint() / 1000n;
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const rate = Math.round((EVENTS / ms) * 1000);
  const cpuRate = Math.round((EVENTS / cpuMs) * 1000);
  console.log(
    `partition-host: ${EVENTS} events, ${KEYS} keys, 5 default windows, batch ${BATCH}, emitUpdates=${emitUpdates}: ${ms.toFixed(0)} ms, ${rate.toLocaleString('en-US')} events/s wall, ${cpuRate.toLocaleString('en-US')} events per CPU-second (${results} results emitted, ${finals} final, ${host.actorCount} actors) [profile section: --from ${us0} --to ${us1}]`,
  );
}

const modes = (process.argv[4] ?? 'updates,finals,updates,finals').split(',');
for (const m of modes) await run(m === 'updates');
