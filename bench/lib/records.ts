/** Pre-encoded log records and GraphQL inputs for the benchmarks (generated outside any timed section). */
import { checkFrame, decodeFrame, FrameStatus, frameSize, writeFrame } from '../../src/log/embedded/codec.ts';
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
export function iotInputs(count: number, keys: number, seed = 42, spanMs = count): EventInput[] {
  let t = T0;
  const gen = createEventGenerator({ types: ['iot.sensor'], keys, seed, now: () => t, lateFraction: 0.3, maxLatenessMs: 2000 });
  const out: EventInput[] = new Array(count);
  const step = spanMs / count;
  for (let i = 0; i < count; i++) {
    t = T0 + Math.floor(i * step);
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


/**
 * One partition's records as the embedded log holds them: CRC-checked frames back to back in one
 * buffer (`src/log/embedded/codec.ts`), outside the V8 heap. A benchmark that kept a million
 * record objects alive would make every major GC mark them, which no real run does: the log
 * reader builds a batch's records from its read buffer and they die young.
 */
export interface FramedPartition {
  readonly topic: string;
  readonly partition: number;
  readonly buf: Buffer;
  /** Start position of each frame, in offset order. */
  readonly starts: Int32Array;
}

export function toFramedPartitions(byPartition: readonly LogRecord[][]): FramedPartition[] {
  return byPartition.map((rs, partition) => {
    let size = 0;
    for (const r of rs) size += frameSize(r);
    const buf = Buffer.allocUnsafe(size);
    const starts = new Int32Array(rs.length);
    let pos = 0;
    rs.forEach((r, i) => {
      starts[i] = pos;
      pos = writeFrame(buf, pos, r, r.offset, r.appendTime);
    });
    return { topic: rs[0]?.topic ?? IOT_TOPIC, partition, buf, starts };
  });
}

const frameCheck = { end: 0, offset: 0, appendTime: 0 };

/** Records `from` until `to` (indexes = offsets) of a framed partition, read as the file log's reader does (CRC check, then decode). */
export function readFramed(fp: FramedPartition, from: number, to: number): LogRecord[] {
  const out: LogRecord[] = [];
  const end = Math.min(to, fp.starts.length);
  for (let i = from; i < end; i++) {
    const pos = fp.starts[i]!;
    if (checkFrame(fp.buf, pos, fp.buf.length, frameCheck) !== FrameStatus.Ok) throw new Error(`bad frame at ${pos}`);
    out.push(decodeFrame(fp.buf, pos, fp.topic, fp.partition));
  }
  return out;
}
