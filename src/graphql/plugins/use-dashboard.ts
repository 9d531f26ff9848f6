/**
 * The live dashboard page, served by the gateway from the package: `GET /dashboard/` and its
 * assets, built from `web/dashboard/` into `web/dist/dashboard/` by `npm run build:web` (run by
 * `npm install` / `npm ci` through `prepare`, and by `npm run build`). Every asset comes from
 * this server: the page is sent with a Content-Security-Policy that allows no other origin.
 * `GET /` redirects to it. The page itself uses only the public GraphQL API (queries over HTTP,
 * subscriptions over graphql-ws), with the bearer token the user gives it.
 */
import { readdir, readFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Plugin } from 'graphql-yoga';

export interface DashboardOptions {
  /** Directory of the built page. @default web/dist/dashboard of the package */
  dir?: string;
  /** @default '/dashboard' */
  path?: string;
  /** Told once when the page is not built (the route then answers 503 saying so). */
  onMissing?: (dir: string) => void;
}

/** The built page's directory inside the package. */
export const DASHBOARD_DIST = fileURLToPath(new URL('../../../web/dist/dashboard/', import.meta.url));

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.map': 'application/json',
};

export const DASHBOARD_CSP = "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

export function useDashboard(options: DashboardOptions = {}): Plugin {
  const dir = options.dir ?? DASHBOARD_DIST;
  const base = options.path ?? '/dashboard';
  /** The built files, read once (a few KiB). */
  let files: Promise<Map<string, string> | null> | null = null;
  const load = () =>
    (files ??= (async () => {
      try {
        const names = await readdir(dir);
        const out = new Map<string, string>();
        for (const n of names) if (TYPES[extname(n)]) out.set(n, await readFile(join(dir, n), 'utf8'));
        if (!out.has('index.html')) throw new Error('no index.html');
        return out;
      } catch {
        options.onMissing?.(dir);
        return null;
      }
    })());
  return {
    async onRequest({ request, url, endResponse, fetchAPI }) {
      const path = url.pathname;
      if (path === '/' && request.method === 'GET') {
        endResponse(new fetchAPI.Response(null, { status: 302, headers: { location: `${base}/` } }));
        return;
      }
      if (path !== base && !path.startsWith(`${base}/`)) return;
      if (request.method !== 'GET' && request.method !== 'HEAD') {
        endResponse(new fetchAPI.Response(null, { status: 405, headers: { allow: 'GET, HEAD' } }));
        return;
      }
      if (path === base) {
        endResponse(new fetchAPI.Response(null, { status: 301, headers: { location: `${base}/` } }));
        return;
      }
      const built = await load();
      if (built === null) {
        endResponse(new fetchAPI.Response('the dashboard is not built: run npm run build:web', { status: 503, headers: { 'content-type': 'text/plain' } }));
        return;
      }
      const name = path.slice(base.length + 1) || 'index.html';
      const body = built.get(name);
      if (body === undefined) {
        endResponse(new fetchAPI.Response('not found', { status: 404, headers: { 'content-type': 'text/plain' } }));
        return;
      }
      endResponse(
        new fetchAPI.Response(request.method === 'HEAD' ? null : body, {
          status: 200,
          headers: {
            'content-type': TYPES[extname(name)]!,
            'content-security-policy': DASHBOARD_CSP,
            'x-content-type-options': 'nosniff',
            'cache-control': name === 'index.html' ? 'no-cache' : 'public, max-age=300',
          },
        }),
      );
    },
  };
}
