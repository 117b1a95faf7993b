import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerUrl, uniqueName } from '../../helpers/broker.js';
import { buildPackage } from '../../helpers/built-package.js';

/**
 * SyncRabbitMQ's worker thread inherits the flags the process was started with. Each test starts a real
 * node process with some of them, which connects to the broker, publishes, reads the message back and
 * disconnects: it must print what it read and exit 0 by itself (the worker must not keep it alive).
 */

const root = resolve(__dirname, '../../..');
let built: Awaited<ReturnType<typeof buildPackage>>;
let preload: string;

beforeAll(async () => {
  built = await buildPackage();
  // A --require preload that runs in every thread (as instrumentation agents do).
  preload = join(built.dir, 'preload.cjs');
  await writeFile(preload, 'globalThis.__preloaded = (globalThis.__preloaded ?? 0) + 1;\n');
}, 60_000);

afterAll(async () => {
  await built?.remove();
});

/** The script's body: the same in every module system once SyncRabbitMQ is in scope. */
const BODY = `
const queue = process.env.WARREN_QUEUE;
const mq = new SyncRabbitMQ({ queues: [{ name: queue, exclusive: true }] }, { urls: process.env.WARREN_URL, callTimeoutMs: 15000 });
mq.connect();
mq.publishMessage(queue, { n: 42 });
const got = mq.getChannel().basicGet({ queue, noAck: true });
mq.disconnect();
console.log('read ' + got.body.toString());
`;

const esm = (from: string) => `import { SyncRabbitMQ } from ${JSON.stringify(pathToFileURL(from).href)};\n${BODY}`;
const cjs = (from: string) => `const { SyncRabbitMQ } = require(${JSON.stringify(from)});\n${BODY}`;

