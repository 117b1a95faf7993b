import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type Options } from 'tsup';
import config from '../../../tsup.config.js';

/**
 * Builds the package from the current source with the project's own tsup config (without type
 * declarations, which the tests do not need) into a fresh temporary directory, and returns it. The
 * tests run the build as users get it, yet never touch `dist/` (a stale one, or one another run is using)
 * and work on a fresh clone.
 */
export async function buildPackage(): Promise<{ dir: string; remove: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'warren-built-'));
  // The config is a list of builds (the library's ESM + CJS, the worker and CLI entries): build them all.
  const builds = (Array.isArray(config) ? config : [config]) as Options[];
  for (const options of builds) {
    await build({ ...options, outDir: dir, dts: false, sourcemap: false, silent: true, config: false, clean: false });
  }
  // The package is `"type": "module"`: its .js files are ES modules only inside such a package.
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'warren-built', type: 'module' }));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}
