import { defineConfig } from 'tsup';

// Two builds. The library: ESM + CJS + .d.ts, with three entry points: `warren` (index), `warren/engine`
// and `warren/otel` (which imports `@opentelemetry/api`, an optional peer dependency, kept external).
// The programs that use it (the `warren` CLI, the SyncRabbitMQ worker thread): ESM only, in the same ESM
// build with code splitting, so they import the library's own chunks instead of each carrying a copy.
// The CJS build is split too, so `warren` and `warren/engine` share one copy of the engine (one
// `Connection` class, one set of error classes). The CJS library finds the ESM worker file next to
// itself (sync-worker.js comes first in its search), so no CJS copy of the worker or CLI exists.
// `npm run build` empties dist/ first (the two builds run at once: neither may clean).
// No source maps in the package: they would triple its size for sources it does not ship.
const common = {
  target: 'node20',
  platform: 'node',
  sourcemap: false,
  treeshake: true,
} as const;

const library = { index: 'src/index.ts', engine: 'src/engine.ts', otel: 'src/otel/index.ts' };

export default defineConfig([
  {
    ...common,
    entry: { ...library, 'sync-worker': 'src/sync/worker.ts', cli: 'src/cli/main.ts' },
    format: ['esm'],
    splitting: true,
    dts: { entry: library },
  },
  {
    ...common,
    entry: library,
    format: ['cjs'],
    // import.meta.url in the CJS build (SyncRabbitMQ finds its worker file next to itself).
    shims: true,
    splitting: true,
    dts: { entry: library },
  },
]);
