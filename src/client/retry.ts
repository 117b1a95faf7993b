/**
 * Retrying with exponential backoff: {@link funcRetry} for any operation and {@link connRetry} with
 * defaults suited to (re)connecting, ports of the original Python module's `func_retry` and
 * `conn_retry`. {@link backoffDelay} is the pure delay schedule, shared with the client's reconnect loop.
 *
 * @module
 */

import { WarrenError } from '../protocol/errors.js';
import { type Logger, redactText, silentLogger } from './settings.js';

/** How {@link funcRetry} retries. Every field is optional. */
export interface RetryOptions {
  /** Names the operation in log lines and errors. Default: the function's name, or `"operation"`. */
  name?: string;
  /** Total attempts, the first included; `Infinity` retries until success or abort. Default 5. */
  attempts?: number;
  /** Delay after the first failure, in milliseconds. Default 200. */
  baseDelayMs?: number;
  /** Upper bound of any delay, in milliseconds. Default 30000. */
  maxDelayMs?: number;
  /** Growth of the delay per failed attempt. Default 2. */
  factor?: number;
  /**
   * Randomises each delay so that many clients failing together do not retry in lockstep. `true`
   * (the default) picks the delay in `[delay/2, delay]`; a number `j` in 0..1 picks it in
   * `[delay*(1-j), delay]`; `false` or 0 uses the exact delay.
   */
  jitter?: boolean | number;
  /** Aborting it stops retrying: a pending wait ends at once with {@link RetryAbortedError}. Also passed to `fn`. */
  signal?: AbortSignal;
  /** Receives one `warn` per retry and one `error` when giving up. Default: silent. */
  logger?: Logger;
  /**
   * Whether a failure may be retried. Returning false rethrows the error as is. Default: retry
   * everything except a {@link WarrenError} whose `recoverable` is false (bad config, bad
   * credentials...), which would fail the same way every time.
   */
  shouldRetry?: (err: unknown, attempt: number) => boolean;
  /** Called before each wait, e.g. for metrics. */
  onRetry?: (info: { attempt: number; attempts: number; delayMs: number; error: unknown }) => void;
  /** Source of randomness for the jitter, in [0, 1). Default `Math.random`; inject one in tests. */
  random?: () => number;
}

/**
 * Every attempt failed. `cause` is the last attempt's error and `errors` holds each attempt's error in
 * order, so the full history is `errors` rather than a chain of wrappers: the errors are the caller's
 * own objects and are left unmodified (their `cause` still means what their thrower meant).
 */
export class RetryExhaustedError extends WarrenError {
  static override readonly kind: string = 'RetryExhaustedError';
  /**
   * Each attempt's error, oldest first. Only the most recent 1000 are kept, so a long run of attempts
   * (`attempts: Infinity`, or a budget over 1000) does not grow it without bound.
   */
  readonly errors: unknown[];
  /** How many attempts were made, the first included (the `attempts` budget that was spent). */
  readonly attempts: number;

  constructor(name: string, attempts: number, errors: unknown[]) {
    const last = errors[errors.length - 1];
    const plural = attempts === 1 ? 'attempt' : 'attempts';
    // Not recoverable: the retry budget is spent, so an enclosing retry should not multiply it.
    super(redactText(`${name}: gave up after ${attempts} ${plural}: ${describe(last)}`), {
      code: 'ERR_RETRY_EXHAUSTED',
      recoverable: false,
      cause: last,
    });
    this.errors = errors;
    this.attempts = attempts;
  }
}

/** Retrying stopped because the signal was aborted. `cause` is `signal.reason`; `errors` the failures so far. */
export class RetryAbortedError extends WarrenError {
  static override readonly kind: string = 'RetryAbortedError';
  /**
   * The errors of the attempts that failed before the abort, oldest first (empty if none had failed yet; the most
   * recent 1000 at most).
   */
  readonly errors: unknown[];

  constructor(name: string, reason: unknown, errors: unknown[]) {
    super(`${name}: retry aborted${errors.length > 0 ? ` after ${errors.length} failed attempts` : ''}`, {
      code: 'ERR_RETRY_ABORTED',
      recoverable: false,
      cause: reason,
    });
    this.errors = errors;
  }
}

