// Writes the ES module entry points of the package next to its CommonJS build (see tsup.config.ts):
// for each library entry, `<name>.js` re-exports by name what `<name>.cjs` exports (the names are read
// from the built module itself, so the two can never disagree), and `<name>.d.ts` re-exports the
// declarations of `<name>.d.cts`. Run by `npm run build`, and by the tests that build the package.
import { existsSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

/** The library's entry points and their sources: tsup.config.ts builds them, the wrappers below front them. */
export const LIBRARY = { index: 'src/index.ts', engine: 'src/engine.ts', otel: 'src/otel/index.ts' };

/** Writes the wrappers into `dir` (an absolute or cwd-relative path holding the CommonJS build). */
export function writeEsmWrappers(dir) {
  const require = createRequire(pathToFileURL(join(resolve(dir), 'package.json')));
  for (const name of Object.keys(LIBRARY)) {
    const cjs = `./${name}.cjs`;
    const names = Object.keys(require(cjs)).filter((key) => key !== 'default' && key !== '__esModule');
    const header = `// The ES module entry point of ${name === 'index' ? 'warren' : `warren/${name}`}: the code is in ${name}.cjs (one copy for import and require).\n`;
    writeFileSync(join(dir, `${name}.js`), `${header}export { ${names.join(', ')} } from '${cjs}';\n`);
    if (existsSync(join(dir, `${name}.d.cts`))) {
      writeFileSync(join(dir, `${name}.d.ts`), `${header}export * from '${cjs}';\n`);
    }
  }
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(new URL(import.meta.url).pathname)) {
  writeEsmWrappers(process.argv[2] ?? 'dist');
}
