import { defineConfig } from 'vitest/config';

export default defineConfig({
  // graphql 16 ships CJS (main) and ESM (module) builds without an exports map. Node, and so every
  // dependency vitest leaves to Node (Pothos, graphql-yoga, graphql-ws), loads the CJS build; vite
  // would hand our sources the ESM one, and two graphql instances cannot share a schema.
  resolve: { alias: [{ find: /^graphql$/, replacement: 'graphql/index.js' }] },
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