/** With `attempts: Infinity` the error history would grow without bound; only this many recent ones are kept. */
export const MAX_KEPT_ERRORS = 1000;

/** setTimeout overflows above this and fires at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The numeric defaults of a retry flavour. */
export interface RetryDefaults {
  readonly attempts: number;
  readonly baseDelayMs: number;
  readonly maxDelayMs: number;
  readonly factor: number;
}

/** Defaults of {@link funcRetry}. */
export const FUNC_RETRY_DEFAULTS: RetryDefaults = Object.freeze({
  attempts: 5,
  baseDelayMs: 200,
  maxDelayMs: 30_000,
  factor: 2,
});
/** Defaults of {@link connRetry}: more attempts, slower start, since a broker takes seconds to come back. */
export const CONN_RETRY_DEFAULTS: RetryDefaults = Object.freeze({
  attempts: 10,
  baseDelayMs: 500,
  maxDelayMs: 30_000,
  factor: 2,
});

/**
 * The delay before the attempt after failed attempt number `attempt` (1-based):
 * `min(maxDelayMs, baseDelayMs * factor^(attempt-1))`, then jittered (see {@link RetryOptions.jitter})
 * and rounded to whole milliseconds. Pure apart from `random`.
 *
 * @example
 * ```ts
 * backoffDelay(1, { jitter: false }); // 200
 * backoffDelay(3, { jitter: false }); // 800
 * backoffDelay(20, { jitter: false }); // 30000 (capped)
 * backoffDelay(3, { random: () => 0 }); // 400, the low end of [400, 800]
 * ```
 */
export function backoffDelay(
  attempt: number,
  opts: Pick<RetryOptions, 'baseDelayMs' | 'maxDelayMs' | 'factor' | 'jitter' | 'random'> = {},
): number {
  const base = opts.baseDelayMs ?? FUNC_RETRY_DEFAULTS.baseDelayMs;
  const max = Math.min(opts.maxDelayMs ?? FUNC_RETRY_DEFAULTS.maxDelayMs, MAX_TIMER_MS);
  const factor = opts.factor ?? FUNC_RETRY_DEFAULTS.factor;
  // Exponent computed with the cap in mind: base * factor^n overflows to Infinity for large n, which is fine for min().
  const delay = Math.min(max, base * factor ** Math.max(0, attempt - 1));
  const jitter = opts.jitter === undefined || opts.jitter === true ? 0.5 : opts.jitter === false ? 0 : opts.jitter;
  if (jitter === 0) return Math.round(delay);
  const random = (opts.random ?? Math.random)();
  return Math.round(delay * (1 - jitter) + delay * jitter * random);
}

/**
 * Calls `fn` until it succeeds, waiting with exponential backoff between failures.
 *
 * `fn` receives the attempt number (1-based) and the signal. Each retry is logged as
 * `logger.warn({ name, attempt, attempts, delayMs, err }, '<name>: attempt 2/5 failed: <message>; retrying in 400 ms')`.
 *
 * @throws the error itself when `shouldRetry` returns false (by default: a non-recoverable {@link WarrenError}).
 * @throws {RetryExhaustedError} when every attempt failed; `cause` is the last error, `errors` all of them.
 * @throws {RetryAbortedError} when `signal` aborts before success; a pending wait ends at once and
 *   leaves no timer behind. An attempt already running is not interrupted (it has the signal to do so);
 *   its result is returned if it succeeds.
 *
 * @example
 * ```ts
 * const channel = await funcRetry(() => connection.createChannel(), { name: 'open channel', attempts: 3, logger });
 * ```
 */
export async function funcRetry<T>(
  fn: (attempt: number, signal?: AbortSignal) => Promise<T> | T,
  opts: RetryOptions = {},
): Promise<T> {
  return run(fn, opts, FUNC_RETRY_DEFAULTS);
}

