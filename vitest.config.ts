import { defineConfig } from 'vitest/config';

const integration = 'test/integration/**/*.test.ts';
/** Tests of what only RabbitMQ 4 does (it refuses what 3.10 allows): run against the 4.x broker only. */
const only4 = 'test/integration/rabbitmq4/**/*.test.ts';

// Unit and hostile (fake server) tests run once; the integration tests run twice, against the machine's
// RabbitMQ 3.10 (5672) and against RabbitMQ 4 (5690, scripts/broker4.sh, which the global setup starts
// when it is not up). All in parallel: each integration test uses its own uniquely named queues and
// exchanges. Chaos tests, which stop the broker or set alarms, run afterwards, one at a time, on 3.10
// only (vitest.chaos.config.ts).
export default defineConfig({
  test: {
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    poolOptions: { forks: { maxForks: 2, minForks: 1 } },
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts', 'test/hostile/**/*.test.ts'] },
      },
      {
        extends: true,
        test: {
          name: 'rabbitmq-3.10',
          // The examples are run as a user would, against the default broker (localhost:5672).
          include: [integration, 'test/examples/**/*.test.ts'],
          exclude: [only4],
          env: { WARREN_TEST_BROKER: '3' },
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'rabbitmq-4',
          include: [integration],
          env: { WARREN_TEST_BROKER: '4' },
          globalSetup: ['test/helpers/global-setup.ts'],
        },
      },
    ],
  },
});
