/**
 * `npm run bench`: warren against amqplib, @cloudamqp/amqp-client and rabbitmq-client on a real broker.
 *
 * Every (client, scenario) run happens in a fresh `node --import tsx bench/worker.ts` process, so no
 * client inherits another's heap, GC or JIT state; runs of different clients alternate. Set-up (queues,
 * pre-filling) is done here with warren and never measured. Progress goes to stderr, the tables to
 * stdout, everything (raw runs included) to .bench-results/latest.json.
 *
 * Environment:
 *   BENCH_N=100000         messages per throughput run       BENCH_REPEAT=3      runs per (client, scenario)
 *   BENCH_RSS_N=1000000    messages in the memory section    BENCH_RSS_EVERY     RSS sample interval (100000)
 *   BENCH_BLOCKING_N=5000  calls per blocking-publish run (one broker round trip each)
 *   BENCH_CLIENTS=a,b      only these clients                BENCH_SCENARIOS=publish,consume,memory
 *   Scenarios (bench/scenarios/index.ts): publish, consume (100 B, windowed); blocking-publish (one confirmed
 *   publish per call: warren-sync = SyncRabbitMQ, warren-mq = awaited AsyncRabbitMQ, pika = Python's
 *   BlockingChannel via bench/python/, BENCH_PYTHON=/usr/bin/python3) and blocking-many (publishMany ×1000),
 *   judged by bench/targets.ts; publish-16k / consume-16k / publish-1m / consume-1m (MB/s, CPU ms/MB);
 *   fanout (1 publisher → 10 queues/consumers); channels-100 (one connection); connections-10; rpc-1 /
 *   rpc-100 (concurrent callers; p50/p99 round trip); memory (1M confirmed publishes) and memory-consume
 *   (1M consumed and acked): RSS sampled along the way, peak and end reported.
 *   BENCH_RSS_CLIENTS      memory-section clients (warren,warren-mq,amqplib)
 *   BENCH_WINDOW / BENCH_PREFETCH / BENCH_BODY_SIZE (1000 / 1000 / 100)
 *   BENCH_URL              broker (default WARREN_TEST_URL or amqp://guest:guest@127.0.0.1:5672/%2F)
 *   BENCH_CPU_PROF=/tmp/p  run workers with --cpu-prof, profiles in that folder (summarize them with
 *                          `npx tsx bench/cpuprofile.ts /tmp/p/<file>.cpuprofile`)
 *   BENCH_OUT              JSON output path (.bench-results/latest.json)
 *
 * Adding a client (e.g. the high-level `mq.consume` of warren):
 *   1. bench/clients/warren-mq.ts: `export default { async openConsumer(options, handlers) {...} } satisfies ClientAdapter`
 *      implementing only the scenarios it supports (see bench/clients/types.ts; bench/clients/warren.ts is a model);
 *   2. one line in bench/clients/index.ts: `'warren-mq': { role: 'subject', load: () => import('./warren-mq.js') },`
 *   It gets a row in the table ("—" where it has no implementation) and, as a `subject`, its own ratios
 *   against the peers.
 * Adding a scenario: bench/scenarios/<name>.ts exporting a `Scenario` (bench/scenarios/types.ts;
 *   publish.ts is a model) plus one line in bench/scenarios/index.ts. A `throughput` scenario gets its own
 *   pair of columns; if it needs a new kind of client call, add an optional method to ClientAdapter.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WarrenAdmin } from './broker.js';
import { CLIENTS } from './clients/index.js';
import type { ClientAdapter } from './clients/types.js';
import { type BenchConfig, ERROR_MARK, loadConfig, RESULT_MARK } from './config.js';
import {
  computeRatios,
  formatBytes,
  formatLatency,
  formatMemory,
  formatRatios,
  formatRuns,
  formatTargets,
  formatThroughput,
  type RunRecord,
  summarizeMemory,
  summarizeThroughput,
} from './report.js';
import { SCENARIOS } from './scenarios/index.js';
import { MAX_LENGTH } from './scenarios/memory.js';
import type { RunResult, Scenario } from './scenarios/types.js';
import { evaluateTargets } from './targets.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKER = fileURLToPath(new URL('./worker.ts', import.meta.url));
const RUN_ID = `${process.pid}.${randomBytes(3).toString('hex')}`;

interface Job {
  client: string;
  scenarioName: string;
  scenario: Scenario;
  rep: number;
  reps: number;
  n: number;
}

const log = (line: string) => process.stderr.write(`${line}\n`);

/** The run order: for each repetition, each throughput scenario, every client (rotated per repetition); then memory. */
function plan(config: BenchConfig, adapters: Map<string, ClientAdapter>): Job[] {
  const names = [...adapters.keys()];
  const selected = Object.entries(SCENARIOS).filter(([name]) => !config.scenarios || config.scenarios.includes(name));
  const jobs: Job[] = [];
  const throughput = selected.filter(([, s]) => s.section === 'throughput');
  const maxReps = Math.max(0, ...throughput.map(([, s]) => s.runs(config)));
  for (let rep = 1; rep <= maxReps; rep++) {
    const shift = (rep - 1) % Math.max(1, names.length);
    const order = [...names.slice(shift), ...names.slice(0, shift)];
    for (const [scenarioName, scenario] of throughput) {
      if (rep > scenario.runs(config)) continue;
      for (const client of order) {
        if (!scenario.supports(adapters.get(client)!)) continue;
        jobs.push({ client, scenarioName, scenario, rep, reps: scenario.runs(config), n: scenario.messages(config) });
      }
    }
  }
  for (const [scenarioName, scenario] of selected.filter(([, s]) => s.section !== 'throughput')) {
    const wanted = scenario.defaultClients?.(config) ?? names;
    for (let rep = 1; rep <= scenario.runs(config); rep++) {
      for (const client of names.filter((c) => wanted.includes(c))) {
        if (!scenario.supports(adapters.get(client)!)) continue;
        jobs.push({ client, scenarioName, scenario, rep, reps: scenario.runs(config), n: scenario.messages(config) });
      }
    }
  }
  return jobs;
}

