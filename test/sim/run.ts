/**
 * One simulation run: a broker model with a seeded fault injector, the real client driven by seeded
 * operations, then the checks. A run is a function of its seed (up to socket and timer scheduling).
 */
import { DEFAULT_MIX, Driver, errText, type OpMix, sleep } from './driver.js';
import { type FaultRates, NO_FAULTS } from './faults.js';
import { WarrenHandles } from './handles.js';
import { checkPublish, checkRpc } from './invariants.js';
import { BrokerModel } from './model.js';
import { Clock, Ledger, type Violation } from './state.js';
import { Trace } from './trace.js';

export const DEFAULT_RATES: FaultRates = {
  ...NO_FAULTS,
  dropBefore: 0.004,
  dropAfter: 0.004,
  connectionForced: 0.001,
  channelClose: 0.006,
  blocked: 0.004,
  cancel: 0.006,
  confirmDelay: 0.08,
  nack: 0.02,
  slowReply: 0.03,
  noReply: 0.0015,
  stopReading: 0.0008,
};

export interface RunOptions {
  seed: number;
  /** Client operations in the run. */
  steps?: number;
  rates?: FaultRates;
  mix?: OpMix;
  /** Print every event as it happens. */
  verbose?: boolean;
  /** How long disconnect() may take before the run counts it as hung. */
  disconnectLimitMs?: number;
  /**
   * A memory run: settled publishes, RPCs and deliveries are checked and forgotten at once, and the
   * retained heap (after a full GC; needs --expose-gc) is sampled after each of these step counts.
   */
  heapSamplesAt?: number[];
  /** Body size of ordinary publishes. */
  bodyBytes?: number;
}

export interface RunResult {
  seed: number;
  violations: Violation[];
  trace: string[];
  stats: Record<string, number | string>;
}

const HANDLES = new WarrenHandles();

export async function runSeed(opts: RunOptions): Promise<RunResult> {
  const seed = opts.seed;
  const trace = new Trace(400, opts.verbose ?? false);
  const clock = new Clock();
  const ledger = new Ledger();
  const rejections: unknown[] = [];
  const onRejection = (reason: unknown): void => {
    rejections.push(reason);
  };
  process.on('unhandledRejection', onRejection);
  HANDLES.start();
  let driver: Driver | undefined;
  const model = new BrokerModel({
    seed,
    rates: opts.rates ?? DEFAULT_RATES,
    trace,
    clock,
    ledger,
    client: {
      decision: (id) => driver?.decision(id),
      disconnecting: () => driver?.disconnecting() ?? false,
      forget: (id) => driver?.forget(id),
    },
    prune: opts.heapSamplesAt !== undefined,
    // A long run must not measure the broker's own backlog: queues keep their newest 50 messages.
    maxQueueLength: opts.heapSamplesAt !== undefined ? 50 : undefined,
  });
  const memory = opts.heapSamplesAt !== undefined;
  const heap: number[] = [];
  const stats: Record<string, number | string> = {};
  try {
    const port = await model.start();
    driver = new Driver({
      seed,
      port,
      trace,
      clock,
      mix: opts.mix ?? DEFAULT_MIX,
      violate: (inv, detail) => ledger.violate(inv, detail),
      keepSettled: !memory,
      bodyBytes: opts.bodyBytes,
      onSettled: memory
        ? (e) => {
            if ('pubId' in e) {
              checkPublish(e, ledger);
              ledger.publishes.delete(e.pubId);
            } else checkRpc(e, ledger);
          }
        : undefined,
    });
    const d = driver;
    trace.add('sim', `seed ${seed}: start`);
    await d.connect();
    d.startRpcServer();
    const steps = opts.steps ?? 120;
    await quiesce(model);
    // Operations come in bursts (issued together, so they race each other), then the run waits for the
    // broker to go quiet: which frame the model sees when depends on the seed more than on the scheduler.
    for (let i = 0; i < steps; ) {
      const burst = d.prng.int(1, 3);
      for (let k = 0; k < burst && i < steps; k++, i++) {
        await d.step();
        if (opts.heapSamplesAt?.includes(i + 1)) heap.push(await retainedHeap(model));
      }
      await quiesce(model);
    }
    // Wind down: finish the handlers still held (new deliveries keep coming for a while).
    for (let i = 0; i < 200 && (d.held.length > 0 || i < 20); i++) {
      d.completeOne();
      await quiesce(model);
    }
    for (const c of d.cameBack()) ledger.violate('stopped-consumer-delivered', c);
    trace.add('sim', 'disconnect');
    let finishing = true;
    const finisher = (async () => {
      while (finishing) {
        d.completeOne();
        await sleep(2);
      }
    })();
    const limit = opts.disconnectLimitMs ?? 10_000;
    const finished = await d.disconnect(limit);
    if (!finished) {
      ledger.violate('disconnect-hung', `disconnect() did not resolve within ${limit} ms`);
      // Unstick the run: the broker goes away, which must end any wait.
      await model.close();
      await d.disconnect(5_000);
    }
    finishing = false;
    await finisher;
    // "after disconnect() resolves": let settlement callbacks run, then look.
    await sleep(20);
    for (const p of d.pending()) ledger.violate('promise-pending', `${p} still pending after disconnect()`);
    for (let i = 0; i < 30 && model.openConnections > 0; i++) await sleep(10);
    if (model.openConnections > 0)
      ledger.violate(
        'connection-left-open',
        `${model.openConnections} connection(s) still open at the broker after disconnect()`,
      );
    const left = await HANDLES.left(500);
    for (const h of left) ledger.violate('handle-leaked', h);
    for (const e of d.publishes.values()) checkPublish(e, ledger);
    for (const e of d.rpcs.values()) checkRpc(e, ledger);
    stats.published = d.published;
    stats.publishes = d.publishes.size;
    stats.resolved = [...d.publishes.values()].filter((e) => e.outcome?.ok).length;
    stats.rpcs = d.rpcs.size;
    stats.deliveries = ledger.deliveries.size;
    stats.connections = model.connections.size;
    stats.frames = model.faults.frames;
    heap.forEach((h, k) => {
      stats[`heapAt${opts.heapSamplesAt![k]}`] = h;
    });
    stats.faults = Object.entries(model.faults.counts)
      .map(([k, n]) => `${k}=${n}`)
      .join(' ');
  } catch (err) {
    ledger.violate('protocol-violation', `the run itself failed: ${errText(err)}\n${(err as Error)?.stack ?? ''}`);
  } finally {
    await model.close();
    HANDLES.stop();
    await sleep(10);
    process.off('unhandledRejection', onRejection);
  }
  for (const r of rejections) ledger.violate('unhandled-rejection', errText(r));
  return { seed, violations: ledger.violations, trace: trace.tail(), stats };
}

