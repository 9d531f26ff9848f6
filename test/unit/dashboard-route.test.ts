/** The dashboard route: the built page from the package, under a CSP that allows no other origin; off unless enabled. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { useDashboard } from '../../src/graphql/plugins/use-dashboard.ts';
import { createHarness } from '../helpers/graphql-harness.ts';

describe('dashboard route', () => {
  it('serves the built page and its assets with a same-origin CSP; / redirects to it', async () => {
    const h = await createHarness({ dashboard: true });
    const page = await h.server.yoga.fetch('http://yoga/dashboard/');
    expect(page.status, 'web/dist/dashboard is built by npm install (prepare) / npm run build:web').toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    expect(page.headers.get('content-security-policy')).toContain("default-src 'self'");
    const html = await page.text();
    expect(html).toContain('src="main.js"');
    expect(html).not.toMatch(/https?:\/\//);
    const js = await h.server.yoga.fetch('http://yoga/dashboard/main.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(await js.text()).toContain('connectionParams');
    expect((await h.server.yoga.fetch('http://yoga/dashboard/../../package.json')).status).not.toBe(200);
    expect((await h.server.yoga.fetch('http://yoga/dashboard/nope.js')).status).toBe(404);
    const root = await h.server.yoga.fetch('http://yoga/', { redirect: 'manual' });
    expect(root.status).toBe(302);
    expect(root.headers.get('location')).toBe('/dashboard/');
    await h.close();
  });

  it('is off by default in the server (KEYFLOW_DASHBOARD turns it on in the app), and says so when not built', async () => {
    const h = await createHarness();
    expect((await h.server.yoga.fetch('http://yoga/dashboard/')).status).not.toBe(200);
    await h.close();
    const empty = await mkdtemp(join(tmpdir(), 'keyflow-dash-'));
    let missing = '';
    const h2 = await createHarness({ plugins: [useDashboard({ dir: empty, onMissing: (d) => (missing = d) })] });
    const r = await h2.server.yoga.fetch('http://yoga/dashboard/');
    expect(r.status).toBe(503);
    expect(await r.text()).toMatch(/not built/);
    expect(missing).toBe(empty);
    await h2.close();
    await rm(empty, { recursive: true, force: true });
  });
});
