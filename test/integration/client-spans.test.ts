/**
 * With tracing on, the Kafka, Redis and PostgreSQL clients make spans of their own (the maintained
 * OpenTelemetry instrumentations, applied to the loaded clients), children of the span they run in.
 */
import { context, propagation } from '@opentelemetry/api';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTracing } from '../../src/core/telemetry/tracing.ts';
import { type KafkaLogFixture, createKafkaTestLog } from '../helpers/kafka.ts';
import { requirePostgres, requireRedis } from '../helpers/services.ts';

describe('client spans', () => {
  const exporter = new InMemorySpanExporter();
  const tracing = createTracing({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const tracer = tracing.tracer;
  let kafka: KafkaLogFixture;
  beforeAll(async () => {
    kafka = await createKafkaTestLog();
  });
  afterAll(async () => {
    await kafka?.cleanup();
    await tracing.shutdown();
    context.disable();
    propagation.disable();
  });

  it('a Redis command, a PostgreSQL query and a Kafka produce inside a span are its children', async () => {
    const redis = new Redis(requireRedis().url);
    const client = new pg.Client({ connectionString: requirePostgres().url });
    await client.connect();
    const topic = `${kafka.topicPrefix}.spans`;
    await kafka.log.ensureTopics([{ name: topic, partitions: 1 }]);
    let parentSpanId = '';
    let traceId = '';
    try {
      await tracer.startActiveSpan('parent', async (span) => {
        parentSpanId = span.spanContext().spanId;
        traceId = span.spanContext().traceId;
        await redis.set(`${kafka.topicPrefix}:k`, '1', 'EX', 60);
        await client.query('SELECT 1');
        await kafka.log.append(topic, [{ key: 'k', value: 'v' }]);
        span.end();
      });
    } finally {
      redis.disconnect();
      await client.end();
    }
    const spans = exporter.getFinishedSpans().filter((s) => s.spanContext().traceId === traceId && s.parentSpanContext?.spanId === parentSpanId);
    const names = spans.map((s) => s.name);
    expect(names).toContain('set');
    expect(names.some((n) => n.startsWith('pg.query'))).toBe(true);
    expect(names.some((n) => n.includes(topic))).toBe(true);
  });
});
