/** Timing, the publish window and the small statistics the benchmark needs. */
import { performance } from 'node:perf_hooks';
import type { BenchPublisher } from './clients/types.js';

/** What one measured run reports (a worker prints it as JSON). */
export interface Measurement {
  n: number;
  wallMs: number;
  /** User + system CPU of the whole process over the measured span, in µs. */
  cpuUs: number;
  /** The system (kernel) part of cpuUs: mostly socket reads and writes. */
  cpuSystemUs: number;
  msgPerSec: number;
  cpuUsPerMsg: number;
  /** The measured span on the monotonic clock V8's CPU profiles use (µs), to cut a profile to it. */
  span: { fromUs: number; toUs: number };
}

const monotonicUs = () => Number(process.hrtime.bigint() / 1000n);

/** Wall time (performance.now) and process CPU (process.cpuUsage) over a span. */
export class Stopwatch {
  private readonly mono0 = monotonicUs();
  private readonly wall0 = performance.now();
  private readonly cpu0 = process.cpuUsage();

  stop(n: number): Measurement {
    const cpu = process.cpuUsage(this.cpu0);
    const wallMs = performance.now() - this.wall0;
    const span = { fromUs: this.mono0, toUs: monotonicUs() };
    const cpuUs = cpu.user + cpu.system;
    return { n, wallMs, cpuUs, cpuSystemUs: cpu.system, msgPerSec: n / (wallMs / 1000), cpuUsPerMsg: cpuUs / n, span };
  }
}

/**
 * Publishes `n` messages keeping at most `window` unconfirmed (a counting semaphore without
 * allocations: each confirm frees a slot and the slot is refilled at once). Its `onConfirm` / `onError`
 * are the handlers to give the client's openPublisher.
 */
export class PublishWindow {
  private sent = 0;
  private confirmed = 0;
  private inFlight = 0;
  private publisher: BenchPublisher | undefined;
  private settle: { resolve(): void; reject(err: unknown): void } | undefined;
  private failure: unknown;
  private readonly warm = new Mark();
  /** Resolves once `warmUp` publishes are confirmed (at once for 0); the window stays full across it. */
  readonly warmedUp: Promise<void> = this.warm.promise;

  private readonly every: number;
  private readonly onEvery: (confirmed: number) => void;
  private readonly warmUp: number;

  constructor(
    readonly n: number,
    readonly window: number,
    readonly body: Buffer,
    options: {
      /** Calls `onEvery` every this many confirms with the count so far (default 0: never). */
      every?: number;
      onEvery?: (confirmed: number) => void;
      /** How many of the `n` publishes come before {@link warmedUp} (default 0). */
      warmUp?: number;
    } = {},
  ) {
    this.every = options.every ?? 0;
    this.onEvery = options.onEvery ?? (() => {});
    this.warmUp = options.warmUp ?? 0;
    if (this.warmUp === 0) this.warm.resolve();
  }

  readonly onConfirm = (): void => {
    this.inFlight--;
    const confirmed = ++this.confirmed;
    if (confirmed === this.warmUp) this.warm.resolve();
    if (this.every > 0 && confirmed % this.every === 0) this.onEvery(confirmed);
    if (confirmed === this.n) this.settle?.resolve();
    else this.fill();
  };

  readonly onError = (err: unknown): void => {
    this.failure ??= err;
    this.settle?.reject(err);
  };

  /** Runs the whole window; resolves once all `n` publishes are confirmed. */
  run(publisher: BenchPublisher): Promise<void> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    this.publisher = publisher;
    return new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
      this.fill();
    });
  }

  private fill(): void {
    const publisher = this.publisher!;
    while (this.inFlight < this.window && this.sent < this.n) {
      this.inFlight++;
      this.sent++;
      publisher.publish(this.body);
    }
  }
}

/** Counts deliveries; `done` resolves at the n-th. Its `onMessage` / `onError` go to openConsumer. */
export class DeliveryCounter {
  private received = 0;
  private settle!: { resolve(): void; reject(err: unknown): void };
  readonly done: Promise<void>;
  private readonly warm = new Mark();
  /** Resolves at the `warmUp`-th delivery (at once for 0). */
  readonly warmedUp: Promise<void> = this.warm.promise;

  constructor(
    readonly n: number,
    /** How many of the `n` deliveries come before {@link warmedUp}. */
    readonly warmUp = 0,
  ) {
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = { resolve, reject };
    });
    // A failure before anyone awaits `done` must not crash the worker as an unhandled rejection.
    this.done.catch(() => {});
    if (warmUp === 0) this.warm.resolve();
  }

  get count(): number {
    return this.received;
  }

  readonly onMessage = (): void => {
    const received = ++this.received;
    if (received === this.warmUp) this.warm.resolve();
    if (received === this.n) this.settle.resolve();
  };

  readonly onError = (err: unknown): void => {
    this.settle.reject(err);
  };
}

/**
 * The stopwatch of a run with a warm-up: `watch` as it is when there is none, otherwise a new one started
 * once the warm-up is over (or the run ended, failing, before that).
 */
export async function afterWarmUp(
  watch: Stopwatch,
  warmUp: number,
  warmedUp: Promise<void>,
  done: Promise<void>,
): Promise<Stopwatch> {
  if (warmUp === 0) return watch;
  await Promise.race([warmedUp, done]);
  return new Stopwatch();
}

/** A point a run reaches once: a promise with its resolver at hand. */
class Mark {
  resolve!: () => void;
  readonly promise = new Promise<void>((resolve) => {
    this.resolve = resolve;
  });
}

/** A message body of `size` bytes (printable, so it reads well in the management UI). */
export function makeBody(size: number): Buffer {
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i++) body[i] = 0x61 + (i % 26);
  return body;
}

export function median(values: number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export const MiB = 1024 * 1024;
