/**
 * What a resumable subscription costs (issue 11), in process on the embedded file log:
 * - catch-up: events(after:) from a cursor 0 over N events on 12 partitions, drained as fast as the
 *   consumer takes them, against the floor of reading the same records and decoding them;
 * - live: the same stream hinted by the in-process bus (every event once, each with its cursor),
 *   against the plain live subscription (busIterator, no cursor).
 * Figures are events per CPU-second of this process (wall time is noisy on a shared machine).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInProcessBus, createInProcessHub, createLiveFeed, eventMessage, subjects } from '../src/bus/index.ts';
import { systemClock } from '../src/core/index.ts';
import { busIterator } from '../src/graphql/bus-iterator.ts';
import { toEventView } from '../src/graphql/reads.ts';
import { resumableEvents } from '../src/graphql/resume.ts';
import { createFileLog } from '../src/log/embedded/file-log.ts';
import { decodeEnvelope } from '../src/model/index.ts';
import type { BenchContext } from './embedded.ts';
import { fmtInt } from './lib/stats.ts';

const TOPIC = 'events.bench';
const PARTITIONS = 12;

function cpuSeconds(from: NodeJS.CpuUsage): number {
  const u = process.cpuUsage(from);
  return (u.user + u.system) / 1e6;
}

function line(label: string, n: number, cpu: number, wallMs: number): number {
  const perCpu = n / cpu;
  process.stdout.write(`${label.padEnd(52)} ${fmtInt(Math.round(perCpu)).padStart(10)} events/CPU-s  (${fmtInt(n)} events, ${cpu.toFixed(2)} CPU-s, ${(wallMs / 1000).toFixed(2)} s wall)\n`);
  return perCpu;
}

export async function benchResume(ctx: BenchContext): Promise<void> {
  const n = ctx.quick ? 50_000 : 200_000;
  const dir = mkdtempSync(join(tmpdir(), 'keyflow-bench-resume-'));
  const log = createFileLog({ dataDir: dir, clock: systemClock, logger: { warn: () => {}, error: () => {} } });
  await log.start();
  try {
    await log.ensureTopics([{ name: TOPIC, partitions: PARTITIONS }]);
    const t0 = Date.UTC(2026, 0, 1);
    for (let i = 0; i < n; i += 1000) {
      const records = [];
      for (let j = i; j < Math.min(n, i + 1000); j++) {
        const key = `dev-${j % 500}`;
        records.push({ key, value: JSON.stringify({ eventId: `e-${j}`, timestamp: new Date(t0 + j).toISOString(), eventType: 'iot.sensor', userId: null, deviceId: key, payload: { value: j % 100 }, metadata: null }) });
      }
      await log.append(TOPIC, records);
    }
    await log.flush(TOPIC, 0, 0);

    // floor: read every record and decode it (a first pass warms the JIT and the page cache)
    let cpu0 = process.cpuUsage();
    let w0 = performance.now();
    let seen = 0;
    for (let pass = 0; pass < 2; pass++) {
    seen = 0;
    cpu0 = process.cpuUsage();
    w0 = performance.now();
    for (let p = 0; p < PARTITIONS; p++) {
      const end = (await log.endOffsets(TOPIC))[p]!;
      for (let at = 0; at < end; ) {
        const rs = await log.read(TOPIC, p, at, 500);
        for (const r of rs) {
          at = r.offset + 1;
          if (toEventView(r)) seen++;
        }
      }
    }
    }
    const floor = line('read + decode (floor)', seen, cpuSeconds(cpu0), performance.now() - w0);

    // catch-up through the resumable stream
    const hub = createInProcessHub();
    const bus = createInProcessBus({ hub });
    await bus.start();
    const live = createLiveFeed({ bus });
    cpu0 = process.cpuUsage();
    w0 = performance.now();
    const it = resumableEvents({ log, live, topic: TOPIC, from: [] }, PARTITIONS);
    let got = 0;
    while (got < n) {
      const r = await it.next();
      if (r.done || r.value instanceof Error) throw new Error('stream ended');
      got++;
    }
    await it.return!();
    const catchUp = line('events(after:) catch-up from the log', got, cpuSeconds(cpu0), performance.now() - w0);
    process.stdout.write(`catch-up / floor: ${(catchUp / floor).toFixed(2)}\n`);

    // live: each batch is appended to the log, then its bus message published (as the processors
    // do after processing), then drained; the same for both streams, so the difference is the stream's
    const t1 = Date.UTC(2026, 1, 1);
    async function runLive(label: string, topic: string, make: () => AsyncIterableIterator<unknown>): Promise<number> {
      await log.ensureTopics([{ name: topic, partitions: PARTITIONS }]);
      const iter = make();
      let k = 0;
      cpu0 = process.cpuUsage();
      w0 = performance.now();
      for (let i = 0; i < n; i += 256) {
        const batch: { key: string; partition: number; value: string }[] = [];
        for (let j = i; j < Math.min(n, i + 256); j++) {
          batch.push({ key: 'dev-1', partition: 0, value: JSON.stringify({ eventId: `l-${j}`, timestamp: new Date(t1 + j).toISOString(), eventType: 'iot.sensor', userId: null, deviceId: 'dev-1', payload: { value: j % 100 }, metadata: null }) });
        }
        const appended = await log.append(topic, batch);
        const events = appended.map((a, x) => eventMessage(a, 'dev-1', decodeEnvelope(new TextEncoder().encode(batch[x]!.value))));
        bus.publish(subjects.events(topic), { events });
        for (let x = 0; x < events.length; x++) {
          const r = await iter.next();
          if (r.done || r.value instanceof Error) throw new Error(`${label}: stream ended`);
          k++;
        }
      }
      await iter.return?.();
      return line(label, k, cpuSeconds(cpu0), performance.now() - w0);
    }
    const plain = await runLive('live events (plain, no cursor) incl. append', 'events.bench.plain', () => {
      const f = createLiveFeed({ bus });
      return busIterator({ subscribe: (push) => f.events('events.bench.plain', push), maxBuffered: 1_000_000 });
    });
    const resumable = await runLive('live events(after:) (each with its cursor) incl. append', 'events.bench.resume', () =>
      resumableEvents({ log, live: createLiveFeed({ bus }), topic: 'events.bench.resume', from: [], maxBuffered: 1_000_000 }, PARTITIONS),
    );
    process.stdout.write(`resumable / plain (live, incl. append): ${(resumable / plain).toFixed(2)}; extra CPU per event: ${((1 / resumable - 1 / plain) * 1e6).toFixed(1)} µs\n`);
    await bus.close();
  } finally {
    await log.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