/**
 * {@link funcRetry} with connection defaults: 10 attempts, 500 ms first delay, 30 s cap, and `name`
 * `"connect"`. Explicit options still win.
 *
 * @example
 * ```ts
 * const conn = await connRetry(() => connect(settings), { signal: shutdown.signal, logger: settings.logger });
 * ```
 */
export async function connRetry<T>(
  fn: (attempt: number, signal?: AbortSignal) => Promise<T> | T,
  opts: RetryOptions = {},
): Promise<T> {
  return run(fn, { ...opts, name: opts.name ?? 'connect' }, CONN_RETRY_DEFAULTS);
}

/** The default of {@link RetryOptions.shouldRetry}. */
export function defaultShouldRetry(err: unknown): boolean {
  return !(err instanceof WarrenError && err.recoverable === false);
}

async function run<T>(
  fn: (attempt: number, signal?: AbortSignal) => Promise<T> | T,
  opts: RetryOptions,
  defaults: RetryDefaults,
): Promise<T> {
  const name = opts.name ?? (fn.name || 'operation');
  const attempts = opts.attempts ?? defaults.attempts;
  const schedule = {
    baseDelayMs: opts.baseDelayMs ?? defaults.baseDelayMs,
    maxDelayMs: opts.maxDelayMs ?? defaults.maxDelayMs,
    factor: opts.factor ?? defaults.factor,
    jitter: opts.jitter ?? true,
    random: opts.random ?? Math.random,
  };
  checkOptions(attempts, schedule);
  const { signal } = opts;
  const logger = opts.logger ?? silentLogger;
  const shouldRetry = opts.shouldRetry ?? defaultShouldRetry;
  const errors: unknown[] = [];
  const attemptsLabel = attempts === Number.POSITIVE_INFINITY ? '∞' : String(attempts);

  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new RetryAbortedError(name, signal.reason, errors);
    try {
      return await fn(attempt, signal);
    } catch (err) {
      if (!shouldRetry(err, attempt)) throw err;
      errors.push(err);
      if (errors.length > MAX_KEPT_ERRORS) errors.shift();
      if (signal?.aborted) throw new RetryAbortedError(name, signal.reason, errors);
      if (attempt >= attempts) {
        const exhausted = new RetryExhaustedError(name, attempt, errors);
        logger.error({ name, attempts: attempt, err }, exhausted.message);
        throw exhausted;
      }
      const delayMs = backoffDelay(attempt, schedule);
      opts.onRetry?.({ attempt, attempts, delayMs, error: err });
      logger.warn(
        { name, attempt, attempts, delayMs, err },
        redactText(`${name}: attempt ${attempt}/${attemptsLabel} failed: ${describe(err)}; retrying in ${delayMs} ms`),
      );
      try {
        await sleep(delayMs, signal);
      } catch (reason) {
        throw new RetryAbortedError(name, reason, errors);
      }
    }
  }
}

function checkOptions(
  attempts: number,
  s: { baseDelayMs: number; maxDelayMs: number; factor: number; jitter: boolean | number },
): void {
  const fail = (message: string) => new WarrenError(message, { code: 'ERR_INVALID_ARGUMENT', recoverable: false });
  if (!(attempts === Number.POSITIVE_INFINITY || (Number.isInteger(attempts) && attempts >= 1))) {
    throw fail(`attempts must be a positive integer or Infinity, got ${attempts}`);
  }
  if (!(Number.isFinite(s.baseDelayMs) && s.baseDelayMs >= 0)) {
    throw fail(`baseDelayMs must be a non-negative number, got ${s.baseDelayMs}`);
  }
  if (!(s.maxDelayMs >= 0)) throw fail(`maxDelayMs must be a non-negative number, got ${s.maxDelayMs}`);
  if (!(Number.isFinite(s.factor) && s.factor >= 1)) throw fail(`factor must be a number >= 1, got ${s.factor}`);
  if (typeof s.jitter === 'number' && !(s.jitter >= 0 && s.jitter <= 1)) {
    throw fail(`jitter must be a boolean or a number from 0 to 1, got ${s.jitter}`);
  }
}

function describe(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

/** Resolves after `ms`, or rejects with `signal.reason` as soon as it aborts, clearing the timer either way. */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
