import { defineConfig } from 'tsup';
import { LIBRARY as library } from './scripts/esm-wrappers.mjs';

// One build of the code, in CommonJS: the three library entry points (`warren`, `warren/engine`,
// `warren/otel`, which imports the optional peer `@opentelemetry/api`, kept external) and the programs
// that use them (the `warren` CLI, the SyncRabbitMQ worker thread), split so that they all share one copy
// of each module. The ES module entry points are thin wrappers written afterwards by
// scripts/esm-wrappers.mjs (`export { ... } from './index.cjs'`): an application that both imports and
// requires warren gets the same classes either way (one `WarrenError`, so `instanceof` holds across
// them), and the package carries the code once, not twice. The type declarations are likewise written
// once (.d.cts); each .d.ts re-exports its .d.cts.
// `npm run build` empties dist/ first. No source maps in the package: they would triple its size for
// sources it does not ship.

export default defineConfig({
  target: 'node20',
  platform: 'node',
  sourcemap: false,
  treeshake: true,
  entry: { ...library, 'sync-worker': 'src/sync/worker.ts', cli: 'src/cli/main.ts' },
  format: ['cjs'],
  // import.meta.url in CommonJS: SyncRabbitMQ finds its worker file next to itself, the CLI knows its path.
  shims: true,
  splitting: true,
  dts: { entry: library },
});