let running: ChildProcess | undefined;

/** Runs one worker process; resolves with its result or rejects with its error. */
function runWorker(job: Job, queue: string, config: BenchConfig): Promise<RunResult> {
  const args: string[] = [];
  if (config.cpuProfDir) {
    // Default file names: the tsx loader runs in a thread of its own, which writes a profile too.
    // Sampled every 100 µs (default 1 ms): a run spends only a few hundred ms on the main thread.
    args.push('--cpu-prof', '--cpu-prof-interval=100', `--cpu-prof-dir=${profileDir(job, config.cpuProfDir)}`);
  }
  args.push('--import', 'tsx', WORKER, job.client, job.scenarioName, String(job.n), queue);
  // Generous: at least 2,000 msg/s, plus start-up.
  const timeoutMs = 60_000 + job.n / 2;
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    running = child;
    let out = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker timed out after ${Math.round(timeoutMs / 1000)} s`));
    }, timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      running = undefined;
      const lines = out.split('\n');
      const result = lines.find((l) => l.startsWith(RESULT_MARK));
      const error = lines.find((l) => l.startsWith(ERROR_MARK));
      if (result && code === 0) resolvePromise(JSON.parse(result.slice(RESULT_MARK.length)) as RunResult);
      else if (error) reject(new Error(JSON.parse(error.slice(ERROR_MARK.length)) as string));
      else reject(new Error(`worker exited with ${signal ?? `code ${code}`} and no result`));
    });
  });
}

function profileName(job: Job): string {
  return `${job.client}.${job.scenarioName}.${job.rep}.${RUN_ID}.cpuprofile`;
}

function profileDir(job: Job, root: string): string {
  return resolve(root, profileName(job).replace(/\.cpuprofile$/, ''));
}

/**
 * Moves the main thread's profile (CPU.<date>.<time>.<pid>.0.<seq>.cpuprofile) of a worker to
 * `<root>/<client>.<scenario>.<rep>.<run>.cpuprofile`, with the measured span next to it; profiles of
 * other threads (the tsx loader) are dropped.
 */
async function collectProfile(job: Job, root: string, span: RunResult['span']): Promise<void> {
  const dir = profileDir(job, root);
  const files = await readdir(dir);
  const main = files.find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  if (main) {
    const target = resolve(root, profileName(job));
    await rename(resolve(dir, main), target);
    await writeFile(`${target}.span.json`, JSON.stringify(span));
  }
  await rm(dir, { recursive: true, force: true });
}

function describe(result: RunResult): string {
  return `${Math.round(result.msgPerSec).toLocaleString('en-US')} msg/s, ${result.cpuUsPerMsg.toFixed(2)} µs CPU/msg`;
}

async function main(): Promise<void> {
  const started = Date.now();
  const config = loadConfig();
  const names = Object.keys(CLIENTS).filter((c) => !config.clients || config.clients.includes(c));
  if (config.clients) {
    const unknown = config.clients.filter((c) => !(c in CLIENTS));
    if (unknown.length)
      throw new Error(`unknown client(s) ${unknown.join(', ')}; known: ${Object.keys(CLIENTS).join(', ')}`);
  }
  const adapters = new Map<string, ClientAdapter>();
  for (const name of names) adapters.set(name, (await CLIENTS[name]!.load()).default);

  const admin = await WarrenAdmin.open(config.url);
  const broker = admin.broker;
  log(`broker ${broker.product} ${broker.version}, node ${process.version}, ${os.cpus().length} CPUs`);

  const jobs = plan(config, adapters);
  const records: RunRecord[] = [];
  let current: string | undefined;
  const interrupt = async () => {
    log('\ninterrupted: cleaning up');
    running?.kill('SIGKILL');
    if (current) await admin.delete(current);
    await admin.close().catch(() => {});
    process.exit(130);
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);

  for (const [i, job] of jobs.entries()) {
    const queue = `warren-bench.${job.client}.${job.scenarioName}.${RUN_ID}.${i}`;
    current = queue;
    const label = `[${String(i + 1).padStart(String(jobs.length).length)}/${jobs.length}] ${job.scenarioName.padEnd(8)} ${job.client.padEnd(16)} run ${job.rep}/${job.reps}`;
    const record: RunRecord = {
      client: job.client,
      scenario: job.scenarioName,
      rep: job.rep,
      n: job.n,
      queue,
      seconds: 0,
    };
    const t0 = Date.now();
    try {
      await job.scenario.prepare(admin, queue, job.n, config);
      const prepared = Date.now();
      record.result = await runWorker(job, queue, config);
      record.problem = await job.scenario.verify(admin, queue, job.n, config);
      // The measured span goes next to the profile, so bench/cpuprofile.ts can leave start-up and set-up out.
      if (config.cpuProfDir) await collectProfile(job, config.cpuProfDir, record.result.span);
      const took = `(set-up ${((prepared - t0) / 1000).toFixed(1)} s, worker ${((Date.now() - prepared) / 1000).toFixed(1)} s)`;
      log(`${label}: ${describe(record.result)} ${took}${record.problem ? ` — NOT COUNTED: ${record.problem}` : ''}`);
    } catch (err) {
      record.error = (err as Error).message;
      log(`${label}: FAILED — ${record.error}`);
    } finally {
      await job.scenario.cleanup?.(admin, queue);
      await admin.delete(queue);
      current = undefined;
    }
    record.seconds = (Date.now() - t0) / 1000;
    records.push(record);
  }

  const throughputScenarios = Object.entries(SCENARIOS)
    .filter(([name, s]) => s.section === 'throughput' && jobs.some((j) => j.scenarioName === name))
    .map(([name]) => name);
  const subjects = names.filter((c) => CLIENTS[c]!.role === 'subject');
  const peers = names.filter((c) => CLIENTS[c]!.role === 'peer');
  const summary = summarizeThroughput(records, names, throughputScenarios);
  const targeted = new Set(subjects.filter((c) => CLIENTS[c]!.targeted));
  const informational = new Set(throughputScenarios.filter((s) => SCENARIOS[s]!.informational));
  const ratios = computeRatios(summary, subjects, peers, throughputScenarios, targeted, informational);
  const targets = evaluateTargets(summary);
  const memory = summarizeMemory(records.filter((r) => SCENARIOS[r.scenario]?.section === 'memory'));

  const sections: string[] = [
    `warren benchmark — ${new Date().toISOString()} — node ${process.version} — ${broker.product} ${broker.version} — ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`,
  ];
  if (throughputScenarios.length) {
    sections.push(formatThroughput(summary, records, names, throughputScenarios, config));
    const runs = formatRuns(summary, names, throughputScenarios);
    if (runs) sections.push(runs);
    const bytes = formatBytes(summary, names, throughputScenarios, (s) => SCENARIOS[s]!.bytesPerMessage?.(config));
    if (bytes) sections.push(bytes);
    const latency = formatLatency(summary, names, throughputScenarios);
    if (latency) sections.push(latency);
    sections.push(formatRatios(ratios));
    const met = formatTargets(targets);
    if (met) sections.push(met);
  }
  for (const name of new Set(jobs.filter((j) => j.scenario.section === 'memory').map((j) => j.scenarioName))) {
    sections.push(
      formatMemory(
        memory.filter((m) => m.scenario === name),
        config,
        MAX_LENGTH,
        name,
      ),
    );
  }
  const failed = records.filter((r) => r.error || r.problem);
  if (failed.length) {
    sections.push(
      `## ${failed.length} run(s) not counted\n\n${failed.map((r) => `${r.scenario} ${r.client} run ${r.rep}: ${r.error ?? r.problem}`).join('\n')}`,
    );
  }
  process.stdout.write(`${sections.join('\n\n')}\n`);

  const out = resolve(ROOT, config.out);
  await mkdir(dirname(out), { recursive: true });
  const json = {
    date: new Date().toISOString(),
    durationSeconds: (Date.now() - started) / 1000,
    node: process.version,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    cpus: { count: os.cpus().length, model: os.cpus()[0]?.model },
    broker,
    config: { ...config, url: config.url.replace(/\/\/[^@/]*@/, '//***@') },
    throughput: summary,
    ratios,
    targets,
    memory,
    runs: records,
  };
  await writeFile(out, `${JSON.stringify(json, null, 2)}\n`);
  log(`results written to ${out} (${((Date.now() - started) / 1000).toFixed(0)} s in all)`);
  await admin.close();
  process.exitCode = failed.length ? 1 : 0;
}

main().catch((err: unknown) => {
  log(`bench failed: ${(err as Error)?.stack ?? err}`);
  process.exit(1);
});
