import { createRequire } from 'node:module';
import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

const require = createRequire(import.meta.url);

export default defineConfig({
  resolve: {
    // graphql 16 ships CJS (`main`) and ESM (`module`) builds. Node loads the CJS one for every
    // package (it ignores `module`); Vite would pick the ESM one for test files, and two copies of
    // graphql refuse each other's schemas. Point Vite at the one Node uses.
    alias: [{ find: /^graphql$/, replacement: require.resolve('graphql') }],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Every file gets its own database and Redis prefix, so files run in parallel.
    fileParallelism: true,
    pool: 'forks',
    // Most of a file's time is waiting (the database, Redis, real timers, its own servers), so
    // two files run at once even on two cores, where vitest's default (cores - 1) runs one at a
    // time. More cores: `npx vitest run --maxWorkers=N`.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
