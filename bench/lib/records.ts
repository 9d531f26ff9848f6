/** Pre-encoded log records and GraphQL inputs for the benchmarks (generated outside any timed section). */
import type { LogRecord } from '../../src/log/port.ts';
import type { EventInput } from '../../src/model/event.ts';
import { partitionForKey } from '../../src/model/partitioner.ts';
import { createEventGenerator } from '../../src/loadgen/index.ts';

export const IOT_TOPIC = 'events.iot.sensors';
export const IOT_PARTITIONS = 12;
/** Event time of the first generated event. */
export const T0 = Date.parse('2026-01-15T10:00:00.000Z');

const te = new TextEncoder();

/**
 * Realistic iot.sensor events (the load generator's sensors) over `keys` devices, ~1000 events
 * per second of event time with up to 2 s of disorder; 9 in 10 carry a userId (a device belongs
 * to one of keys/2 users) so distinct-user sets are exercised too.
 */
export function iotInputs(count: number, keys: number, seed = 42): EventInput[] {
  let t = T0;
  const gen = createEventGenerator({ types: ['iot.sensor'], keys, seed, now: () => t, lateFraction: 0.3, maxLatenessMs: 2000 });
  const out: EventInput[] = new Array(count);
  for (let i = 0; i < count; i++) {
    t = T0 + i;
    const e = gen.next();
    const device = Number(String(e.deviceId).slice('sensor-'.length));
    out[i] = { ...e, userId: i % 10 === 0 ? null : `user-${device % Math.max(1, keys >> 1)}` };
  }
  return out;
}

/** Log records of `inputs` partitioned as the gateway would (murmur2 on the actor key), offsets per partition. */
export function toPartitionedRecords(inputs: readonly EventInput[], partitions = IOT_PARTITIONS, topic = IOT_TOPIC): LogRecord[][] {
  const byPartition: LogRecord[][] = Array.from({ length: partitions }, () => []);
  for (const e of inputs) {
    const key = String(e.deviceId ?? e.userId ?? e.eventId);
    const p = partitionForKey(key, partitions);
    const list = byPartition[p]!;
    // appended when it happened: an append time before the event time would dead-letter it (KEYFLOW_MAX_FUTURE_SKEW_MS)
    list.push({ topic, partition: p, offset: list.length, key, value: te.encode(JSON.stringify(e)), headers: {}, appendTime: Date.parse(e.timestamp) });
  }
  return byPartition;
}

/** Splits every partition's records into batches of `size` (as the consumer delivers them). */
export function toBatches(byPartition: readonly LogRecord[][], size: number): LogRecord[][][] {
  return byPartition.map((rs) => {
    const out: LogRecord[][] = [];
    for (let i = 0; i < rs.length; i += size) out.push(rs.slice(i, i + size));
    return out;
  });
}
