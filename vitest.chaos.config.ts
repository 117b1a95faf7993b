import { defineConfig } from 'vitest/config';

// Chaos tests affect the whole broker (close connections, stop the app, set alarms): one file at a
// time, one test at a time, each restoring the broker in a finally.
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    sequence: { concurrent: false },
    pool: 'forks',
    poolOptions: { forks: { singleFork: true } },
    globalSetup: ['test/helpers/global-setup.ts'],
  },
});
