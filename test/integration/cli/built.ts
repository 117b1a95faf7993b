/**
 * The built `warren` binary, for tests that run it as a user would (`node dist/cli.cjs ...`). The build
 * happens once, under a lock, and only when dist/ is older than the sources.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const cliPath = join(root, 'dist', 'cli.cjs');

/** Builds dist/ if it is stale (call in beforeAll; takes ~15 s when it builds). */
export function ensureBuilt(): void {
  execFileSync(
    'flock',
    ['-x', join(root, 'node_modules', '.warren-build.lock'), process.execPath, 'test/integration/cli/build-once.mjs'],
    { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], timeout: 120_000 },
  );
}

/** The outcome of one run of a program. */
export interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs `node dist/cli.cjs ...args` with `stdin` piped in; never rejects. */
export function warren(args: string[], options: { stdin?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return runProgram(process.execPath, [cliPath, ...args], options);
}

/** Runs a program with `stdin` piped in (closed when not given); never rejects. */
export function runProgram(
  file: string,
  args: string[],
  options: { stdin?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<Ran> {
  const started = Date.now();
  return new Promise((done) => {
    const child = execFile(
      file,
      args,
      { cwd: root, env: options.env ?? process.env, timeout: options.timeoutMs ?? 60_000, maxBuffer: 16 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        done({ code, stdout, stderr, ms: Date.now() - started });
      },
    );
    child.stdin?.end(options.stdin ?? '');
  });
}

/** Starts `node dist/cli.cjs ...args` and hands back the child, for tests that signal it. */
export function spawnWarren(args: string[]) {
  return spawn(process.execPath, [cliPath, ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
}

/** Runs a command line inside a pseudo-terminal (util-linux `script`): stdin and stderr are a terminal. */
export function inTerminal(commandLine: string, timeoutMs = 30_000): Promise<Ran> {
  return runProgram('script', ['-qec', commandLine, '/dev/null'], { timeoutMs });
}