interface Run {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

function runNode(args: string[]): Promise<Run> {
  return new Promise((done) => {
    execFile(
      process.execPath,
      args,
      {
        cwd: root,
        // A hang is a failure: the child is killed and the test reports what it printed.
        timeout: 25_000,
        env: { ...process.env, WARREN_QUEUE: uniqueName('sync-flags'), WARREN_URL: brokerUrl(), NODE_OPTIONS: '' },
      },
      (err, stdout, stderr) => {
        const e = err as (Error & { code?: number | string; signal?: string }) | null;
        done({
          code: e ? (typeof e.code === 'number' ? e.code : null) : 0,
          signal: e?.signal ?? null,
          stdout,
          stderr,
        });
      },
    );
  });
}

function expectClean(run: Run): void {
  expect({ code: run.code, signal: run.signal, stderr: run.stderr, stdout: run.stdout }).toEqual({
    code: 0,
    signal: null,
    stderr: expect.not.stringMatching(/Error|error/) as unknown as string,
    stdout: 'read {"n":42}\n',
  });
}

describe('SyncRabbitMQ starts under the flags of its process (built package)', () => {
  it('ESM: node --input-type=module -e', async () => {
    expectClean(await runNode(['--input-type=module', '-e', esm(join(built.dir, 'index.js'))]));
  });

  it('ESM: node --input-type=module --eval, with an --import loader (tsx) and a --require preload', async () => {
    expectClean(
      await runNode([
        '--import',
        'tsx',
        '--require',
        preload,
        '--input-type=module',
        '--eval',
        esm(join(built.dir, 'index.js')),
      ]),
    );
  });

  it('CJS: node -e with require', async () => {
    expectClean(await runNode(['-e', cjs(join(built.dir, 'index.cjs'))]));
  });

  it('CJS: node --input-type=commonjs --experimental-vm-modules --require <preload> -e', async () => {
    const run = await runNode([
      '--input-type=commonjs',
      '--experimental-vm-modules',
      '--no-warnings',
      '--require',
      preload,
      '-e',
      cjs(join(built.dir, 'index.cjs')),
    ]);
    expectClean(run);
  });

  it('ESM: an ES-module default for string input (--experimental-default-type=module, where Node has it)', async () => {
    // Node 20.10–22 have the flag; where it is gone, `--input-type=module` is the same case.
    const flag = process.allowedNodeEnvironmentFlags.has('--experimental-default-type')
      ? '--experimental-default-type=module'
      : '--input-type=module';
    expectClean(await runNode([flag, '--no-warnings', '-e', esm(join(built.dir, 'index.js'))]));
  });

  it('node -p (print) with the CJS build', async () => {
    const run = await runNode(['-p', `${cjs(join(built.dir, 'index.cjs'))}; 'printed'`]);
    expect(run).toMatchObject({ code: 0, signal: null, stdout: 'read {"n":42}\nprinted\n' });
  });
});

describe('SyncRabbitMQ starts under the flags of its process (source, under tsx)', () => {
  it('node --import tsx --input-type=module -e importing src/index.ts', async () => {
    expectClean(await runNode(['--import', 'tsx', '--input-type=module', '-e', esm(join(root, 'src/index.ts'))]));
  });

  it('node --import tsx -e requiring src/index.ts', async () => {
    expectClean(await runNode(['--import', 'tsx', '-e', cjs(join(root, 'src/index.ts'))]));
  });

  it('a script file run by tsx (no eval flag)', async () => {
    const file = join(built.dir, 'script.ts');
    await writeFile(file, esm(join(root, 'src/index.ts')));
    expectClean(await runNode(['--import', 'tsx', file]));
  });
});

describe('SyncRabbitMQ whose worker cannot start', () => {
  it('a --require preload that throws in worker threads: the constructor throws ERR_SYNC_WORKER_START, nothing uncaught', async () => {
    const refuse = join(built.dir, 'refuse-workers.cjs');
    await writeFile(refuse, "if (!require('node:worker_threads').isMainThread) throw new Error('no workers here');\n");
    const script = `const { SyncRabbitMQ } = require(${JSON.stringify(join(built.dir, 'index.cjs'))});
let code;
try { new SyncRabbitMQ({}, { urls: process.env.WARREN_URL, callTimeoutMs: 2000 }); } catch (e) { code = e.code; }
setTimeout(() => console.log('caught ' + code + ', still running'), 300);`;
    const run = await runNode(['--require', refuse, '-e', script]);
    expect(run).toMatchObject({ code: 0, signal: null, stdout: 'caught ERR_SYNC_WORKER_START, still running\n' });
    expect(run.stderr).not.toContain('no workers here');
  });

  it('the worker module fails to load: the constructor throws at once, naming the loader error', async () => {
    // A loader hook, registered in worker threads only, that refuses the worker module.
    const hook = `export async function resolve(s, c, next) { if (s.includes('sync-worker')) throw new Error('sync-worker refused by a hook'); return next(s, c); }`;
    const refuse = join(built.dir, 'refuse-worker-module.mjs');
    await writeFile(
      refuse,
      `import { isMainThread } from 'node:worker_threads';
import { register } from 'node:module';
if (!isMainThread) register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hook)}));
`,
    );
    const script = `import { SyncRabbitMQ } from ${JSON.stringify(pathToFileURL(join(built.dir, 'index.js')).href)};
const started = Date.now();
let caught;
try { new SyncRabbitMQ({}, { urls: process.env.WARREN_URL, callTimeoutMs: 20000 }); } catch (e) { caught = e; }
const fast = Date.now() - started < 10000;
setTimeout(() => console.log(caught.name + ' ' + caught.code + ' fast=' + fast + ': ' + caught.message), 300);`;
    const run = await runNode(['--import', refuse, '--input-type=module', '-e', script]);
    expect(run).toMatchObject({ code: 0, signal: null });
    expect(run.stdout).toBe(
      'WarrenError ERR_SYNC_WORKER_START fast=true: the SyncRabbitMQ worker failed to start: sync-worker refused by a hook\n',
    );
  });

  it('worker threads forbidden (the permission model without --allow-worker): a WarrenError, not a raw one', async () => {
    const flag = process.allowedNodeEnvironmentFlags.has('--permission') ? '--permission' : '--experimental-permission';
    const script = `const { SyncRabbitMQ } = require(${JSON.stringify(join(built.dir, 'index.cjs'))});
try { new SyncRabbitMQ({}, { urls: process.env.WARREN_URL }); } catch (e) { console.log(e.name + ' ' + e.code + ' ' + (e.cause && e.cause.code)); }`;
    const run = await runNode([flag, '--allow-fs-read=*', '--no-warnings', '-e', script]);
    expect(run).toMatchObject({
      code: 0,
      signal: null,
      stdout: 'WarrenError ERR_SYNC_WORKER_START ERR_ACCESS_DENIED\n',
    });
  });
});
