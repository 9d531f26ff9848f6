/** Configuration: defaults, parsing, and a clear INVALID_CONFIG naming the variable for every bad value. */
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { KeyflowError } from '../../src/model/errors.ts';
import { configSchema, loadConfig } from '../../src/app/config.ts';

function invalid(env: Record<string, string>): KeyflowError {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(KeyflowError);
    return e as KeyflowError;
  }
  throw new Error(`accepted ${JSON.stringify(env)}`);
}

describe('configuration', () => {
  it('KEYFLOW_SINKS picks the sinks besides the results store; none is none; an unknown one is INVALID_CONFIG', () => {
    expect([...loadConfig({}).KEYFLOW_SINKS]).toEqual(['aggregated', 'data-lake']);
    expect([...loadConfig({ KEYFLOW_SINKS: 'none' }).KEYFLOW_SINKS]).toEqual([]);
    expect([...loadConfig({ KEYFLOW_SINKS: ' data-lake ' }).KEYFLOW_SINKS]).toEqual(['data-lake']);
    expect(() => loadConfig({ KEYFLOW_SINKS: 'aggregated,s3' })).toThrow(/KEYFLOW_SINKS/);
  });

  it('runs embedded with the documented defaults when nothing is set', () => {
    const c = loadConfig({});
    expect(c.mode).toBe('embedded');
    expect(c.KEYFLOW_PORT).toBe(4000);
    expect(c.KEYFLOW_DATA_DIR).toBe('./data');
    expect(c.KEYFLOW_LATE_POLICY).toBe('side-output');
    expect(c.KEYFLOW_MAX_OUT_OF_ORDER_MS).toBe(10_000);
    expect(c.KEYFLOW_IDLE_TIMEOUT_MS).toBe(30_000);
    expect(c.KEYFLOW_RESULT_RETENTION).toBe(86_400_000);
    expect(c.KEYFLOW_CHECKPOINT_INTERVAL_MS).toBe(1000);
    expect(c.KEYFLOW_MAX_EVENT_BYTES).toBe(65_536);
    expect(c.KEYFLOW_MAX_BATCH).toBe(1000);
    expect(c.KEYFLOW_WINDOWS).toBe('tumbling-1m,tumbling-5m,tumbling-15m,sliding-5m-1m,session-30m');
  });

  it('KEYFLOW_MAX_FUTURE_SKEW_MS: 5 minutes by default, a duration or ms, never negative', () => {
    expect(loadConfig({}).KEYFLOW_MAX_FUTURE_SKEW_MS).toBe(300_000);
    expect(loadConfig({ KEYFLOW_MAX_FUTURE_SKEW_MS: '10m' }).KEYFLOW_MAX_FUTURE_SKEW_MS).toBe(600_000);
    expect(loadConfig({ KEYFLOW_MAX_FUTURE_SKEW_MS: '0' }).KEYFLOW_MAX_FUTURE_SKEW_MS).toBe(0);
    for (const bad of ['-1', 'soon', '1.5h']) expect(invalid({ KEYFLOW_MAX_FUTURE_SKEW_MS: bad }).message).toContain('KEYFLOW_MAX_FUTURE_SKEW_MS');
  });

  it('engine bounds: uncommitted records and timers per round have the engine defaults, take numbers, refuse 0', () => {
    const c = loadConfig({});
    expect(c.KEYFLOW_MAX_UNCOMMITTED_RECORDS).toBe(200_000);
    expect(c.KEYFLOW_MAX_TIMERS_PER_ROUND).toBe(20_000);
    const set = loadConfig({ KEYFLOW_MAX_UNCOMMITTED_RECORDS: '5000', KEYFLOW_MAX_TIMERS_PER_ROUND: '64' });
    expect(set.KEYFLOW_MAX_UNCOMMITTED_RECORDS).toBe(5000);
    expect(set.KEYFLOW_MAX_TIMERS_PER_ROUND).toBe(64);
    expect(invalid({ KEYFLOW_MAX_TIMERS_PER_ROUND: '0' }).message).toMatch(/KEYFLOW_MAX_TIMERS_PER_ROUND/);
    expect(invalid({ KEYFLOW_MAX_UNCOMMITTED_RECORDS: 'lots' }).message).toMatch(/KEYFLOW_MAX_UNCOMMITTED_RECORDS/);
  });

  it('parses durations, booleans and numbers from strings', () => {
    const c = loadConfig({ KEYFLOW_RESULT_RETENTION: '2h', KEYFLOW_IDLE_TIMEOUT_MS: '1500ms', KEYFLOW_DYNAMIC_TOPICS: 'no', KEYFLOW_MAX_BATCH: '500' });
    expect(c.KEYFLOW_RESULT_RETENTION).toBe(7_200_000);
    expect(c.KEYFLOW_IDLE_TIMEOUT_MS).toBe(1500);
    expect(c.KEYFLOW_DYNAMIC_TOPICS).toBe(false);
    expect(c.KEYFLOW_MAX_BATCH).toBe(500);
  });

  it.each([
    [{ KEYFLOW_PORT: 'abc' }, 'KEYFLOW_PORT'],
    [{ KEYFLOW_PORT: '70000' }, 'KEYFLOW_PORT'],
    [{ KEYFLOW_RESULT_RETENTION: '7 weeks' }, 'KEYFLOW_RESULT_RETENTION'],
    [{ KEYFLOW_RESULT_RETENTION: '400d' }, 'KEYFLOW_RESULT_RETENTION'],
    [{ KEYFLOW_IDLE_TIMEOUT_MS: '1.5s' }, 'KEYFLOW_IDLE_TIMEOUT_MS'],
    [{ KEYFLOW_LATE_POLICY: 'ignore' }, 'KEYFLOW_LATE_POLICY'],
    [{ KEYFLOW_MAX_BATCH: '0' }, 'KEYFLOW_MAX_BATCH'],
    [{ KEYFLOW_DYNAMIC_TOPICS: 'maybe' }, 'KEYFLOW_DYNAMIC_TOPICS'],
    // removed: it accepted events no processor ever read; types are registered instead
    [{ KEYFLOW_DYNAMIC_TOPICS: 'true' }, 'registerEventType'],
    [{ KEYFLOW_EVENT_TYPES_POLL_MS: '1' }, 'KEYFLOW_EVENT_TYPES_POLL_MS'],
    [{ KAFKA_BROKERS: '127.0.0.1:9092' }, 'REDIS_URL'],
    [{ KAFKA_BROKERS: 'k:9092', REDIS_URL: 'redis://r', NATS_URL: 'nats://n', KAFKA_SASL_MECHANISM: 'plain' }, 'KAFKA_SASL_USERNAME'],
  ])('rejects %j naming %s', (env, variable) => {
    const e = invalid(env as Record<string, string>);
    expect(e.code).toBe('INVALID_CONFIG');
    expect(e.message).toContain(variable);
  });

  it('takes values from KEYFLOW_CONFIG_FILE, with the environment winning', () => {
    const file = `${process.env.TMPDIR ?? '/tmp'}/keyflow-config-${process.pid}.json`;
    writeFileSync(file, JSON.stringify({ KEYFLOW_PORT: 5000, KEYFLOW_MAX_BATCH: 10 }));
    const c = loadConfig({ KEYFLOW_CONFIG_FILE: file, KEYFLOW_MAX_BATCH: '20' });
    expect(c.KEYFLOW_PORT).toBe(5000);
    expect(c.KEYFLOW_MAX_BATCH).toBe(20);
    expect(invalid({ KEYFLOW_CONFIG_FILE: `${file}.missing` }).message).toContain('KEYFLOW_CONFIG_FILE');
  });

  it('JWT settings follow RFC 8725: an algorithm allow-list without none, issuer and audience required, a long HS256 secret', () => {
    expect(loadConfig({}).KEYFLOW_JWT_ALGORITHMS).toEqual(['RS256', 'ES256']);
    expect(invalid({ KEYFLOW_JWT_ALGORITHMS: 'RS256,none' }).message).toMatch(/KEYFLOW_JWT_ALGORITHMS/);
    expect(invalid({ KEYFLOW_JWT_JWKS_FILE: '/tmp/jwks.json' }).message).toMatch(/KEYFLOW_JWT_ISSUER/);
    expect(invalid({ KEYFLOW_JWT_JWKS_FILE: '/tmp/jwks.json', KEYFLOW_JWT_ISSUER: 'https://id' }).message).toMatch(/KEYFLOW_JWT_AUDIENCE/);
    const hs = { KEYFLOW_JWT_ISSUER: 'https://id', KEYFLOW_JWT_AUDIENCE: 'keyflow', KEYFLOW_JWT_ALGORITHMS: 'HS256' };
    expect(invalid({ ...hs, KEYFLOW_JWT_SECRET: 'short' }).message).toMatch(/KEYFLOW_JWT_SECRET: an HS256 secret needs at least 32 bytes/);
    expect(invalid({ ...hs, KEYFLOW_JWT_ALGORITHMS: 'RS256', KEYFLOW_JWT_SECRET: 'x'.repeat(32) }).message).toMatch(/add HS256/);
    expect(loadConfig({ ...hs, KEYFLOW_JWT_SECRET: 'x'.repeat(32) }).KEYFLOW_JWT_SECRET).toBe('x'.repeat(32));
  });

  it('access limits have defaults and bounds; CORS origins are a list', () => {
    const c = loadConfig({ KEYFLOW_CORS_ORIGINS: 'https://a.example/, https://b.example' });
    expect(c.KEYFLOW_CORS_ORIGINS).toEqual(['https://a.example', 'https://b.example']);
    expect(loadConfig({}).KEYFLOW_CORS_ORIGINS).toEqual([]);
    expect(loadConfig({}).KEYFLOW_WS_MAX_PAYLOAD_BYTES).toBe(4 * 1024 * 1024);
    expect(invalid({ KEYFLOW_WS_MAX_SUBSCRIPTIONS: '0' }).message).toMatch(/KEYFLOW_WS_MAX_SUBSCRIPTIONS/);
    expect(invalid({ KEYFLOW_RATE_LIMIT_WINDOW_MS: '10ms' }).message).toMatch(/KEYFLOW_RATE_LIMIT_WINDOW_MS/);
  });

  it('keeps rollups across keys by default in embedded mode only', () => {
    const distributed = { KAFKA_BROKERS: '127.0.0.1:9092', REDIS_URL: 'redis://127.0.0.1:6379', NATS_URL: 'nats://127.0.0.1:4222' };
    expect(loadConfig({}).KEYFLOW_ROLLUPS).toBe(true);
    expect(loadConfig(distributed).KEYFLOW_ROLLUPS).toBe(false);
    expect(loadConfig({ ...distributed, KEYFLOW_ROLLUPS: 'true' }).KEYFLOW_ROLLUPS).toBe(true);
    expect(loadConfig({ KEYFLOW_ROLLUPS: 'false' }).KEYFLOW_ROLLUPS).toBe(false);
  });

  it('documents every setting in the README', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    for (const name of Object.keys(configSchema.shape)) expect(readme, name).toContain(`\`${name}\``);
  });
});
