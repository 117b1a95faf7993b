/**
 * The floor of a blocking publish built on a second thread: what the wake-ups alone cost, with none of
 * SyncRabbitMQ's own work. Three ways to publish one persistent, confirmed message at a time through
 * warren's engine, alternated in one process so that broker and disk load fall on all alike:
 *
 * - `awaited`: `await` each confirm on the calling thread. The thread sleeps once per call (in epoll,
 *   woken by the broker's basic.ack). This is what SyncRabbitMQ.publishMessage is measured against.
 * - `two-thread`: the engine in a worker; the caller writes a request to shared memory, wakes the worker
 *   (blocked in Atomics.wait, as SyncRabbitMQ's worker is right after an answer) and blocks in
 *   Atomics.wait until the worker notifies it of the confirm. SyncRabbitMQ's hop, and nothing else.
 * - `worker-driven`: the worker publishes the next message as soon as it has notified the caller, so no
 *   request wakes it: the caller is woken once per confirm, the worker only by the broker. The least any
 *   design with the socket on another thread can do (even one where the caller wrote to the socket
 *   itself).
 *
 *   npx tsx bench/sync-floor.ts        # BENCH_BLOCKING_N=3000 calls a round, BENCH_REPEAT=3 rounds each
 *
 * CPU is the whole process's (user + system, all threads). Environment: BENCH_BLOCKING_N, BENCH_REPEAT,
 * BENCH_URL (default WARREN_TEST_URL or amqp://guest:guest@127.0.0.1:5672/%2F).
 */
import { isMainThread, Worker, workerData } from 'node:worker_threads';
import { type Channel, type Connection, connect } from '../src/connection/index.js';

