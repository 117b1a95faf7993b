import { defineConfig } from 'vitest/config';

// Unit, hostile (fake server) and integration (real broker) tests run in parallel: each integration
// test uses its own uniquely named queues and exchanges. Chaos tests, which stop the broker or set
// alarms, run afterwards and one at a time (vitest.chaos.config.ts).
export default defineConfig({
  test: {
    include: [
      'test/unit/**/*.test.ts',
      'test/hostile/**/*.test.ts',
      'test/integration/**/*.test.ts',
      'test/examples/**/*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    globalSetup: ['test/helpers/global-setup.ts'],
    reporters: ['default'],
  },
});
