import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Options } from 'tsup';
import { writeEsmWrappers } from '../../scripts/esm-wrappers.mjs';
import config from '../../tsup.config.js';

/**
 * Builds the package from the current source with the project's own tsup config (without type
 * declarations, which the tests do not need) into a fresh temporary directory, and returns it. The tests
 * run the build as users get it, yet never touch `dist/` (a stale one, or one another run is using) and
 * work on a fresh clone.
 */
export async function buildPackage(): Promise<{ dir: string; remove: () => Promise<void> }> {
  // Inside the project's node_modules, so that the build finds what the package would find installed
  // (the optional peer @opentelemetry/api of warren/otel).
  const cache = join(resolve(dirname(fileURLToPath(import.meta.url)), '../..'), 'node_modules', '.cache');
  await mkdir(cache, { recursive: true });
  const dir = await mkdtemp(join(cache, 'warren-built-'));
  const options = config as Options;
  await build({ ...options, outDir: dir, dts: false, sourcemap: false, silent: true, config: false, clean: false });
  // The package is `"type": "module"`: its .js files are ES modules only inside such a package.
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'warren-built', type: 'module' }));
  // The ES module entry points, as `npm run build` writes them.
  writeEsmWrappers(dir);
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