const N = Number(process.env.BENCH_BLOCKING_N ?? 3000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const URL = process.env.BENCH_URL ?? process.env.WARREN_TEST_URL ?? 'amqp://guest:guest@127.0.0.1:5672/%2F';
/** Calls before the measured ones, so both threads run JIT-compiled code (as in blocking-publish). */
const WARM_UP = 1000;
const BODY = Buffer.alloc(100, 0x61);
const PERSISTENT = { deliveryMode: 2 } as const;

type Mode = 'awaited' | 'two-thread' | 'worker-driven';
const MODES: Mode[] = ['awaited', 'two-thread', 'worker-driven'];

/** Slots of the shared Int32Array. */
const REQUESTED = 0; // calls the caller asked for (two-thread); -1 tells the worker to finish
const CONFIRMED = 1; // confirms the worker has seen
const STOP = 2; // 1: the worker-driven loop ends
const READY = 3; // 1 once the worker's channel is open
const FAILED = 4; // 1 when a publish of the worker was not confirmed
const SLOTS = 5;

interface WorkerInit {
  shared: Int32Array;
  mode: Mode;
  queue: string;
}

async function open(): Promise<{ conn: Connection; ch: Channel }> {
  const conn = await connect(URL);
  const ch = await conn.createChannel();
  await ch.confirmSelect();
  return { conn, ch };
}

function publish(ch: Channel, queue: string, confirmed: () => void, failed: (err: Error) => void): void {
  ch.publishConfirmed({ exchange: '', routingKey: queue }, BODY, PERSISTENT, { resolve: confirmed, reject: failed });
}

interface Round {
  wallUs: number;
  cpuUs: number;
}

async function awaited(queue: string): Promise<Round> {
  const { conn, ch } = await open();
  const one = () => new Promise<void>((resolve, reject) => publish(ch, queue, resolve, reject));
  for (let i = 0; i < WARM_UP; i++) await one();
  const cpu = process.cpuUsage();
  const start = performance.now();
  for (let i = 0; i < N; i++) await one();
  const round = measured(start, cpu);
  await conn.close();
  return round;
}

async function threaded(mode: Mode, queue: string): Promise<Round> {
  const shared = new Int32Array(new SharedArrayBuffer(SLOTS * Int32Array.BYTES_PER_ELEMENT));
  // Under tsx the worker needs its loader registered before it imports this TypeScript file.
  const source = `(async () => { const { register } = await import('tsx/esm/api'); register(); await import(${JSON.stringify(import.meta.url)}); })()`;
  const worker = new Worker(source, { eval: true, workerData: { shared, mode, queue } satisfies WorkerInit });
  const exited = new Promise<void>((resolve, reject) => {
    worker.once('error', reject);
    worker.once('exit', () => resolve());
  });
  while (Atomics.load(shared, READY) === 0) await new Promise((r) => setTimeout(r, 5));
  let cpu = process.cpuUsage();
  let start = performance.now();
  for (let i = 0; i < WARM_UP + N; i++) {
    if (i === WARM_UP) {
      cpu = process.cpuUsage();
      start = performance.now();
    }
    if (mode === 'two-thread') {
      Atomics.store(shared, REQUESTED, i + 1);
      Atomics.notify(shared, REQUESTED);
    }
    for (let seen = Atomics.load(shared, CONFIRMED); seen < i + 1; seen = Atomics.load(shared, CONFIRMED)) {
      if (Atomics.load(shared, FAILED) === 1) {
        void worker.terminate();
        throw new Error('sync-floor: a publish of the worker was not confirmed (see its output)');
      }
      Atomics.wait(shared, CONFIRMED, seen, 1000);
    }
  }
  const round = measured(start, cpu);
  Atomics.store(shared, STOP, 1);
  Atomics.store(shared, REQUESTED, -1);
  Atomics.notify(shared, REQUESTED);
  await exited;
  return round;
}

function measured(start: number, cpu: NodeJS.CpuUsage): Round {
  const wall = performance.now() - start;
  const used = process.cpuUsage(cpu);
  return { wallUs: (wall * 1000) / N, cpuUs: (used.user + used.system) / N };
}

/** The worker's side: the engine's connection, driven by requests (two-thread) or by its own confirms. */
async function workerMain({ shared, mode, queue }: WorkerInit): Promise<void> {
  const { conn, ch } = await open();
  let confirmed = 0;
  const done = () => {
    confirmed++;
    Atomics.store(shared, CONFIRMED, confirmed);
    Atomics.notify(shared, CONFIRMED);
  };
  // The caller blocks in Atomics.wait and sees no events: a failure reaches it through shared memory.
  const failed = (err: Error) => {
    console.error(`sync-floor worker: a publish was not confirmed: ${err.message}`);
    Atomics.store(shared, FAILED, 1);
    Atomics.notify(shared, CONFIRMED);
  };
  /** One publish; once it is confirmed the caller is told, then `then` runs. */
  const publishThen = (then: () => void) =>
    publish(
      ch,
      queue,
      () => {
        done();
        then();
      },
      failed,
    );
  await new Promise<void>((finish) => {
    Atomics.store(shared, READY, 1);
    if (mode === 'two-thread') {
      // As SyncRabbitMQ's worker: blocks on the next request right after answering, outside the loop's turn.
      const wait = () => {
        if (Atomics.load(shared, REQUESTED) === confirmed) Atomics.wait(shared, REQUESTED, confirmed, 20);
        const requested = Atomics.load(shared, REQUESTED);
        if (requested === -1) finish();
        else if (requested === confirmed) setImmediate(wait);
        else publishThen(() => setImmediate(wait));
      };
      wait();
    } else {
      const next = () => {
        if (Atomics.load(shared, STOP) === 1) finish();
        else publishThen(next);
      };
      next();
    }
  });
  await conn.close();
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const queue = `warren-bench-sync-floor-${process.pid}`;
  const admin = await open();
  await admin.ch.queueDeclare({ queue, durable: true });
  const rounds = new Map<Mode, Round[]>(MODES.map((m) => [m, []]));
  try {
    for (let r = 1; r <= REPEAT; r++) {
      for (const mode of MODES) {
        const round = mode === 'awaited' ? await awaited(queue) : await threaded(mode, queue);
        rounds.get(mode)!.push(round);
        console.log(
          `round ${r}/${REPEAT} ${mode.padEnd(13)} ${round.wallUs.toFixed(1)} µs wall, ${round.cpuUs.toFixed(1)} µs CPU per call`,
        );
      }
      await admin.ch.queuePurge({ queue });
    }
  } finally {
    await admin.ch.queueDelete({ queue });
    await admin.conn.close();
  }
  const base = rounds.get('awaited')!;
  const baseWall = median(base.map((x) => x.wallUs));
  const baseCpu = median(base.map((x) => x.cpuUs));
  console.log(`\nmedians of ${REPEAT} rounds of ${N} calls (${BODY.length} B persistent, confirmed, one at a time):\n`);
  console.log('mode          | wall µs/call | CPU µs/call | wall vs awaited | CPU vs awaited');
  console.log('--------------|--------------|-------------|-----------------|---------------');
  for (const mode of MODES) {
    const wall = median(rounds.get(mode)!.map((x) => x.wallUs));
    const cpu = median(rounds.get(mode)!.map((x) => x.cpuUs));
    console.log(
      `${mode.padEnd(13)} | ${wall.toFixed(1).padStart(12)} | ${cpu.toFixed(1).padStart(11)} | ${`${(wall / baseWall).toFixed(2)}×`.padStart(15)} | ${`${(cpu / baseCpu).toFixed(2)}×`.padStart(14)}`,
    );
  }
}

if (isMainThread) await main();
else await workerMain(workerData as WorkerInit);
