/**
 * What NATS trace propagation costs (issue 12): one NATS bus publishing window-result-sized
 * messages to a second bus that receives them, in this process, untraced and then traced (each
 * publish inside an active span, so it makes a `bus publish` span, injects `traceparent` into the
 * headers, and the receiver opens a `bus deliver` span). Spans go to a no-op span processor.
 * Figures: messages per CPU-second of the process (publisher + receiver) and the traced/untraced ratio.
 */
import { randomUUID } from 'node:crypto';
import { context, propagation } from '@opentelemetry/api';
import { NoopSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createNatsBus } from '../src/bus/nats/nats-bus.ts';
import { createTracing } from '../src/core/telemetry/tracing.ts';
import type { BenchContext } from './embedded.ts';
import { NATS_URL } from './lib/services.ts';
import { fmtInt } from './lib/stats.ts';

export async function benchBusTrace(ctx: BenchContext): Promise<void> {
  const n = ctx.quick ? 20_000 : 100_000;
  const tracing = createTracing({ spanProcessors: [new NoopSpanProcessor()] });
  const prefix = `bench-tr-${randomUUID().slice(0, 8)}`;
  const message = { results: [{ eventType: 'iot.sensor', key: 'd1', window: 'tumbling-1m', windowStart: 0, windowEnd: 60_000, count: 3, sum: 6, avg: 2, min: 1, max: 3, final: false, revision: 1 }] };
  const rates: number[] = [];
  try {
    for (const traced of [false, true]) {
      const opts = { servers: NATS_URL, prefix, interest: false as const, ...(traced ? { tracer: tracing.tracer } : {}) };
      const pub = createNatsBus(opts);
      const sub = createNatsBus(opts);
      await Promise.all([pub.start(), sub.start()]);
      const subject = `keyflow.windows.bench-${traced ? 't' : 'u'}`;
      let got = 0;
      let probed = false;
      sub.subscribe(subject, (m) => {
        if (m === 'probe') probed = true;
        else got++;
      });
      while (!probed) {
        pub.publish(subject, 'probe');
        await new Promise((r) => setTimeout(r, 10));
      }
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      for (let i = 0; i < n; i += 100) {
        if (traced) {
          tracing.tracer.startActiveSpan('process bench', (span) => {
            for (let j = 0; j < 100; j++) pub.publish(subject, message);
            span.end();
          });
        } else {
          for (let j = 0; j < 100; j++) pub.publish(subject, message);
        }
        // let the receiver drain now and then, as a processor's batches do
        if (i % 2000 === 0) await new Promise((r) => setImmediate(r));
      }
      while (got < n) await new Promise((r) => setTimeout(r, 5));
      const cpu = process.cpuUsage(cpu0);
      const cpuSeconds = (cpu.user + cpu.system) / 1e6;
      const wall = (performance.now() - t0) / 1000;
      const perCpuSecond = n / cpuSeconds;
      rates.push(perCpuSecond);
      process.stdout.write(
        `NATS bus, ${traced ? 'traced (publish + deliver spans, headers)' : 'untraced'}`.padEnd(52) +
          `${fmtInt(Math.round(perCpuSecond)).padStart(10)} msg/CPU-s  (${fmtInt(Math.round(n / wall))} msg/s wall, ${fmtInt(n)} messages)\n`,
      );
      await Promise.all([pub.close(), sub.close()]);
    }
    process.stdout.write(`traced / untraced messages per CPU-second: ${(rates[1]! / rates[0]!).toFixed(2)}\n`);
  } finally {
    await tracing.shutdown();
    context.disable();
    propagation.disable();
  }
}
