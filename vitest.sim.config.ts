import { defineConfig } from 'vitest/config';

// The seeded fault simulation (test/sim): one process, files one after another, so runs do not compete
// for the event loop (less scheduling noise, more reproducible seeds). `--expose-gc` for the memory check.
export default defineConfig({
  test: {
    include: ['test/sim/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 60_000,
    fileParallelism: false,
    pool: 'forks',
    poolOptions: { forks: { singleFork: true, execArgv: ['--expose-gc'] } },
    reporters: ['default'],
  },
});
