/**
 * Spans for the Kafka (kafkajs), Redis (ioredis) and PostgreSQL (pg) clients, from the maintained
 * OpenTelemetry instrumentations. Those normally patch a module when it is first required; keyflow
 * is ESM and has imported the clients before its configuration says whether to trace, so the same
 * patches are applied here to the loaded CommonJS exports (the classes the ESM imports hold, whose
 * prototypes they patch). Patched once per process; each call points the spans at `provider`.
 * NATS has no maintained instrumentation for nats.js; its bus messages are not spanned.
 */
import { createRequire } from 'node:module';
import type { TracerProvider } from '@opentelemetry/api';
import type { Instrumentation, InstrumentationModuleDefinition } from '@opentelemetry/instrumentation';
import { IORedisInstrumentation } from '@opentelemetry/instrumentation-ioredis';
import { KafkaJsInstrumentation } from '@opentelemetry/instrumentation-kafkajs';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';

let instrumentations: Instrumentation[] | undefined;

function patch(require: NodeJS.Require, def: InstrumentationModuleDefinition): void {
  let version: string;
  let exports: unknown;
  try {
    exports = require(def.name);
    version = (require(`${def.name}/package.json`) as { version: string }).version;
  } catch {
    return; // not installed: nothing to trace
  }
  def.patch?.(exports, version);
  for (const file of def.files) {
    try {
      file.patch(require(`${def.name}/${file.name.replace(new RegExp(`^${def.name}/`), '')}`), version);
    } catch {
      // a file of another layout than the instrumentation knows: that part goes untraced
    }
  }
}

/** Traces kafkajs, ioredis and pg calls into `provider` (a Redis or PostgreSQL call only inside a span: no root spans per command). */
export function instrumentClients(provider: TracerProvider): void {
  if (!instrumentations) {
    const require = createRequire(import.meta.url);
    instrumentations = [new KafkaJsInstrumentation({ enabled: false }), new IORedisInstrumentation({ enabled: false }), new PgInstrumentation({ enabled: false, requireParentSpan: true })];
    for (const i of instrumentations) for (const def of (i as unknown as { getModuleDefinitions(): InstrumentationModuleDefinition[] }).getModuleDefinitions()) patch(require, def);
  }
  for (const i of instrumentations) i.setTracerProvider(provider);
}