/** Waits until the model saw no frame and had no timer pending for a few event-loop turns (at most `capMs`). */
async function quiesce(model: BrokerModel, capMs = 250): Promise<void> {
  const deadline = performance.now() + capMs;
  let quiet = 0;
  let last = model.activity;
  while (quiet < 4 && performance.now() < deadline) {
    await new Promise((r) => setImmediate(r));
    if (model.activity !== last || model.pendingTimers > 0) {
      quiet = 0;
      last = model.activity;
      if (model.pendingTimers > 0) await sleep(1);
    } else quiet++;
  }
}

/** Heap still used after the system went quiet and a full GC ran twice. */
async function retainedHeap(model: BrokerModel): Promise<number> {
  await quiesce(model);
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('memory runs need node --expose-gc');
  gc();
  await new Promise((r) => setImmediate(r));
  gc();
  // Message bodies live outside the JS heap: count them too.
  const m = process.memoryUsage();
  return m.heapUsed + m.external;
}

/** A failure report: the seed, how to re-run it, each broken invariant, and the trace's last events. */
export function describeFailure(r: RunResult, lastEvents = 80, profile = 'full'): string {
  const lines = [
    `seed ${r.seed} (profile ${profile}) broke ${new Set(r.violations.map((v) => v.invariant)).size} invariant(s); re-run: SIM_PROFILE=${profile} SIM_SEED=${r.seed} npm run sim`,
    ...r.violations.slice(0, 20).map((v) => `  [${v.invariant}] ${v.detail}`),
    r.violations.length > 20 ? `  ... and ${r.violations.length - 20} more` : '',
    `stats: ${JSON.stringify(r.stats)}`,
    `last ${lastEvents} events:`,
    ...r.trace.slice(-lastEvents).map((l) => `  ${l}`),
  ];
  return lines.filter((l) => l !== '').join('\n');
}
