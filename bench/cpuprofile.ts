/**
 * Summarizes V8 .cpuprofile files (from `BENCH_CPU_PROF=/tmp/prof npm run bench`): self time by area
 * (warren, a library, node internals, GC...) and the top functions by self time.
 *
 *   npx tsx bench/cpuprofile.ts [--top 25] [--all] <file.cpuprofile>...
 *
 * When `<file>.span.json` (written by bench/run.ts) exists, only samples inside the measured span count,
 * so process start-up, module loading and connection set-up are left out; `--all` counts everything.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { fileURLToPath } from 'node:url';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
}

interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const ROOT = fileURLToPath(new URL('..', import.meta.url));

/** Which part of the process a frame belongs to. */
function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (!url) return functionName.startsWith('(') ? functionName : '(native)';
  if (url.startsWith('node:')) return 'node internals';
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg) return pkg[1]!;
  if (url.includes('/src/')) return 'warren (src)';
  if (url.includes('/bench/')) return 'bench harness';
  return 'other';
}

function where(frame: CallFrame): string {
  let url = frame.url.replace('file://', '').replace(ROOT, '');
  url = url.replace(/.*node_modules\//, '');
  return url && frame.lineNumber > 0 ? `${url}:${frame.lineNumber + 1}` : url;
}

function summarize(file: string, top: number, all: boolean): string {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const spanFile = `${file}.span.json`;
  const span =
    !all && existsSync(spanFile)
      ? (JSON.parse(readFileSync(spanFile, 'utf8')) as { fromUs: number; toUs: number })
      : undefined;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const selfByFunction = new Map<string, { us: number; area: string }>();
  const selfByArea = new Map<string, number>();
  let t = profile.startTime;
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    // A sample stands for the time until the next one.
    const us = profile.timeDeltas[i + 1] ?? 0;
    if (span && (t < span.fromUs || t > span.toUs)) continue;
    const node = byId.get(profile.samples[i]!);
    if (!node) continue;
    const frame = node.callFrame;
    const area = areaOf(frame);
    const key = `${frame.functionName || '(anonymous)'}  ${where(frame)}`;
    const entry = selfByFunction.get(key) ?? { us: 0, area };
    entry.us += us;
    selfByFunction.set(key, entry);
    selfByArea.set(area, (selfByArea.get(area) ?? 0) + us);
    total += us;
  }
  const idle = selfByArea.get('(idle)') ?? 0;
  const busy = total - idle;
  const pct = (us: number) => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  const ms = (us: number) => `${(us / 1000).toFixed(1).padStart(8)} ms`;
  const lines = [
    `${basename(file)} — ${span ? 'measured span' : 'whole process'}: ${(total / 1000).toFixed(0)} ms, ` +
      `of which idle ${(idle / 1000).toFixed(0)} ms; percentages are of the ${(busy / 1000).toFixed(0)} ms on the main thread`,
    '',
    'self time by area:',
  ];
  for (const [area, us] of [...selfByArea].filter(([a]) => a !== '(idle)').sort((a, b) => b[1] - a[1])) {
    lines.push(`  ${ms(us)} ${pct(us)}  ${area}`);
  }
  lines.push('', `top ${top} functions by self time:`);
  const functions = [...selfByFunction].filter(([, e]) => e.area !== '(idle)').sort((a, b) => b[1].us - a[1].us);
  for (const [key, e] of functions.slice(0, top)) lines.push(`  ${ms(e.us)} ${pct(e.us)}  [${e.area}] ${key}`);
  return lines.join('\n');
}

const args = process.argv.slice(2);
let top = 25;
let all = false;
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--top') top = Number(args[++i]);
  else if (args[i] === '--all') all = true;
  else files.push(args[i]!);
}
if (files.length === 0) {
  process.stderr.write('usage: tsx bench/cpuprofile.ts [--top 25] [--all] <file.cpuprofile>...\n');
  process.exit(2);
}
process.stdout.write(`${files.map((f) => summarize(f, top, all)).join('\n\n')}\n`);
