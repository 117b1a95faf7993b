// Builds the package (npm run build) unless dist/ is newer than everything it is built from.
// Run under `flock` by built.ts, so that test files starting at once build it only once.
import { execFileSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const root = process.cwd();
const newest = (path) => {
  const s = statSync(path);
  if (!s.isDirectory()) return s.mtimeMs;
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))));
};
const built = ['cli.cjs', 'index.js', 'index.cjs', 'sync-worker.cjs'].map((f) => {
  try {
    return statSync(join(root, 'dist', f)).mtimeMs;
  } catch {
    return 0;
  }
});
const sources = Math.max(
  newest(join(root, 'src')),
  newest(join(root, 'tsup.config.ts')),
  newest(join(root, 'scripts', 'esm-wrappers.mjs')),
  newest(join(root, 'package.json')),
);
if (Math.min(...built) <= sources) {
  execFileSync('npm', ['run', 'build'], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
}
