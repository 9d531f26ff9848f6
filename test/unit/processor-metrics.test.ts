/**
 * The processor's metrics through the processor driver: consumer lag follows the log end offset
 * while processing stands still and leaves with a revoked partition, finals are counted under
 * final="true", rebalances are counted.
 */
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createMetrics } from '../../src/core/telemetry/metrics.ts';
import { partitionForKey } from '../../src/model/index.ts';
import { type ProcessorDriver, createProcessorDriver } from '../helpers/processor-driver.ts';

const T0 = Date.parse('2026-01-15T10:00:00.000Z');
const drivers: ProcessorDriver[] = [];
afterEach(async () => {
  for (const d of drivers.splice(0)) await d.close();
});

async function value(registry: Registry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const v = (metric?.values as { labels: Record<string, string | number>; value: number }[] | undefined)?.find((x) =>
    Object.entries(labels).every(([k, l]) => String(x.labels[k]) === l),
  );
  return v?.value;
}

describe('processor metrics', () => {
  it('lag grows while processing stalls, and its series leaves with the revoked partition', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const d = await createProcessorDriver({ partitions: 2, metrics });
    drivers.push(d);
    const a = await d.member('a');
    await a.assign([0, 1]);
    const key = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'].find((k) => partitionForKey(k, 2) === 0)!;
    const at = (i: number) => ({ key, timestamp: T0 + i * 1000, value: 1 });
    await d.publish(Array.from({ length: 10 }, (_, i) => at(i)));
    await a.pump();
    await d.advance(5000);
    const lag = () => value(metrics.registry, 'keyflow_consumer_lag_records', { topic: d.topic, partition: '0' });
    await expect.poll(lag).toBe(0);
    // Appended but not delivered: the processor stands still, the lag does not.
    await d.publish(Array.from({ length: 25 }, (_, i) => at(10 + i)));
    await d.advance(5000);
    await expect.poll(lag).toBe(25);
    expect(await value(metrics.registry, 'keyflow_watermark_lag_seconds', { topic: d.topic, partition: '0' })).toBeGreaterThan(0);

    await a.revoke([0]);
    await d.advance(5000);
    await expect.poll(lag).toBeUndefined();
    expect(await value(metrics.registry, 'keyflow_consumer_lag_records', { topic: d.topic, partition: '1' })).toBe(0);
    expect(await value(metrics.registry, 'keyflow_rebalances_total', { event: 'assigned' })).toBe(1);
    expect(await value(metrics.registry, 'keyflow_rebalances_total', { event: 'revoked' })).toBe(1);
  });

  it('counts finals under final="true" and updates under final="false"', async () => {
    const metrics = createMetrics(new Registry(), { defaultMetrics: false });
    const d = await createProcessorDriver({ partitions: 1, metrics, host: { emitUpdates: true } });
    drivers.push(d);
    const a = await d.member('a');
    await a.assign([0]);
    // Two minutes of event time: the first minute's tumbling window becomes final.
    await d.publish([
      { key: 'k', timestamp: T0 + 1000, value: 1 },
      { key: 'k', timestamp: T0 + 2000, value: 2 },
      { key: 'k', timestamp: T0 + 20 * 60_000, value: 3 },
    ]);
    await a.pump();
    const finals = await value(metrics.registry, 'keyflow_window_results_emitted_total', { event_type: 'iot.sensor', final: 'true' });
    const updates = await value(metrics.registry, 'keyflow_window_results_emitted_total', { event_type: 'iot.sensor', final: 'false' });
    expect(finals).toBeGreaterThan(0);
    expect(updates).toBeGreaterThan(0);
    expect(await value(metrics.registry, 'keyflow_window_results_emitted_total', { final: 'mixed' })).toBeUndefined();
  });
});
