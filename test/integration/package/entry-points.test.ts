import { execFile } from 'node:child_process';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildPackage } from '../../helpers/built-package.js';

/**
 * The package's entry points as built: each ES module entry re-exports its CommonJS entry, so `import`
 * and `require` see the same names and the same objects (one WarrenError class: `instanceof` holds across
 * module systems), and the code is in the package once.
 */

let built: Awaited<ReturnType<typeof buildPackage>>;

beforeAll(async () => {
  built = await buildPackage();
}, 60_000);

afterAll(async () => {
  await built?.remove();
});

/** Runs an ES module script in a fresh node and returns what it printed as JSON. */
function runModule(source: string): Promise<unknown> {
  return new Promise((done, fail) => {
    execFile(process.execPath, ['--input-type=module', '-e', source], { timeout: 20_000 }, (err, stdout, stderr) => {
      if (err) fail(new Error(`node failed: ${stderr || err.message}`));
      else done(JSON.parse(stdout));
    });
  });
}

describe('entry points', () => {
  for (const entry of ['index', 'engine', 'otel']) {
    it(`${entry}: import and require give the same names and the same objects`, async () => {
      const esm = pathToFileURL(join(built.dir, `${entry}.js`)).href;
      const cjs = join(built.dir, `${entry}.cjs`);
      const report = (await runModule(`
        import { createRequire } from 'node:module';
        const imported = await import(${JSON.stringify(esm)});
        const required = createRequire(import.meta.url)(${JSON.stringify(cjs)});
        const names = (o) => Object.keys(o).filter((k) => k !== 'default' && k !== '__esModule').sort();
        const differ = names(required).filter((k) => imported[k] !== required[k]);
        console.log(JSON.stringify({ imported: names(imported), required: names(required), differ }));
      `)) as { imported: string[]; required: string[]; differ: string[] };
      expect(report.required.length).toBeGreaterThan(2);
      expect(report.imported).toEqual(report.required);
      expect(report.differ).toEqual([]);
    });
  }

  it('an error thrown by code loaded through require is instanceof the imported WarrenError', async () => {
    const report = (await runModule(`
      import { createRequire } from 'node:module';
      const { WarrenError, ConfigValidationError } = await import(${JSON.stringify(pathToFileURL(join(built.dir, 'index.js')).href)});
      const { validateConfig } = createRequire(import.meta.url)(${JSON.stringify(join(built.dir, 'index.cjs'))});
      let err;
      try { validateConfig('not a config'); } catch (e) { err = e; }
      console.log(JSON.stringify({ warren: err instanceof WarrenError, config: err instanceof ConfigValidationError }));
    `)) as { warren: boolean; config: boolean };
    expect(report).toEqual({ warren: true, config: true });
  });

  it('carries each module once: no ES module copy of the code beside the CommonJS one', async () => {
    const files = await readdir(built.dir);
    const esm = files.filter((f) => f.endsWith('.js'));
    expect(esm.sort()).toEqual(['engine.js', 'index.js', 'otel.js']);
    for (const f of esm) {
      expect((await stat(join(built.dir, f))).size).toBeLessThan(2048);
      expect(await readFile(join(built.dir, f), 'utf8')).toMatch(/^export \{ [\w$, ]+ \} from '\.\/\w+\.cjs';$/m);
    }
  });
});
