import { defineConfig } from 'vitest/config';

// graphql 16 ships CJS (main) and ESM (module) builds without an exports map. Node, and so every
// dependency vitest leaves to Node (Pothos, graphql-yoga, graphql-ws), loads the CJS build; vite
// would hand our sources the ESM one, and two graphql instances cannot share a schema.
const resolve = { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] };

/**
 * Three layers, by what a test really uses:
 * - `unit`: no service, no spawned server (`npm run test:unit`). No global setup: it never starts
 *   Kafka. `test:unit` runs it with `--no-isolate` (files share a worker's module graph; importing
 *   src/ again per file was most of the run), so unit tests may not rely on module-level state:
 *   no vi.mock, env stubs or fake timers.
 * - `integration`: real Kafka, Redis, NATS or PostgreSQL, one adapter at a time.
 * - `e2e`: keyflow itself as child processes (embedded server, Deno, distributed cluster).
 * The last two share the global setup that provides a Kafka broker (`test/helpers/global-setup.ts`);
 * `npm run test:integration` runs both, `npm test` runs all three.
 */
export default defineConfig({
  resolve,
  test: {
    pool: 'forks',
    projects: [
      {
        resolve,
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
          hookTimeout: 30_000,
          pool: 'forks',
        },
      },
      {
        resolve,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        resolve,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
          pool: 'forks',
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
});
