// Builds the dashboard (web/dashboard) into web/dist/dashboard with esbuild: one ES module bundle
// (TypeScript + graphql-ws's client), the stylesheet and the page. No network, no CDN: everything
// the page loads is in web/dist/dashboard, which the gateway serves (src/graphql/plugins/use-dashboard.ts).
// Run by `npm run build:web`, `npm run build` and `prepare` (npm install / npm ci).
import { copyFile, mkdir, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'dashboard');
const out = join(here, 'dist', 'dashboard');

let esbuild;
try {
  esbuild = await import('esbuild');
} catch {
  // A production install without devDependencies: keep whatever was built before.
  console.warn('[build:web] esbuild is not installed (devDependency): the dashboard was not built');
  process.exit(0);
}

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
await esbuild.build({
  entryPoints: [join(src, 'main.ts')],
  outfile: join(out, 'main.js'),
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: ['es2022'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
await copyFile(join(src, 'index.html'), join(out, 'index.html'));
await copyFile(join(src, 'style.css'), join(out, 'style.css'));
console.log(`[build:web] dashboard built into ${out}`);
