/**
 * Metrics that alerts depend on: every metric a dashboard, alert or alert test names is exported
 * by the code; process metrics keep their standard names; lag is computed from the log end offset
 * apart from processing and disappears with the partition; `final` is a real label; sink writes
 * are timed and counted.
 */
import { readFileSync } from 'node:fs';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { createSimulatedClock } from '../../src/core/clock.ts';
import { type PartitionPosition, createLagMonitor } from '../../src/core/telemetry/lag-monitor.ts';
import { countWindowResults, createMetrics, observeSinkWrite } from '../../src/core/telemetry/metrics.ts';

const METRIC = /\b((?:keyflow|process|nodejs)_[a-z0-9_]+)\b/g;

/** Every series name the registry serves (histograms and summaries with their suffixes). */
async function exported(): Promise<Set<string>> {
  const m = createMetrics(new Registry());
  const names = new Set<string>();
  for (const metric of await m.registry.getMetricsAsJSON()) {
    names.add(metric.name);
    if (String(metric.type) === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(metric.name + s);
    if (String(metric.type) === 'summary') for (const s of ['_sum', '_count']) names.add(metric.name + s);
  }
  return names;
}

function named(file: string): Set<string> {
  const text = readFileSync(new URL(`../../${file}`, import.meta.url), 'utf8');
  return new Set([...text.matchAll(METRIC)].map((m) => m[1]!));
}

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const v = (metric?.values as { labels: Record<string, string | number>; value: number }[] | undefined)?.find((x) =>
    Object.entries(labels).every(([k, l]) => String(x.labels[k]) === l),
  );
  return v?.value;
}

describe('metric names', () => {
  it.each(['infra/prometheus/alerts.yml', 'infra/prometheus/alerts.test.yml', 'infra/grafana/dashboards/keyflow.json'])('%s names only metrics the code exports', async (file) => {
    const have = await exported();
    const names = named(file);
    expect(names.size).toBeGreaterThan(0);
    expect([...names].filter((n) => !have.has(n))).toEqual([]);
  });

  it('process and Node.js metrics keep their standard names, and build_info is 1', async () => {
    const have = await exported();
    for (const n of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'nodejs_eventloop_lag_p99_seconds', 'nodejs_heap_size_used_bytes']) expect(have).toContain(n);
    expect([...have].some((n) => n.startsWith('keyflow_process_') || n.startsWith('keyflow_nodejs_'))).toBe(false);
    const m = createMetrics(new Registry(), { defaultMetrics: false, build: { version: '9.9.9', runtime: 'node', runtimeVersion: '22.0.0' } });
    expect(await value(m.registry, 'keyflow_build_info', { version: '9.9.9', runtime: 'node', runtime_version: '22.0.0' })).toBe(1);
  });
});

describe('consumer lag', () => {
  function setup() {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    const clock = createSimulatedClock(1_000_000);
    const ends = new Map<string, number[]>([['t', [100, 50]]]);
    let positions: PartitionPosition[] = [
      { topic: 't', partition: 0, nextOffset: 90, watermark: 1_000_000 - 30_000 },
      { topic: 't', partition: 1, nextOffset: 50, watermark: null },
    ];
    let brokerDown = false;
    const lag = createLagMonitor({
      consumerLag: m.consumerLag,
      watermarkLag: m.watermarkLag,
      endOffsets: async (t) => {
        if (brokerDown) throw new Error('broker down');
        return ends.get(t)!;
      },
      positions: () => positions,
      clock,
      intervalMs: 5000,
    });
    return {
      m,
      clock,
      lag,
      ends,
      setPositions: (p: PartitionPosition[]) => {
        positions = p;
      },
      setBrokerDown: (d: boolean) => {
        brokerDown = d;
      },
    };
  }

  it('grows with the log end offset while processing stands still', async () => {
    const s = setup();
    await s.lag.sample();
    expect(await value(s.m.registry, 'keyflow_consumer_lag_records', { topic: 't', partition: '0' })).toBe(10);
    expect(await value(s.m.registry, 'keyflow_consumer_lag_records', { topic: 't', partition: '1' })).toBe(0);
    expect(await value(s.m.registry, 'keyflow_watermark_lag_seconds', { topic: 't', partition: '0' })).toBe(30);
    // Processing stalls (positions unchanged) while producers append: lag keeps growing.
    s.ends.set('t', [5000, 50]);
    s.clock.advance(10_000);
    await s.lag.sample();
    expect(await value(s.m.registry, 'keyflow_consumer_lag_records', { topic: 't', partition: '0' })).toBe(4910);
    expect(await value(s.m.registry, 'keyflow_watermark_lag_seconds', { topic: 't', partition: '0' })).toBe(40);
  });

  it('keeps the last value while the broker is unreachable, and drops a partition that moved away', async () => {
    const s = setup();
    await s.lag.sample();
    s.setBrokerDown(true);
    await s.lag.sample();
    expect(await value(s.m.registry, 'keyflow_consumer_lag_records', { topic: 't', partition: '0' })).toBe(10);
    s.setBrokerDown(false);
    s.setPositions([{ topic: 't', partition: 1, nextOffset: 40, watermark: null }]);
    await s.lag.sample();
    expect(await value(s.m.registry, 'keyflow_consumer_lag_records', { topic: 't', partition: '0' })).toBeUndefined();
    expect(await value(s.m.registry, 'keyflow_watermark_lag_seconds', { topic: 't', partition: '0' })).toBeUndefined();
    expect(await value(s.m.registry, 'keyflow_consumer_lag_records', { topic: 't', partition: '1' })).toBe(10);
    s.lag.stop();
    expect(await value(s.m.registry, 'keyflow_consumer_lag_records', { topic: 't', partition: '1' })).toBeUndefined();
  });

  it('samples on its own timer', async () => {
    const s = setup();
    s.lag.start();
    s.clock.advance(5000);
    await expect.poll(() => value(s.m.registry, 'keyflow_consumer_lag_records', { topic: 't', partition: '0' })).toBe(10);
    s.lag.stop();
  });
});

describe('window results and sinks', () => {
  it('counts finals and updates under final="true" / "false"', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    countWindowResults(m.windowResultsEmitted, [
      { eventType: 'a', final: false },
      { eventType: 'a', final: false },
      { eventType: 'a', final: true },
      { eventType: 'b', final: true },
      { eventType: 'a', final: false },
    ]);
    expect(await value(m.registry, 'keyflow_window_results_emitted_total', { event_type: 'a', final: 'false' })).toBe(3);
    expect(await value(m.registry, 'keyflow_window_results_emitted_total', { event_type: 'a', final: 'true' })).toBe(1);
    expect(await value(m.registry, 'keyflow_window_results_emitted_total', { event_type: 'b', final: 'true' })).toBe(1);
  });

  it('times every sink write and counts the failed ones', async () => {
    const m = createMetrics(new Registry(), { defaultMetrics: false });
    await observeSinkWrite(m, 'postgres', async () => {});
    await expect(observeSinkWrite(m, 'postgres', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await value(m.registry, 'keyflow_sink_write_errors_total', { sink: 'postgres' })).toBe(1);
    const hist = (await m.registry.getMetricsAsJSON()).find((x) => x.name === 'keyflow_sink_write_duration_seconds')!;
    const count = (hist.values as { metricName?: string; value: number }[]).find((v) => v.metricName === 'keyflow_sink_write_duration_seconds_count');
    expect(count?.value).toBe(2);
  });
});
