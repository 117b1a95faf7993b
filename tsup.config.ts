import { defineConfig } from 'tsup';

// Two builds. The library: ESM + CJS + .d.ts. The programs that use it (the `warren` CLI, the
// SyncRabbitMQ worker thread): ESM only, in the same ESM build with code splitting, so they import the
// library's own chunk instead of each carrying a copy of it. The CJS library finds the ESM worker file
// next to itself (sync-worker.js comes first in its search), so no CJS copy of the worker or CLI exists.
// `npm run build` empties dist/ first (the two builds run at once: neither may clean).
// No source maps in the package: they would triple its size for sources it does not ship.
const common = {
  target: 'node20',
  platform: 'node',
  sourcemap: false,
  treeshake: true,
} as const;

export default defineConfig([
  {
    ...common,
    entry: { index: 'src/index.ts', 'sync-worker': 'src/sync/worker.ts', cli: 'src/cli/main.ts' },
    format: ['esm'],
    splitting: true,
    dts: { entry: { index: 'src/index.ts' } },
  },
  {
    ...common,
    entry: { index: 'src/index.ts' },
    format: ['cjs'],
    // import.meta.url in the CJS build (SyncRabbitMQ finds its worker file next to itself).
    shims: true,
    splitting: false,
    dts: { entry: { index: 'src/index.ts' } },
  },
]);
