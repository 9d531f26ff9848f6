/**
 * PartitionHost hot path: 1M iot.sensor events over 10k keys through one host with the 5 default
 * windows, in batches of 500 (as the consumer delivers them). Prints events/s. Not a test.
 *
 *   npx tsx bench/partition-host.bench.ts [events] [keys] [modes]
 *
 * `modes`: comma-separated `updates` (emitUpdates=true) / `finals` (emitUpdates=false), run in
 * that order; default `updates,finals,updates,finals`.
 *
 * Measurements (Node 20, 2 vCPUs shared with other jobs, so compare events per CPU-second —
 * process.cpuUsage, GC threads included — and repeat; wall figures follow the load):
 * - Before the 2026-11-24 optimisation round (commit 8e9b43c), load 13-17, 1M events:
 *   finals only 149k per CPU-second (40-71k/s wall); updates 98-104k per CPU-second (29-31k/s wall).
 *   Updates were bimodal: in about half of the processes that had run finals-only batches first,
 *   they fell to 35-50k per CPU-second (V8 allocation-site pretenuring of the result literal).
 * - After (commit 712439f), same-process A/B against the old src, 1M events, 4 alternating runs
 *   each, medians, load 7-10: finals only 151k -> 154k per CPU-second (spread 131-171k, i.e. the
 *   gain is within noise; 300k-event A/Bs showed +6..+24%); updates 37k (old, pretenured mode in
 *   that process) -> 102k per CPU-second; in runs where the old code was in its fast mode,
 *   updates 102-115k -> 113-122k. Full bench (this file) at load ~7.5: updates 72-76k/s wall,
 *   112-113k per CPU-second; finals 73-75k/s wall, 142-151k per CPU-second.
 * - Kept: sliding windows located from their predecessor (one search per spec, not five);
 *   arithmetic parse of YYYY-MM-DDTHH:MM:SS.sssZ; KeyActorLogic looked up once per event type in
 *   flush; WindowResults built by a constructor (no allocation site, so never pretenured).
 *   Dropped: decoding each record right before applying it instead of the batch up front
 *   (10-15% slower in A/B).
 * - Remaining limit (profile, 1M events, finals only): decodeRecordValue ~42% self time (it is
 *   JSON.parse; + decodeUTF8 3%), KeyActor applyFixed/applyEvent/applySession/advance ~28%, GC
 *   ~10%, runBatch ~7%. With updates: GC ~25% (~9.4 result objects per event, six boxed doubles
 *   each), decode ~27%, KeyActor ~23%, flush ~7%. The 500k events/s per core is out of
 *   reach while each record is JSON.parse'd: parsing alone measures 500-730k per CPU-second here.
 */
import { createPartitionHost } from '../src/actors/index.ts';
import type { LogRecord } from '../src/log/port.ts';
import { createEventTypeRegistry } from '../src/model/index.ts';
import { createSimulatedClock } from '../src/core/clock.ts';

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
  records.push({ topic: 'events.iot.sensors', partition: 0, offset: i, key: device, value: te.encode(value), headers: {}, appendTime: ts });
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
