/**
 * What the checkpoint-time flush of the embedded log costs (issue 9): the same append load — 4
 * concurrent appenders of 100-record batches (~250-byte iot.sensor events, keyed, murmur2 over 48
 * partitions, the default topics' total) for a fixed time — with
 *   1. no flush (what a checkpoint did before: the log was never fsynced),
 *   2. a checkpoint round every 1000 ms (KEYFLOW_CHECKPOINT_INTERVAL_MS default): every partition
 *      flushed to its current end concurrently, as the processor's checkpoints do,
 *   3. a round every 100 ms,
 *   4. KEYFLOW_LOG_FSYNC=true (an fsync per append call), for comparison.
 * Prints the append rate of each and its ratio to (1), and the duration of a flush round.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileLog, type EmbeddedEventLog } from '../src/log/embedded/file-log.ts';
import type { ProduceRecord } from '../src/log/port.ts';
import type { BenchContext } from './embedded.ts';
import { iotInputs } from './lib/records.ts';
import { fmtInt, fmtLatency, summarize } from './lib/stats.ts';

const TOPIC = 'bench.flush';
const PARTITIONS = 48;
const BATCH = 100;
const APPENDERS = 4;

interface Mode {
  name: string;
  fsync: boolean;
  /** Checkpoint round interval, ms; 0 = no flush. */
  roundMs: number;
}

const MODES: Mode[] = [
  { name: 'no flush (before)', fsync: false, roundMs: 0 },
  { name: 'flush round every 1000 ms', fsync: false, roundMs: 1000 },
  { name: 'flush round every 100 ms', fsync: false, roundMs: 100 },
  { name: 'KEYFLOW_LOG_FSYNC=true', fsync: true, roundMs: 0 },
];

function batches(count: number): ProduceRecord[][] {
  const inputs = iotInputs(count * BATCH, 5000);
  const out: ProduceRecord[][] = [];
  for (let b = 0; b < count; b++) {
    out.push(inputs.slice(b * BATCH, (b + 1) * BATCH).map((e) => ({ key: String(e.deviceId), value: JSON.stringify(e) })));
  }
  return out;
}

async function runMode(mode: Mode, load: ProduceRecord[][], seconds: number): Promise<{ rate: number; rounds: number[] }> {
  const dir = mkdtempSync(join(tmpdir(), 'keyflow-bench-flush-'));
  const log: EmbeddedEventLog = createFileLog({ dataDir: dir, fsync: mode.fsync });
  try {
    await log.start();
    await log.ensureTopics([{ name: TOPIC, partitions: PARTITIONS }]);
    const until = performance.now() + seconds * 1000;
    let appended = 0;
    const rounds: number[] = [];
    const checkpointer = (async () => {
      if (mode.roundMs === 0) return;
      while (performance.now() < until) {
        await new Promise((r) => setTimeout(r, mode.roundMs));
        const ends = await log.endOffsets(TOPIC);
        const t = performance.now();
        await Promise.all(ends.map((end, p) => log.flush(TOPIC, p, end)));
        rounds.push(performance.now() - t);
      }
    })();
    const started = performance.now();
    await Promise.all(
      Array.from({ length: APPENDERS }, async (_, w) => {
        for (let i = w; performance.now() < until; i += APPENDERS) {
          await log.append(TOPIC, load[i % load.length]!);
          appended += BATCH;
        }
      }),
    );
    const rate = appended / ((performance.now() - started) / 1000);
    await checkpointer;
    return { rate, rounds };
  } finally {
    await log.close().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function benchFlush(ctx: BenchContext): Promise<void> {
  const seconds = ctx.quick ? 3 : 10;
  const load = batches(400);
  console.log(`${APPENDERS} appenders × ${BATCH}-record batches over ${PARTITIONS} partitions, ${seconds} s per mode and pass; two passes (forward, then backward) against drift`);
  const rates = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const rounds = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  for (const order of [MODES, [...MODES].reverse()]) {
    for (const mode of order) {
      const r = await runMode(mode, load, seconds);
      rates.get(mode)!.push(r.rate);
      rounds.get(mode)!.push(...r.rounds);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const baseline = mean(rates.get(MODES[0]!)!);
  for (const mode of MODES) {
    const rate = mean(rates.get(mode)!);
    const rs = rounds.get(mode)!;
    const round = rs.length > 0 ? `; flush round of ${PARTITIONS} partitions: ${fmtLatency(summarize(rs))}` : '';
    const passes = rates.get(mode)!.map((x) => fmtInt(x)).join(' / ');
    console.log(`${mode.name.padEnd(28)} ${fmtInt(rate).padStart(9)} records/s appended (passes ${passes}; ${(rate / baseline).toFixed(2)}× no flush)${round}`);
  }
}
