/**
 * The ops files (docker-compose.yml, Prometheus rules, Grafana dashboard) cannot run here (no
 * Docker), so this checks that they stay consistent with the code: every metric they query is one
 * keyflow exports, every KEYFLOW_ / KAFKA_ / … variable the compose file sets is one the config
 * schema reads, and the dashboard is valid JSON pointing at the provisioned datasource.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { describeConfig, loadConfig } from '../../src/app/config.ts';
import { MetricName } from '../../src/core/telemetry/names.ts';

const root = new URL('../../', import.meta.url);
const read = (path: string) => readFileSync(new URL(path, root), 'utf8');

const exported = new Set<string>(Object.values(MetricName));
/** prom-client's default metrics, registered with the `keyflow_` prefix. */
const DEFAULT_METRIC = /^keyflow_(process|nodejs)_/;

function metricsIn(text: string): string[] {
  const names = new Set<string>();
  for (const m of text.matchAll(/\bkeyflow_[a-z0-9_]+/g)) names.add(m[0].replace(/_(bucket|count|sum)$/, ''));
  return [...names];
}

/** The `KEY: value` pairs of the compose file's shared keyflow environment block. */
function composeKeyflowEnv(): Record<string, string> {
  const text = read('docker-compose.yml');
  const block = /^x-keyflow-env: &keyflow-env\n((?: {2}.*\n)+)/m.exec(text);
  expect(block, 'docker-compose.yml has an x-keyflow-env block').not.toBeNull();
  const env: Record<string, string> = {};
  for (const line of block![1]!.split('\n')) {
    const m = /^ {2}([A-Z][A-Z0-9_]*): (.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}

describe('ops files', () => {
  it('alerts and the dashboard query only metrics keyflow exports', () => {
    const alerts = metricsIn(read('infra/prometheus/alerts.yml'));
    const dashboard = metricsIn(read('infra/grafana/dashboards/keyflow.json'));
    expect(alerts.length).toBeGreaterThan(5);
    for (const name of [...alerts, ...dashboard]) {
      expect(exported.has(name) || DEFAULT_METRIC.test(name), `${name} is not a keyflow metric`).toBe(true);
    }
    // The operators' alerts are all there.
    const rules = read('infra/prometheus/alerts.yml');
    for (const alert of [
      'KeyflowConsumerLagHigh',
      'KeyflowApiErrorRateHigh',
      'KeyflowDeadLettersGrowing',
      'KeyflowEndToEndLatencyHigh',
      'KeyflowProcessorDown',
    ]) {
      expect(rules).toContain(`alert: ${alert}`);
    }
  });

  it('the compose file sets only configuration variables keyflow reads, with values it accepts', () => {
    const known = new Set(describeConfig().map((d) => d.name));
    const compose = read('docker-compose.yml');
    const set = new Set<string>();
    for (const m of compose.matchAll(/^\s+((?:KEYFLOW|KAFKA|REDIS|NATS|DATABASE|OTEL)_[A-Z0-9_]*|DATABASE_URL|REDIS_URL|NATS_URL):/gm)) {
      set.add(m[1]!);
    }
    // The broker container's own KAFKA_* settings are for the apache/kafka image, not for keyflow.
    const kafkaService = /^ {2}kafka:\n((?: {4}.*\n|\n)+)/m.exec(compose)![1]!;
    const brokerVars = new Set([...kafkaService.matchAll(/^ {6}(KAFKA_[A-Z0-9_]+):/gm)].map((m) => m[1]!));
    for (const name of set) {
      if (brokerVars.has(name) && !known.has(name)) continue;
      expect(known.has(name), `${name} is not a keyflow setting`).toBe(true);
    }
    const env = composeKeyflowEnv();
    for (const required of ['KAFKA_BROKERS', 'REDIS_URL', 'NATS_URL', 'DATABASE_URL', 'OTEL_EXPORTER_OTLP_ENDPOINT']) {
      expect(env[required], required).toBeTruthy();
    }
    const config = loadConfig({ ...env, KAFKA_CLIENT_ID: 'keyflow-gateway-1', KEYFLOW_NODE_ID: 'gateway-1' });
    expect(config.mode).toBe('distributed');
    expect(config.KEYFLOW_PORT).toBe(4000);
  });

  it('Prometheus scrapes every keyflow node of the compose file on KEYFLOW_PORT', () => {
    const compose = read('docker-compose.yml');
    const nodes = [...compose.matchAll(/^ {2}([a-z0-9-]+):\n {4}<<: \*keyflow-node/gm)].map((m) => m[1]!);
    expect(nodes).toEqual(['gateway', 'processor-1', 'processor-2']);
    const prom = read('infra/prometheus/prometheus.yml');
    for (const node of nodes) expect(prom).toContain(`"${node}:4000"`);
  });

  it('the dashboard is valid JSON with unique panel ids on the provisioned datasource', () => {
    const uid = /uid: (\S+)/.exec(read('infra/grafana/provisioning/datasources/prometheus.yml'))![1]!;
    const dash = JSON.parse(read('infra/grafana/dashboards/keyflow.json')) as {
      uid: string;
      panels: { id: number; type: string; datasource?: { uid: string }; targets?: { expr: string }[] }[];
    };
    expect(dash.uid).toBe('keyflow-overview');
    const ids = dash.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    const dataPanels = dash.panels.filter((p) => p.type !== 'row');
    expect(dataPanels.length).toBeGreaterThan(10);
    for (const p of dataPanels) {
      expect(p.datasource?.uid).toBe(uid);
      expect(p.targets?.length).toBeGreaterThan(0);
    }
  });
});
