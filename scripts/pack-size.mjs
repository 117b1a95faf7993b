// Fails when the package npm would publish is larger than the budget (1 MB unpacked), naming the
// largest files. Run by `npm run check:package` after the build.
import { execFileSync } from 'node:child_process';

const LIMIT = 1_000_000;
const [pack] = JSON.parse(execFileSync('npm', ['pack', '--dry-run', '--json'], { encoding: 'utf8' }));
const largest = [...pack.files]
  .sort((a, b) => b.size - a.size)
  .slice(0, 5)
  .map((f) => `${f.path} ${(f.size / 1000).toFixed(1)} kB`)
  .join(', ');
const line = `npm pack: ${pack.entryCount} files, ${(pack.unpackedSize / 1000).toFixed(1)} kB unpacked (limit ${LIMIT / 1000} kB); largest: ${largest}`;
if (pack.unpackedSize > LIMIT) {
  console.error(`${line}: over the limit`);
  process.exit(1);
}
console.log(line);
