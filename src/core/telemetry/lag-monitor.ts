/**
 * Consumer lag and watermark lag, sampled on a timer apart from processing: lag is the log end
 * offset minus the next offset to process, so it keeps growing while processing stalls (a gauge
 * set only after each batch would freeze at its last value). A partition that is no longer owned
 * loses its series at the next sample, so a moved partition never keeps an alert firing.
 */
import type { Gauge } from 'prom-client';
import type { Clock, Timer } from '../clock.ts';

/** Where a partition's processing stands. */
export interface PartitionPosition {
  readonly topic: string;
  readonly partition: number;
  /** Next offset to process. */
  readonly nextOffset: number;
  /** Event-time watermark, epoch ms; null before the first event. */
  readonly watermark: number | null;
}

export interface LagMonitorOptions {
  /** keyflow_consumer_lag_records. */
  consumerLag: Gauge<'topic' | 'partition'>;
  /** keyflow_watermark_lag_seconds: processing time minus the watermark. */
  watermarkLag: Gauge<'topic' | 'partition'>;
  /** The log end offset of every partition of a topic. */
  endOffsets(topic: string): Promise<readonly number[]>;
  /** The partitions owned now. */
  positions(): Iterable<PartitionPosition>;
  clock: Clock;
  /** @default 5000 */
  intervalMs?: number;
}

export interface LagMonitor {
  /** Samples once (the timer calls it; tests call it directly). */
  sample(): Promise<void>;
  start(): void;
  /** Stops sampling and removes every series it set. */
  stop(): void;
}

/**
 * @example
 * const lag = createLagMonitor({ consumerLag: m.consumerLag, watermarkLag: m.watermarkLag, endOffsets: (t) => log.endOffsets(t), positions, clock });
 * lag.start();
 */
export function createLagMonitor(options: LagMonitorOptions): LagMonitor {
  const { consumerLag, watermarkLag, clock } = options;
  // label key → labels, of every series set by the previous sample
  let shown = new Map<string, { topic: string; partition: string }>();
  let timer: Timer | undefined;
  let running: Promise<void> | undefined;

  async function sampleOnce(): Promise<void> {
    const byTopic = new Map<string, PartitionPosition[]>();
    for (const p of options.positions()) {
      const list = byTopic.get(p.topic);
      if (list) list.push(p);
      else byTopic.set(p.topic, [p]);
    }
    const now = clock.now();
    const next = new Map<string, { topic: string; partition: string }>();
    await Promise.all(
      [...byTopic].map(async ([topic, list]) => {
        let ends: readonly number[] | undefined;
        try {
          ends = await options.endOffsets(topic);
        } catch {
          // Broker unreachable: keep the last lag shown for this topic rather than a false 0.
        }
        for (const p of list) {
          const labels = { topic, partition: String(p.partition) };
          const key = `${topic}\u0000${p.partition}`;
          next.set(key, labels);
          const end = ends?.[p.partition];
          if (end !== undefined) consumerLag.set(labels, Math.max(0, end - p.nextOffset));
          if (p.watermark !== null) watermarkLag.set(labels, Math.max(0, (now - p.watermark) / 1000));
        }
      }),
    );
    for (const [key, labels] of shown) {
      if (next.has(key)) continue;
      consumerLag.remove(labels);
      watermarkLag.remove(labels);
    }
    shown = next;
  }

  return {
    sample() {
      running ??= sampleOnce().finally(() => {
        running = undefined;
      });
      return running;
    },
    start() {
      timer ??= clock.every(options.intervalMs ?? 5000, () => void this.sample());
    },
    stop() {
      timer?.cancel();
      timer = undefined;
      for (const labels of shown.values()) {
        consumerLag.remove(labels);
        watermarkLag.remove(labels);
      }
      shown.clear();
    },
  };
}
