/**
 * Plain HTTP routes for operators beside /graphql: `GET /health` (the health JSON; 200 when
 * status is ok, else 503), `GET /ready` (200 only when every component is connected, else 503),
 * `GET /metrics` (Prometheus text).
 */
import type { Plugin } from 'graphql-yoga';
import type { Registry } from 'prom-client';
import { type Health, publicDetail } from '../services.ts';

export interface OpsRoutesOptions {
  health: () => Promise<Health>;
  registry: Registry;
  /** @default '/health' */
  healthPath?: string;
  /** @default '/ready' */
  readyPath?: string;
  /** @default '/metrics' */
  metricsPath?: string;
}

export function useOpsRoutes(options: OpsRoutesOptions): Plugin {
  const healthPath = options.healthPath ?? '/health';
  const readyPath = options.readyPath ?? '/ready';
  const metricsPath = options.metricsPath ?? '/metrics';
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      const path = url.pathname;
      if (path !== healthPath && path !== readyPath && path !== metricsPath) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
        return;
      }
      if (path === metricsPath) {
        const text = await options.registry.metrics();
        endResponse(new fetchAPI.Response(text, { status: 200, headers: { 'content-type': options.registry.contentType } }));
        return;
      }
      let health: Health;
      try {
        health = await options.health();
      } catch (e) {
        const detail = publicDetail(e instanceof Error ? e.message : String(e));
        health = { status: 'degraded', mode: 'embedded', uptimeSeconds: 0, components: [{ name: 'health', connected: false, detail }] };
      }
      const ok = path === healthPath ? health.status === 'ok' : health.components.every((c) => c.connected);
      const body = path === healthPath ? health : { ready: ok, components: health.components };
      endResponse(
        new fetchAPI.Response(JSON.stringify(body), {
          status: ok ? 200 : 503,
          headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
        }),
      );
    },
  };
}
