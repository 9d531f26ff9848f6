/**
 * OpenTelemetry tracing. With an OTLP endpoint, spans go to it over HTTP in batches; without one
 * the tracer is the API's no-op and costs nothing. The provider is created here and passed in —
 * no component registers or reads a global provider.
 */
import { type Tracer, trace } from '@opentelemetry/api';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';

export interface Tracing {
  readonly tracer: Tracer;
  readonly enabled: boolean;
  shutdown(): Promise<void>;
}

export interface TracingOptions {
  /** OTLP/HTTP base endpoint, e.g. http://localhost:4318; undefined disables tracing. */
  endpoint?: string | undefined;
  /** @default 'keyflow' */
  serviceName?: string;
}

export function createTracing(options: TracingOptions): Tracing {
  if (!options.endpoint) {
    return { tracer: trace.getTracer('keyflow'), enabled: false, shutdown: async () => {} };
  }
  const url = `${options.endpoint.replace(/\/$/, '')}/v1/traces`;
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ [ATTR_SERVICE_NAME]: options.serviceName ?? 'keyflow' }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url }))],
  });
  // Registering sets up the async context manager so child spans find their parent.
  provider.register();
  return { tracer: provider.getTracer('keyflow'), enabled: true, shutdown: () => provider.shutdown() };
}
