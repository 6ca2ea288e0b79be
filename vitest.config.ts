import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Every file gets its own database and Redis prefix, so files run in parallel.
    fileParallelism: true,
    pool: 'forks',
    testTimeout: 20_000,
    hookTimeout: 30_000,
  },
});
